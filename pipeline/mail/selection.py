"""Which mail to fetch: ASCII search criteria for the server, Portuguese subject matching here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from email.header import decode_header, make_header
from typing import Any

from parsers.text import fold
from pipeline.config.profiles import VendorProfile

MAX_UIDS = 500  # UIDs per FETCH command
ATTACHMENT_SUFFIXES = (".pdf", ".xml", ".dat")


def decode_subject(raw: bytes | str | None) -> str:
    """An ENVELOPE subject (RFC 2047 encoded words, any charset) as text."""
    if raw is None:
        return ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        return str(make_header(decode_header(text)))
    except (LookupError, ValueError, UnicodeError):
        return text


def _ascii(value: str) -> bool:
    return value.isascii() and value.strip() != ""


def search_criteria(low: int, high: int, domains: Iterable[str],
                    since: date | None = None, subjects: Iterable[str] = ()) -> list[Any]:
    """UID range, OR of FROM domains and SUBJECT hints, optional SINCE: ASCII only, no CHARSET.

    The subject hints catch look-alike senders (serpr0.gov.br) that FROM alone would miss.
    """
    terms = [("FROM", d) for d in dict.fromkeys(domains) if _ascii(d)]
    terms += [("SUBJECT", h) for h in dict.fromkeys(subjects) if _ascii(h)]
    criteria: list[Any] = ["UID", f"{low}:{high}"]
    if terms:
        criteria += ["OR"] * (len(terms) - 1)
        for key, value in terms:
            criteria += [key, value]
    if since is not None:
        criteria += ["SINCE", since]
    return criteria


def chunks(items: list[int], size: int = MAX_UIDS) -> Iterator[list[int]]:
    """Consecutive slices of at most `size` items."""
    for i in range(0, len(items), size):
        yield items[i:i + size]


def size_batches(sizes: dict[int, int], uids: list[int], max_bytes: int,
                 max_count: int = MAX_UIDS) -> Iterator[list[int]]:
    """UIDs grouped so that one FETCH brings at most `max_bytes` (one message always fits)."""
    batch: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if batch and (total + size > max_bytes or len(batch) >= max_count):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch


def _filenames(structure: Any) -> Iterator[str]:
    """File names found anywhere in a BODYSTRUCTURE (parameters and dispositions)."""
    if isinstance(structure, bytes):
        return
    if isinstance(structure, (list, tuple)):
        for i, item in enumerate(structure):
            if isinstance(item, bytes) and item.lower() in (b"name", b"filename") \
                    and i + 1 < len(structure) and isinstance(structure[i + 1], bytes):
                yield decode_subject(structure[i + 1]).lower()
            else:
                yield from _filenames(item)


class Selector:
    """Decides from ENVELOPE (and, for the company's own mail, BODYSTRUCTURE) whether a
    message is worth fetching."""

    def __init__(self, vendors: Iterable[VendorProfile], company_domains: Iterable[str]) -> None:
        self.vendors = list(vendors)
        self.company = tuple(d.lower() for d in company_domains)
        self.hints = tuple(fold(h) for v in self.vendors for h in v.subject_hints)

    @property
    def domains(self) -> list[str]:
        """What the server is asked to match in FROM: vendors' domains and the company's own."""
        return [d for v in self.vendors for d in v.sender_domains] + list(self.company)

    @property
    def subjects(self) -> list[str]:
        """Vendors' subject hints the server can match (the ASCII ones)."""
        return [h for v in self.vendors for h in v.subject_hints if h.isascii()]

    def subject_matches(self, subject: str) -> bool:
        """A vendor's subject hint in the folded subject (Portuguese accents do not matter)."""
        folded = fold(subject)
        return any(h in folded for h in self.hints)

    def wants(self, envelope: Any) -> bool | None:
        """Vendor senders and look-alikes always; a forward from the company when its subject
        is a vendor's; None when only its attachments can tell (`wants_structure`).

        Decided from the ENVELOPE alone, so the BODYSTRUCTURE (three times the ENVELOPE's
        cost to read) is fetched only for the company's own mail.
        """
        domain = _sender_domain(envelope)
        if domain is None:
            return True
        forwarded = any(domain == d or domain.endswith("." + d) for d in self.company)
        if not forwarded:
            return True
        subject = decode_subject(getattr(envelope, "subject", None))
        return True if self.subject_matches(subject) else None

    @staticmethod
    def wants_structure(structure: Any) -> bool:
        """A forward whose subject says nothing: fetched when a PDF, XML or winmail.dat is
        attached."""
        return any(name.endswith(ATTACHMENT_SUFFIXES) for name in _filenames(structure))


def _sender_domain(envelope: Any) -> str | None:
    senders = getattr(envelope, "from_", None) or ()
    for addr in senders:
        host = getattr(addr, "host", None)
        if host:
            return (host.decode("ascii", "replace") if isinstance(host, bytes) else host).lower()
    return None
