"""Serving stored documents safely: the real type, nosniff, and never HTML from an email."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException
from fastapi.responses import Response
from sqlmodel import Session

from pipeline.config.settings import Config
from pipeline.vocabulary import DocumentRole
from pipeline.web.security import DOCUMENT_CSP, DOWNLOAD_CSP
from storage import BlobStore, Document, Message

PDF_ROLES = (DocumentRole.BOLETO_PDF, DocumentRole.NFSE_PDF)


def disposition(kind: str, filename: str) -> str:
    """A Content-Disposition no file name can break out of: ASCII fallback plus RFC 5987."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename)[:120] or "documento"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename[:200], safe='')}"


def _blob(config: Config, sha256: str) -> bytes:
    try:
        return BlobStore(config.blob_dir).get(sha256)
    except FileNotFoundError:
        raise HTTPException(410, "the stored file is missing") from None


def document_response(config: Config, doc: Document) -> Response:
    """A PDF the parser read as a boleto or NFS-e, inline; the XML and anything else, downloads.

    The type is what confere found, not what the email claimed: a "PDF" that does not start
    like one is an octet-stream download, so an HTML page dressed as an attachment never renders.
    """
    raw = _blob(config, doc.sha256)
    name = doc.filename or f"documento-{doc.id}"
    if doc.kind in PDF_ROLES and raw.startswith(b"%PDF-"):
        return Response(raw, media_type="application/pdf",
                        headers={"Content-Disposition": disposition("inline", name),
                                 "Content-Security-Policy": DOCUMENT_CSP})
    media = "application/xml" if doc.kind == DocumentRole.NFSE_XML else "application/octet-stream"
    return Response(raw, media_type=media,
                    headers={"Content-Disposition": disposition("attachment", name),
                             "Content-Security-Policy": DOWNLOAD_CSP})


def original_email_response(config: Config, s: Session, message_id: int) -> Response:
    """The raw email as received, always a download."""
    msg = s.get(Message, message_id)
    if msg is None:
        raise HTTPException(404)
    return Response(_blob(config, msg.sha256), media_type="message/rfc822",
                    headers={"Content-Disposition": disposition("attachment",
                                                                f"mensagem-{message_id}.eml"),
                             "Content-Security-Policy": DOWNLOAD_CSP})


def stored_file_response(config: Config, f: Any) -> Response:
    """A file of pipeline.desk.files (the issuer's XML, the proof of payment): a download, with
    the safe type that module chose."""
    raw = _blob(config, f.sha256)
    return Response(raw, media_type=f.content_type,
                    headers={"Content-Disposition": disposition("attachment", f.name),
                             "Content-Security-Policy": DOWNLOAD_CSP})
