"""Asking the issuer about a stored bill: ISSNet or the national API, stored, rate-limited."""

from __future__ import annotations

import json
import os
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from parsers import ParseError, parse_email
from parsers.errors import CertificateError, IssuerError, IssuerUnavailable
from parsers.message import ParsedMessage, carrier
from pipeline.checks.email_auth import DnsFunc, EmailAuthSettings, check_email
from pipeline.checks.record import record_checks
from pipeline.checks.vocabulary import Check
from pipeline.config.settings import AuthenticityConfig, Config
from pipeline.issuers.compare import NoteFacts, compare_notes
from pipeline.issuers.http import LIMITER, tls_context, with_retries
from pipeline.issuers.issnet import IssnetClient, Query
from pipeline.issuers.links import issnet_link, sefin_link
from pipeline.issuers.sefin import SefinClient
from storage import BlobStore, Invoice, Message, from_cents, utcnow
from storage.sql import bulk_insert, new_row
from storage.verification_models import Verification

CHECK_NAMES = {"issnet": "authenticity.issnet", "sefin": "authenticity.sefin"}
LABELS = {"issnet": "ISSNet", "sefin": "the national NFS-e (Sefin)"}
MAX_RECHECK = timedelta(days=1)
_CONTEXTS: dict[tuple, ssl.SSLContext] = {}


def source_for(invoice: Invoice, config: Config) -> str | None:
    """Which issuer knows this note: national notes ask Sefin, ABRASF ones ISSNet."""
    vendor = config.vendors.get(invoice.vendor)
    if vendor is None or vendor.authenticity == "none" or not invoice.nfse_layout:
        return None
    if invoice.nfse_layout.startswith("nacional") or (
            invoice.nfse_layout == "pdf" and invoice.access_key):
        return "sefin"
    if vendor.authenticity == "nfse-nacional":
        return "sefin"
    return "issnet"


def link_for(invoice: Invoice, source: str | None, a: AuthenticityConfig) -> str | None:
    """The prefilled page a person opens to check the note by hand."""
    if source == "sefin":
        return sefin_link(a.sefin_public_url, access_key=invoice.access_key)
    if source == "issnet":
        return issnet_link(a.issnet_public_url, number=invoice.nfse_number,
                           code=invoice.verification_code,
                           municipal_registration=invoice.provider_municipal_registration,
                           provider_cnpj=invoice.provider_cnpj)
    return None


def emailed_facts(inv: Invoice) -> NoteFacts:
    """What the email said, as stored."""
    return NoteFacts(inv.nfse_number, inv.verification_code, inv.access_key, inv.provider_cnpj,
                     inv.taker_cnpj, from_cents(inv.services_cents), from_cents(inv.net_cents),
                     inv.competence)


def _context(a: AuthenticityConfig, base_dir: str) -> ssl.SSLContext:
    path = os.path.join(base_dir, a.pkcs12 or "")
    ca = os.path.join(base_dir, a.ca_bundle) if a.ca_bundle else None
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        stamp = 0
    key = (path, stamp, a.password_env, ca, os.environ.get(a.password_env or "") is not None)
    if key not in _CONTEXTS:
        _CONTEXTS[key] = tls_context(path, a.password_env, ca)
    return _CONTEXTS[key]


@dataclass
class _Asked:
    check: Check
    host: str | None
    xml: bytes | None = None
    differences: list[str] | None = None


def _ask(source: str, inv: Invoice, config: Config) -> _Asked:
    """One look-up with retries: the check, the host asked, the issuer's XML, what differs."""
    a = config.settings.authenticity
    name, label = CHECK_NAMES[source], LABELS[source]
    url = a.sefin_url if source == "sefin" else a.issnet_url
    host = httpx.URL(url).host
    LIMITER.interval = a.min_interval
    timeout = httpx.Timeout(a.timeout, connect=a.connect_timeout)
    ctx = _context(a, str(config.base_dir))
    with httpx.Client(verify=ctx, timeout=timeout) as client:
        if source == "sefin":
            if not inv.access_key:
                return _Asked(Check(name, "unknown", "the note has no access key to look up"),
                              host)
            sefin = SefinClient(client, url, LIMITER, a.timeout)
            found = with_retries(lambda: sefin.find(inv.access_key or ""), a.retries, a.backoff)
            note, xml = found.note, found.xml
            what = f"access key {inv.access_key}"
        else:
            company = config.settings.company.cnpjs
            consulente = a.consulente_cnpj or (company[0] if company else inv.taker_cnpj)
            if not (consulente and inv.nfse_number and inv.provider_cnpj):
                return _Asked(Check(name, "unknown", "needs the note's number, the provider's "
                                    "CNPJ and ours (company.cnpjs)"), host)
            q = Query(consulente, a.inscricao_municipal, inv.nfse_number, inv.provider_cnpj,
                      inv.provider_municipal_registration)
            issnet = IssnetClient(client, url, LIMITER, a.timeout, a.max_pages)
            found = with_retries(lambda: issnet.find(q), a.retries, a.backoff)
            note, xml = found.note, found.xml
            what = f"note {inv.nfse_number} from {inv.provider_cnpj}"
    if note is None:
        return _Asked(Check(name, "fail", f"{label} has no {what}: the note may be forged"),
                      host)
    diffs = [str(d) for d in compare_notes(emailed_facts(inv), NoteFacts.from_nfse(note))]
    if diffs:
        return _Asked(Check(name, "fail", f"{label}'s own record differs from the emailed "
                            "note: " + "; ".join(diffs)), host, xml, diffs)
    return _Asked(Check(name, "pass", f"{label} confirms {what}: number, code, provider, taker, "
                        "amounts and competence agree"), host, xml, [])


def _retry_at(now: datetime, attempts: int, a: AuthenticityConfig) -> datetime:
    wait = timedelta(seconds=a.recheck_after * 2 ** max(attempts - 1, 0))
    return now + min(wait, MAX_RECHECK)


def _ask_safely(source: str, inv: Invoice, config: Config) -> tuple[Check, _Asked]:
    """One look-up whose every failure becomes an `unknown` check saying why."""
    a = config.settings.authenticity
    name, link = CHECK_NAMES[source], link_for(inv, source, a)
    by_hand = f"; check by hand: {link}" if link else ""
    asked = _Asked(Check(name, "unknown", ""), None)
    try:
        asked = _ask(source, inv, config)
        check = asked.check
    except CertificateError as exc:
        check = Check(name, "unknown", f"our client certificate: {exc}{by_hand}")
    except IssuerUnavailable as exc:
        check = Check(name, "unknown", f"{LABELS[source]} did not answer after "
                      f"{a.retries} attempt(s): {exc}; asked again later{by_hand}")
    except IssuerError as exc:
        check = Check(name, "unknown", f"{exc}{by_hand}")
    except (httpx.HTTPError, ssl.SSLError, OSError, ValueError) as exc:
        check = Check(name, "unknown", f"{LABELS[source]} could not be asked "
                      f"({type(exc).__name__}: {exc}){by_hand}")
    return check, asked


def prefetch_issuer(inv: Invoice, config: Config) -> tuple[Check, _Asked] | None:
    """Ask the issuer before the caller's write transaction, so no lock is held on the wire.

    None when nothing is to be asked (no certificate, or a note no issuer knows).
    """
    source = source_for(inv, config)
    if source is None or not config.settings.authenticity.pkcs12:
        return None
    return _ask_safely(source, inv, config)


def issuer_check(session: Session, inv: Invoice, config: Config, *, force: bool = False,
                 now: datetime | None = None, new: bool = False,
                 prefetched: tuple[Check, _Asked] | None = None) -> Check | None:
    """The authenticity.* check of one invoice, asking the issuer only when needed.

    new: the invoice was just inserted, so it has no stored look-up to read first.
    """
    source = source_for(inv, config)
    if source is None:
        return None
    a, now = config.settings.authenticity, now or utcnow()
    name, link = CHECK_NAMES[source], link_for(inv, source, a)
    row = None if new else session.exec(select(Verification).where(
        Verification.invoice_id == inv.id, Verification.source == source)).first()
    by_hand = f"; check by hand: {link}" if link else ""
    values: dict[str, Any] = {}
    if not a.pkcs12:
        check = Check(name, "skipped", "no certificate configured (authenticity.pkcs12)"
                      + by_hand)
    elif not force and row is not None and (
            row.outcome in ("pass", "fail") or (
                row.outcome == "unknown" and row.next_attempt_at and row.next_attempt_at > now)):
        return Check(name, row.outcome, row.detail)  # type: ignore[arg-type]
    else:
        check, asked = prefetched or _ask_safely(source, inv, config)
        if asked.host is not None:
            values["host"] = asked.host
            values["differences"] = json.dumps(asked.differences, ensure_ascii=False)
        if asked.xml:
            values["issuer_sha256"] = BlobStore(config.blob_dir).put(asked.xml)
    # attempts counts unanswered tries in a row: it sets the wait before the next one.
    attempts = (row.attempts if row is not None else 0) + 1 if check.outcome == "unknown" else 0
    values.update(attempts=attempts, outcome=check.outcome, detail=check.detail, link=link,
                  checked_at=now, next_attempt_at=_retry_at(now, attempts, a)
                  if check.outcome == "unknown" else None)
    if new:  # nothing reads it back in this transaction: a Core INSERT, no ORM object
        bulk_insert(session, Verification, [
            new_row(Verification, invoice_id=inv.id or 0, source=source, **values)])
        return check
    row = row or Verification(invoice_id=inv.id or 0, source=source, outcome="unknown", detail="")
    for key, value in values.items():
        setattr(row, key, value)
    session.add(row)
    return check


def email_check(session: Session, inv: Invoice, m: ParsedMessage | None, config: Config,
                dnsfunc: DnsFunc | None = None) -> Check:
    """email.authentication with the configured trust, on the raw message when DKIM is on."""
    settings = EmailAuthSettings.from_config(config.settings.authenticity)
    raw = None
    needs_raw = settings.dkim_enabled or m is None
    msg = session.get(Message, inv.message_id) if needs_raw else None
    if msg is not None:
        try:
            raw = BlobStore(config.blob_dir).get(msg.sha256)
        except (OSError, KeyError, ValueError):
            raw = None
    if m is not None:
        email, forwarded = m.email, m.forwarded
    elif raw is not None:
        try:
            email = parse_email(raw)
        except ParseError as exc:
            return Check("email.authentication", "unknown", f"the stored message: {exc}")
        forwarded = carrier(email)[1]
    else:
        return Check("email.authentication", "unknown", "the raw message is not in the store")
    return check_email(email, raw, settings, forwarded=forwarded, dnsfunc=dnsfunc)


def authenticity_checks(session: Session, invoice: Invoice, m: ParsedMessage | None,
                        config: Config, *, force: bool = False, now: datetime | None = None,
                        dnsfunc: DnsFunc | None = None, new: bool = False,
                        prefetched: tuple[Check, _Asked] | None = None) -> list[Check]:
    """Judge the email's authentication and ask the issuer, without recording the checks.

    prefetched: the issuer's answer asked before the caller's transaction (prefetch_issuer);
    new: as for issuer_check.
    """
    checks = [email_check(session, invoice, m, config, dnsfunc)]
    issuer = issuer_check(session, invoice, config, force=force, now=now, new=new,
                          prefetched=prefetched)
    if issuer is not None:
        checks.append(issuer)
    return checks


def verify_authenticity(session: Session, invoice: Invoice, m: ParsedMessage | None,
                        config: Config, *, force: bool = False, now: datetime | None = None,
                        dnsfunc: DnsFunc | None = None) -> list[Check]:
    """authenticity_checks, recorded on the invoice (its verdict follows). The caller commits."""
    checks = authenticity_checks(session, invoice, m, config, force=force, now=now,
                                 dnsfunc=dnsfunc)
    record_checks(session, invoice, checks)
    return checks


def verify_pending(engine: Engine, config: Config) -> list[int]:
    """The daemon's issuer tick: re-ask every bill whose look-up is due, one transaction each."""
    with Session(engine) as s:
        ids = [inv.id for inv in pending(s, config) if inv.id is not None]
    for invoice_id in ids:
        with Session(engine, expire_on_commit=False) as s:
            inv = s.get(Invoice, invoice_id)
            if inv is not None:
                verify_authenticity(s, inv, None, config)
                s.commit()
    return ids


def pending(session: Session, config: Config, now: datetime | None = None) -> list[Invoice]:
    """Invoices whose issuer look-up is due: unknown and due, never asked, or newly possible."""
    now = now or utcnow()
    has_cert = bool(config.settings.authenticity.pkcs12)
    rows = {(v.invoice_id, v.source): v for v in session.exec(select(Verification)).all()}
    out = []
    for inv in session.exec(select(Invoice).order_by(Invoice.id)).all():
        source = source_for(inv, config)
        if source is None:
            continue
        row = rows.get((inv.id or 0, source))
        if (row is None or (row.outcome == "skipped" and has_cert)
                or (row.outcome == "unknown" and (row.next_attempt_at is None
                                                  or row.next_attempt_at <= now))):
            out.append(inv)
    return out
