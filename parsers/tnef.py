"""winmail.dat (Outlook's TNEF) unpacked into ordinary attachments before parsing."""

from __future__ import annotations

import logging
from email import message_from_bytes, policy
from email.message import Message
from email.mime.application import MIMEApplication

from tnefparse import TNEF

log = logging.getLogger("confere.tnef")

MAX_EXPANDED = 60 * 1024 * 1024


def _is_tnef(part: Message) -> bool:
    name = (part.get_filename() or "").lower()
    return part.get_content_type() == "application/ms-tnef" or name == "winmail.dat"


def tnef_files(data: bytes) -> list[tuple[str, bytes]]:
    """The (file name, bytes) carried inside one winmail.dat."""
    tnef = TNEF(data, do_checksum=False)
    out = []
    for i, att in enumerate(tnef.attachments):
        name = att.long_filename() or getattr(att, "name", None) or f"attachment-{i + 1}"
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        out.append((str(name).strip("\x00"), bytes(att.data)))
    return out


def expand_winmail(raw: bytes) -> bytes | None:
    """The message with each winmail.dat replaced by its files; None when there is none.

    The raw bytes stay in the store as received: this is only what the parser is given.
    """
    if b"ms-tnef" not in raw.lower() and b"winmail.dat" not in raw.lower():
        return None
    msg = message_from_bytes(raw, policy=policy.compat32)
    if not msg.is_multipart():
        return None
    changed = False
    total = 0
    for parent in msg.walk():
        if not parent.is_multipart():
            continue
        parts = parent.get_payload()
        new_parts: list[Message | str] = []
        for part in parts:
            if not isinstance(part, Message) or part.is_multipart() or not _is_tnef(part):
                new_parts.append(part)
                continue
            try:
                got = part.get_payload(decode=True)
                files = tnef_files(got if isinstance(got, bytes) else b"")
            except Exception as exc:  # a damaged winmail.dat stays as it is
                log.warning("winmail.dat not readable: %s", exc)
                new_parts.append(part)
                continue
            total += sum(len(d) for _n, d in files)
            if total > MAX_EXPANDED:
                return None
            for name, data in files:
                sub = _subtype(name)
                att = MIMEApplication(data, _subtype=sub)
                att.add_header("Content-Disposition", "attachment", filename=name)
                if sub == "xml":
                    att.replace_header("Content-Type", "text/xml")
                new_parts.append(att)
            changed = True
        parent.set_payload(new_parts)
    return msg.as_bytes() if changed else None


def _subtype(name: str) -> str:
    lower = name.lower()
    if lower.endswith(".pdf"):
        return "pdf"
    if lower.endswith(".xml"):
        return "xml"
    return "octet-stream"


__all__ = ["expand_winmail", "tnef_files"]
