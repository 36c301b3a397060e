"""Which failures are the machine's, for a moment (disk, database), and which the message's."""

from __future__ import annotations

import re

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from parsers.errors import BlobWriteError, TransientFault

# Exception names a quarantine reason carries when a transient fault quarantined the message
# (before confere told the two apart): such a message can be retried as it is.
TRANSIENT_NAMES = ("OSError", "IOError", "BlobWriteError", "OperationalError", "InterfaceError",
                   "TimeoutError", "PermissionError", "FileNotFoundError", "TransientFault",
                   "DatabaseError", "ENOSPC", "EIO", "EROFS", "EDQUOT")
_QUARANTINED_BY_FAULT = re.compile(
    r"^could not be judged \((?:" + "|".join(TRANSIENT_NAMES) + r")\b")


def is_transient(exc: BaseException) -> bool:
    """True for a full or failing disk and a locked, read-only or unreachable database."""
    if isinstance(exc, (TransientFault, BlobWriteError, OperationalError, InterfaceError,
                        TimeoutError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OSError)  # ENOSPC, EIO, EROFS, EDQUOT: the disk's, not the mail's


def describe(exc: BaseException) -> str:
    """The fault in one line (the first line of a database error, not its SQL)."""
    if isinstance(exc, DBAPIError):
        text = str(exc.orig or exc).strip().splitlines()
        return f"{type(exc).__name__}: {text[0] if text else 'unknown error'}"
    return f"{type(exc).__name__}: {exc}"


def quarantined_by_fault(reason: str | None) -> bool:
    """Whether a quarantine reason says a transient fault, not the content, put it there."""
    return bool(reason) and bool(_QUARANTINED_BY_FAULT.match(reason or ""))
