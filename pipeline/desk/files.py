"""A bill's stored files, as a person may open them: the raw email, its attachments, the
issuer's copy of the note, the proof of payment. Names are made safe; types are the real ones
(an attachment is never announced as HTML)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from storage import Document, Invoice, InvoiceDecision, Message
from storage.verification_models import Verification

CONTENT_TYPES = {"email": "message/rfc822", "nfse_xml": "application/xml",
                 "nfse_pdf": "application/pdf", "boleto_pdf": "application/pdf",
                 "issuer_xml": "application/xml"}
EXTENSIONS = {"nfse_xml": ".xml", "nfse_pdf": ".pdf", "boleto_pdf": ".pdf"}
SAFE_TYPES = {"application/pdf", "application/xml", "text/xml", "message/rfc822", "image/png",
              "image/jpeg"}


@dataclass(frozen=True)
class StoredFile:
    """One file of a bill: what it is, a safe file name, its type, where its bytes are."""

    kind: str  # email | nfse_xml | nfse_pdf | boleto_pdf | other | issuer_xml | payment_proof
    name: str
    content_type: str
    sha256: str
    size: int | None
    document_id: int | None = None


def safe_name(name: str | None, fallback: str = "arquivo") -> str:
    """A file name safe on any disk and in a header: no folders, quotes or control characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    clean = "".join(ch if ch.isalnum() or ch in "._- " else "_" for ch in base).strip(" .")
    return clean[:120] or fallback


def content_type_for(kind: str, declared: str | None) -> str:
    """The type to serve a file with: known kinds by kind, else a safe declared type, else bytes."""
    if kind in CONTENT_TYPES:
        return CONTENT_TYPES[kind]
    declared = (declared or "").split(";")[0].strip().lower()
    return declared if declared in SAFE_TYPES else "application/octet-stream"


def stored_files(s: Session, invoice_id: int) -> list[StoredFile]:
    """Every stored file of a bill, with unique safe names prefixed by the bill's number."""
    inv = s.get(Invoice, invoice_id)
    if inv is None:
        return []
    msg = s.get(Message, inv.message_id)
    out: list[StoredFile] = []
    if msg is not None:
        out.append(StoredFile("email", f"fatura-{invoice_id}-email.eml", CONTENT_TYPES["email"],
                              msg.sha256, msg.size))
    for d in s.exec(select(Document).where(Document.message_id == inv.message_id)
                    .order_by(col(Document.id))).all():
        name = safe_name(d.filename, f"{d.kind}{EXTENSIONS.get(d.kind, '.bin')}")
        out.append(StoredFile(d.kind, f"fatura-{invoice_id}-{name}",
                              content_type_for(d.kind, d.content_type), d.sha256, d.size, d.id))
    for v in s.exec(select(Verification).where(Verification.invoice_id == invoice_id,
                                               col(Verification.issuer_sha256).is_not(None))
                    ).all():
        out.append(StoredFile("issuer_xml", f"fatura-{invoice_id}-emissor-{v.source}.xml",
                              CONTENT_TYPES["issuer_xml"], v.issuer_sha256, None))  # type: ignore[arg-type]
    decision = s.exec(select(InvoiceDecision)
                      .where(InvoiceDecision.invoice_id == invoice_id)).first()
    if decision is not None and decision.proof_sha256:
        name = safe_name(decision.proof_name, "comprovante")
        out.append(StoredFile("payment_proof", f"fatura-{invoice_id}-comprovante-{name}",
                              content_type_for("payment_proof", _guess(name)),
                              decision.proof_sha256, None))
    return _unique(out)


def _guess(name: str) -> str | None:
    lower = name.lower()
    for ext, kind in ((".pdf", "application/pdf"), (".png", "image/png"),
                      (".jpg", "image/jpeg"), (".jpeg", "image/jpeg")):
        if lower.endswith(ext):
            return kind
    return None


def _unique(files: list[StoredFile]) -> list[StoredFile]:
    """Two attachments with one name: the second gets -2, and so on."""
    used: set[str] = set()
    out = []
    for f in files:
        name, n = f.name, 2
        stem, dot, ext = f.name.rpartition(".")
        while name in used:
            name = f"{stem}-{n}.{ext}" if dot else f"{f.name}-{n}"
            n += 1
        used.add(name)
        out.append(f if name == f.name else StoredFile(f.kind, name, f.content_type, f.sha256,
                                                        f.size, f.document_id))
    return out
