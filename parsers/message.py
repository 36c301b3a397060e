"""One message's bytes to its documents: MIME, then each attachment by its sniffed kind."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date

from pypdfium2 import PdfPage

from parsers import (
    Attachment,
    BoletoDocument,
    Email,
    HostileInputError,
    Nfse,
    NfsePdf,
    NotABoletoError,
    ParseError,
    parse_email,
    parse_nfse_all,
    parse_nfse_pdf,
)
from parsers.body import fold
from parsers.boleto import due_date_from_factor
from parsers.boleto_pdf import looks_like_boleto, read_boleto
from parsers.errors import NotAnNfseError
from parsers.nfse_pdf import looks_like_nfse
from parsers.pdf import open_pdf, page_texts
from parsers.tnef import expand_winmail
from parsers.xmldsig import SignatureResult, verify_signatures

_CLAIM_WORDS = {"pdf": "a PDF", "xml": "XML", "image": "an image", "zip": "a ZIP archive",
                "html": "HTML", "text": "plain text", "other": "unrecognised binary data",
                "empty": "empty (0 bytes)"}
_DEFECT_WORDS = {
    "StartBoundaryNotFoundDefect": "the multipart boundary it declares never appears",
    "CloseBoundaryNotFoundDefect": "a multipart part is never closed",
    "MultipartInvariantViolationDefect": "a multipart message with no parts",
    "NoBoundaryInMultipartDefect": "a multipart message without a boundary",
    "InvalidBase64PaddingDefect": "a base64 part is damaged (bad padding)",
    "InvalidBase64CharactersDefect": "a base64 part is damaged (invalid characters)",
    "InvalidBase64LengthDefect": "a base64 part is damaged (truncated)",
    "MissingHeaderBodySeparatorDefect": "a header line is malformed",
    "InvalidHeaderDefect": "a header is malformed",
    "HeaderMissingRequiredValue": "a header has no value",
    "UndecodablePayload": "a part's content could not be decoded",
    "UnreadableForwardedMessage": "an attached message could not be read",
    "MalformedFromHeader": "the From header could not be read",
    "MalformedDateHeader": "the Date header could not be read",
}


def _words(name: str) -> str:
    """A defect's class name as words, for the ones not in the table ("SomeThingDefect" ->
    "some thing"): a reason is for a person, never a Python class name."""
    if name in _DEFECT_WORDS:
        return _DEFECT_WORDS[name]
    words = re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", name.removesuffix("Defect"))
    return "the MIME structure is damaged (" + " ".join(w.lower() for w in words) + ")"


def _defect_words(defects: tuple[str, ...]) -> list[str]:
    names = dict.fromkeys(d.split(":", 1)[0] for d in defects)
    return list(dict.fromkeys(_words(n) for n in names))


@dataclass(frozen=True)
class ParsedDocument:
    """An attachment and what it turned out to be: nfse_xml, nfse_pdf, boleto_pdf or other."""

    attachment: Attachment
    role: str
    nfse: Nfse | None = None
    nfse_pdf: NfsePdf | None = None
    boleto: BoletoDocument | None = None
    note: str | None = None
    # XMLDSig results, verified here in the sandbox (signatures are untrusted input too).
    signatures: tuple[SignatureResult, ...] | None = None


@dataclass(frozen=True)
class ParsedMessage:
    """A message read to the end: the email, the one carrying the bill, documents, problems."""

    email: Email
    effective: Email
    forwarded: bool
    documents: tuple[ParsedDocument, ...]
    problems: tuple[str, ...]

    def first(self, role: str) -> ParsedDocument | None:
        """The first document with this role."""
        return next((d for d in self.documents if d.role == role), None)


def carrier(email: Email) -> tuple[Email, bool]:
    """The email that carries the bill: itself, or a forwarded original holding the documents."""
    if any(a.kind in ("pdf", "xml") for a in email.attachments):
        return email, False
    for inner in email.forwarded:
        if any(a.kind in ("pdf", "xml") for a in inner.attachments):
            return inner, True
    return email, False


_DATES = re.compile(r"(?<!\d)(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{4})(?!\d)"
                    r"|(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")


def stated_dates(text: str, limit: int = 50) -> tuple[date, ...]:
    """Dates an email's text states (dd/mm/yyyy, dd.mm.yyyy, yyyy-mm-dd): the due date among
    them tells which of a boleto factor's two dates is meant."""
    out: list[date] = []
    for m in _DATES.finditer(text):
        d, mo, y = (m.group(1), m.group(2), m.group(3)) if m.group(1) else \
            (m.group(6), m.group(5), m.group(4))
        try:
            out.append(date(int(y), int(mo), int(d)))
        except ValueError:
            continue
        if len(out) >= limit:
            break
    return tuple(dict.fromkeys(out))


def _pdf(att: Attachment, reference: date | None,
         hints: tuple[date, ...] = ()) -> ParsedDocument:
    with open_pdf(att.data) as doc:
        pages: dict[int, PdfPage] = {}
        texts = page_texts(doc, keep=pages)
        text = "\n".join(texts)
        if looks_like_boleto(text):
            try:
                boleto = read_boleto(doc, reference, texts, pages, hints=hints)
            except NotABoletoError as exc:
                return ParsedDocument(att, "other", note=str(exc))
            return ParsedDocument(att, "boleto_pdf", boleto=boleto)
        if looks_like_nfse(text) and _looks_like_payment(text):
            # A Pix-only bill cites its NFS-e too: its QR, when there is one, says which it is.
            try:
                return ParsedDocument(att, "boleto_pdf",
                                      boleto=read_boleto(doc, reference, texts, pages, hints))
            except ParseError:
                pass
        if looks_like_nfse(text):
            return ParsedDocument(att, "nfse_pdf",
                                  nfse_pdf=parse_nfse_pdf(att.data, texts=texts[:2]))
        # No text saying what it is: a scanned boleto still carries its barcode in the image.
        try:
            boleto = read_boleto(doc, reference, texts, pages, hints=hints)
        except ParseError:
            return ParsedDocument(att, "other", note="PDF is neither a boleto nor an NFS-e")
        return ParsedDocument(att, "boleto_pdf", boleto=boleto)


_PAYMENT_WORDS = ("pague com pix", "pix copia e cola", "qr code", "beneficiario", "pagador",
                  "ficha de compensacao")


def _looks_like_payment(text: str) -> bool:
    """Words of a payment slip (a boleto's parties, a Pix block) that an NFS-e does not use."""
    low = text.lower()  # a cheap look first: an NFS-e has none of these stems
    if not any(stem in low for stem in ("pix", "qr code", "benefici", "pagador", "compensa")):
        return False
    folded = fold(text)
    return any(w in folded for w in _PAYMENT_WORDS)


def _xml(att: Attachment) -> ParsedDocument:
    try:
        notes = parse_nfse_all(att.data)
    except HostileInputError:
        raise
    except NotAnNfseError as exc:
        return ParsedDocument(att, "other", note=str(exc))
    return ParsedDocument(att, "nfse_xml", nfse=notes[0], signatures=verify_signatures(att.data))


def parse_message(raw: bytes, max_attachment_bytes: int = 20 * 1024 * 1024) -> ParsedMessage:
    """Parse everything in a message; a bad attachment becomes a problem, never an exception.

    A winmail.dat is unpacked first (here, inside the sandbox: TNEF is untrusted input too).
    """
    email = parse_email(expand_winmail(raw) or raw)
    problems = []
    if email.fatal_defects:
        problems.append("broken MIME structure: " + "; ".join(_defect_words(email.fatal_defects)))
    effective, forwarded = carrier(email)
    reference = effective.date.date() if effective.date else None
    hints = stated_dates(effective.text + ("\n" + email.text if forwarded else ""))
    documents: list[ParsedDocument] = []
    for att in effective.attachments:
        if len(att.data) > max_attachment_bytes:
            problems.append(f"{att.label}: {len(att.data):,} bytes, over the "
                            f"{max_attachment_bytes:,} byte limit for one attachment")
            documents.append(ParsedDocument(att, "other", note="too large"))
            continue
        if att.claimed in ("pdf", "xml") and att.kind == "empty":
            problems.append(f"{att.label}: named as {_CLAIM_WORDS[att.claimed]} but it is empty "
                            "(0 bytes)")
            documents.append(ParsedDocument(att, "other", note="empty"))
            continue
        if att.claimed in ("pdf", "xml") and att.kind != att.claimed:
            problems.append(f"{att.label}: named as {_CLAIM_WORDS[att.claimed]} but its content "
                            f"is {_CLAIM_WORDS.get(att.kind, att.kind)}")
            documents.append(ParsedDocument(att, "other", note="content does not match its name"))
            continue
        bad = [d for d in att.defects if d.split(":", 1)[0].startswith("InvalidBase64")]
        if bad and att.kind in ("pdf", "xml"):
            problems.append(f"{att.label}: damaged transfer encoding "
                            f"({_words(bad[0].split(':', 1)[0])})")
            documents.append(ParsedDocument(att, "other", note="damaged encoding"))
            continue
        try:
            if att.kind == "pdf":
                documents.append(_pdf(att, reference, hints))
            elif att.kind == "xml":
                documents.append(_xml(att))
            else:
                documents.append(ParsedDocument(att, "other"))
        except ParseError as exc:
            problems.append(f"{att.label}: {exc}")
            documents.append(ParsedDocument(att, "other", note=str(exc)))
        except MemoryError:
            problems.append(f"{att.label}: ran out of memory while reading it")
            documents.append(ParsedDocument(att, "other", note="out of memory"))
        except Exception as exc:  # a parser bug or library crash must not lose the message
            problems.append(f"{att.label}: could not be read (the reader failed: "
                            f"{exc or 'no detail'})")
            documents.append(ParsedDocument(att, "other", note=str(exc)))
    documents = _due_dates_by_the_note(documents, hints)
    return ParsedMessage(email, effective, forwarded, tuple(documents), tuple(problems))


def _due_dates_by_the_note(documents: list[ParsedDocument],
                           hints: tuple[date, ...]) -> list[ParsedDocument]:
    """A boleto's factor read again against the NFS-e's issue date when the message has one:
    the note's date is signed, the email's Date header is whatever the sender wrote."""
    issued = next((d.nfse.issued_at.date() for d in documents
                   if d.nfse is not None and d.nfse.issued_at is not None), None)
    if issued is None:
        return documents
    out = []
    for d in documents:
        b = d.boleto.boleto if d.boleto is not None else None
        if d.boleto is not None and b is not None:
            due = due_date_from_factor(b.due_factor, issued, hints)
            if due != b.due_date:
                d = replace(d, boleto=replace(d.boleto, boleto=replace(b, due_date=due)))
        out.append(d)
    return out
