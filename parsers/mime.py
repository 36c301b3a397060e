"""Email reading: any MIME shape into headers, body text and sniffed attachments."""

from __future__ import annotations

import base64
import binascii
import contextlib
import email
import email.policy
import email.utils
import hashlib
import quopri
import re
from dataclasses import dataclass
from datetime import datetime
from email.errors import InvalidBase64PaddingDefect
from email.message import Message
from email.utils import parsedate_to_datetime

from lxml import etree
from lxml import html as lxml_html

from parsers.errors import ParseError

MAX_DEPTH = 8
# MIME defects that mean the structure itself is broken, not just untidy.
FATAL_DEFECTS = frozenset({
    "StartBoundaryNotFoundDefect",
    "MultipartInvariantViolationDefect",
    "InvalidBase64PaddingDefect",
    "InvalidBase64CharactersDefect",
    "InvalidBase64LengthDefect",
})


@dataclass(frozen=True)
class Attachment:
    """One document carried by an email, classified by its bytes and by its name."""

    filename: str | None
    content_type: str
    kind: str  # sniffed from the bytes: pdf, xml, image, zip, html, text, other
    claimed: str  # what the name / content type says: pdf, xml, image, zip, other
    data: bytes
    sha256: str
    defects: tuple[str, ...]

    @property
    def label(self) -> str:
        """How to name this attachment in a message to a person."""
        return self.filename or f"unnamed {self.content_type} part"


@dataclass(frozen=True)
class Email:
    """A parsed email: who, what, the body as text, the attachments, forwarded messages."""

    message_id: str | None
    from_address: str | None
    from_name: str | None
    subject: str | None
    date: datetime | None
    text: str
    attachments: tuple[Attachment, ...]
    forwarded: tuple[Email, ...]
    defects: tuple[str, ...]
    authentication_results: tuple[str, ...]
    from_header: str | None = None  # the From header as sent (unfolded), for people to read

    @property
    def from_domain(self) -> str | None:
        """The sender's domain, lower case."""
        if not self.from_address or "@" not in self.from_address:
            return None
        return self.from_address.rsplit("@", 1)[1].strip().lower().rstrip(".")

    @property
    def fatal_defects(self) -> tuple[str, ...]:
        """Defects that mean the MIME structure cannot be trusted."""
        return tuple(d for d in self.defects if d.split(":", 1)[0] in FATAL_DEFECTS)


# Roots an NFS-e file may start with (ABRASF, national, their lists and SOAP envelopes), with
# or without a namespace prefix: these are XML even when nothing declares them so.
_XML_ROOT = re.compile(
    rb"<\s*(?:[\w.-]+:)?(?:CompNfse|Nfse|NFSe|ListaNfse|ConsultarNfse\w*|GerarNfse\w*|"
    rb"EnviarLoteRps\w*|Envelope)[\s>/]")
_HTML_START = re.compile(rb"<\s*(?:!doctype\s+html|html|head|body|meta|div|p|span|table|br|"
                         rb"!doctype\s+netscape-bookmark)\b", re.IGNORECASE)


def sniff(data: bytes, declared_xml: bool = False) -> str:
    """Classify bytes by their content, never by their name.

    Markup is XML only when the part declares XML (declared_xml: its type or name says so),
    starts with an XML declaration, or starts with an NFS-e root: many ordinary parts start
    with "<" (Apple's watch-html, text/richtext, a bookmarks file) and are not XML files.
    """
    if not data:
        return "empty"
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if head.startswith((b"\xff\xfe<", b"\xfe\xff\x00<")):
        return "xml"
    if head.startswith(b"<"):
        if head.startswith(b"<?xml") or _XML_ROOT.match(head):
            return "xml"
        if _HTML_START.match(head):
            return "html"
        return "xml" if declared_xml else "text"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8")):
        return "image"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "other"
    return "text"


def _claimed(filename: str | None, content_type: str) -> str:
    name = (filename or "").lower()
    for ext, kind in ((".pdf", "pdf"), (".xml", "xml"), (".png", "image"), (".jpg", "image"),
                      (".jpeg", "image"), (".zip", "zip")):
        if name.endswith(ext):
            return kind
    if content_type == "application/pdf":
        return "pdf"
    if content_type in ("application/xml", "text/xml"):
        return "xml"
    if content_type.startswith("image/"):
        return "image"
    return "other"


def decode_text(payload: bytes, charset: str | None) -> str:
    """Decode body bytes by their declared charset; unknown charsets fall back, never fail."""
    for cs in (charset, "utf-8"):
        if not cs:
            continue
        try:
            return payload.decode(cs)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("cp1252", errors="replace")


_BREAKS = re.compile(r"(?i)<\s*(br|/p|/div|/tr|/li|/h[1-6]|/table)\b[^>]*>")
_CELLS = re.compile(r"(?i)<\s*/t[dh]\s*>")


def html_to_text(markup: str) -> str:
    """Visible text of an HTML body, with line breaks at blocks and spaces between cells."""
    if not markup.strip():
        return ""
    markup = _BREAKS.sub("\n", markup)
    markup = _CELLS.sub(" \t ", markup)
    try:
        doc = lxml_html.document_fromstring(markup)
    except (ValueError, etree.ParserError):
        return re.sub(r"<[^>]+>", " ", markup)
    for bad in doc.xpath("//script|//style|//head"):
        bad.drop_tree()
    return doc.text_content()


def header_text(value: str) -> str:
    """A raw header value as text: RFC 2047 words decoded, raw 8-bit bytes read as UTF-8.

    Tolerant by design: an unknown charset or a broken encoded word never fails the message.
    """
    value = value.replace("\r", "").replace("\n", "")  # unfold
    if any("\udc80" <= ch <= "\udcff" for ch in value):  # raw 8-bit bytes, surrogate-escaped
        value = decode_text(value.encode("ascii", "surrogateescape"), "utf-8")
    if "=?" in value:
        with contextlib.suppress(Exception):  # a malformed header must not sink the message
            value = str(email.policy.default.header_factory("subject", value))
    return " ".join(value.split())


_FOLD = re.compile(r"\r?\n(?=[ \t])")


def unfold(value: str) -> str:
    """RFC 5322 unfolding: a line break before white space is removed, stray ones too."""
    return _FOLD.sub("", value).replace("\r", "").replace("\n", "")


def _headers(msg: Message) -> dict[str, list[str]]:
    """Raw header values by lower-case name, in order (compat32 keeps them as sent)."""
    out: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        out.setdefault(name.lower(), []).append(str(value))
    return out


def _first(headers: dict[str, list[str]], name: str) -> str | None:
    values = headers.get(name)
    return (header_text(values[0]) or None) if values else None


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        raw = part.get_param("name")
        name = email.utils.collapse_rfc2231_value(raw) if raw else None
    return (header_text(str(name)) or None) if name else None


def _defects(part: Message) -> list[str]:
    return [f"{type(d).__name__}: {d}" for d in getattr(part, "defects", [])]


def _empty_multipart(part: Message) -> bool:
    """A nested multipart with nothing in it (only its closing delimiter, or nothing): some
    mailers write an empty multipart/alternative; it carries nothing and breaks nothing."""
    if part.get_content_maintype() != "multipart" or part.is_multipart():
        return False
    payload = part.get_payload()
    text = payload if isinstance(payload, str) else ""
    boundary = part.get_boundary() or ""
    return not text.replace(f"--{boundary}--", "").strip() if boundary else not text.strip()


def _leaves(part: Message, inner_messages: list[Message]) -> list[Message]:
    """Leaf parts in order, not descending into attached messages (collected apart)."""
    if part.get_content_type() == "message/rfc822":
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else payload
        cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        if cte in ("base64", "quoted-printable"):
            # Some clients encode an attached message (RFC 2046 says they should not): the
            # library then reads the encoded text as if it were the message. Decode it first.
            encoded = inner.as_bytes() if isinstance(inner, Message) else str(inner).encode()
            try:
                decoded = (base64.b64decode(encoded) if cte == "base64"
                           else quopri.decodestring(encoded))
            except (binascii.Error, ValueError):
                part.defects.append(InvalidBase64PaddingDefect())
                return []
            inner_messages.append(email.message_from_bytes(decoded))
            return []
        if isinstance(inner, Message):
            inner_messages.append(inner)
            return []
    if part.is_multipart():
        out: list[Message] = []
        payload = part.get_payload()
        for sub in payload if isinstance(payload, list) else []:
            if isinstance(sub, Message):
                out.extend(_leaves(sub, inner_messages))
        return out
    return [part]


def parse_email(raw: bytes, _depth: int = 0) -> Email:
    """Read raw RFC 5322 bytes; tolerant of broken structure, which it reports as defects.

    The compat32 policy on purpose: headers stay raw strings, decoded here only where read
    (the default policy parses every header into objects, most of the cost of a message).
    """
    if not raw.strip():
        raise ParseError("empty message")
    msg = email.message_from_bytes(raw)
    headers = _headers(msg)
    texts: list[str] = []
    htmls: list[str] = []
    attachments: list[Attachment] = []
    forwarded: list[Email] = []
    defects: list[str] = _defects(msg)

    inner_messages: list[Message] = []
    for part in _leaves(msg, inner_messages):
        if part is not msg and _empty_multipart(part):
            continue  # an empty nested multipart: nothing to read, nothing broken
        if part is not msg:
            defects.extend(_defects(part))
        ctype = part.get_content_type()
        filename = _filename(part)
        disposition = (part.get_content_disposition() or "").lower()
        try:
            got = part.get_payload(decode=True)
            payload = got if isinstance(got, bytes) else b""
        except Exception as exc:
            defects.append(f"UndecodablePayload: {exc}")
            payload = b""
        is_body = (ctype in ("text/plain", "text/html") and disposition != "attachment"
                   and not filename)
        if is_body:
            body = decode_text(payload, part.get_content_charset())
            (texts if ctype == "text/plain" else htmls).append(body)
            continue
        claimed = _claimed(filename, ctype)
        attachments.append(Attachment(
            filename=filename,
            content_type=ctype,
            kind=sniff(payload, declared_xml=claimed == "xml" or ctype.endswith("+xml")),
            claimed=claimed,
            data=payload,
            sha256=hashlib.sha256(payload).hexdigest(),
            defects=tuple(_defects(part)),
        ))

    if _depth < MAX_DEPTH:
        for inner_msg in inner_messages:
            try:
                forwarded.append(parse_email(inner_msg.as_bytes(), _depth + 1))
            except (ParseError, ValueError, LookupError) as exc:
                defects.append(f"UnreadableForwardedMessage: {exc}")

    text = "\n".join(texts)
    if htmls:
        html_text = "\n".join(html_to_text(h) for h in htmls)
        text = f"{text}\n{html_text}" if text else html_text

    from_name = from_addr = None
    raw_from = unfold(headers.get("from", [""])[0])
    try:
        # The From header alone goes through the RFC 5322 address parser: an encoded word
        # holding "<someone@serpro.gov.br>" stays inside the display name, never the sender.
        # Unfolded first: Python's own email package folds a long display name away from the
        # address, and the parser refuses a line break inside an address.
        header = email.policy.default.header_factory("from", raw_from)
        if header.addresses:
            first = header.addresses[0]
            from_name = first.display_name or None
            from_addr = first.addr_spec if first.username else None
    except Exception:
        defects.append("MalformedFromHeader")
    date = None
    raw_date = _first(headers, "date")
    if raw_date:
        try:
            date = parsedate_to_datetime(raw_date)
        except (TypeError, ValueError, IndexError):
            defects.append("MalformedDateHeader")
    auth = tuple(header_text(v) for v in headers.get("authentication-results", []))
    return Email(
        message_id=_first(headers, "message-id"),
        from_address=from_addr.lower() if from_addr else None,
        from_name=from_name,
        subject=_first(headers, "subject"),
        date=date,
        text=text,
        attachments=tuple(attachments),
        forwarded=tuple(forwarded),
        defects=tuple(dict.fromkeys(defects)),
        authentication_results=auth,
        from_header=header_text(raw_from) or None,
    )
