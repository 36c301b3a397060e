"""The daemon's own health, kept beside the blob store (readable when the database is not),
and a plain account of why a database cannot be used (down, locked, read-only)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from pipeline.ingest.faults import describe
from storage import utcnow

HEALTH_FILE = "daemon-health.json"


def health_path(blob_dir: Path) -> Path:
    """Where this host's daemon records its last good tick and its last error."""
    return Path(blob_dir) / f"{HEALTH_FILE[:-5]}-{socket.gethostname()}.json"


class Health:
    """Last good poll, last error and last database error of one daemon, in a small file."""

    def __init__(self, blob_dir: Path, owner: str) -> None:
        self.path = health_path(blob_dir)
        self.state: dict[str, Any] = {"owner": owner, "pid": os.getpid(),
                                      "last_good_poll_at": None, "last_error": None,
                                      "last_error_at": None, "database_error": None,
                                      "database_error_at": None}

    def good(self) -> None:
        """A tick that polled and wrote without error: the errors are history."""
        self.state.update(last_good_poll_at=utcnow().isoformat(), last_error=None,
                          last_error_at=None, database_error=None, database_error_at=None)
        self._write()

    def failed(self, exc: BaseException, url: str | None = None) -> None:
        """A tick that failed; a database failure is said as such."""
        now = utcnow().isoformat()
        if isinstance(exc, DBAPIError) or isinstance(exc.__cause__, DBAPIError):
            cause = exc if isinstance(exc, DBAPIError) else exc.__cause__
            self.state.update(database_error=explain_db_error(url, cause), database_error_at=now)
        self.state.update(last_error=describe(exc), last_error_at=now)
        self._write()

    def _write(self) -> None:
        with contextlib.suppress(OSError):  # a full disk must not stop the daemon
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.state), encoding="utf-8")
            tmp.replace(self.path)


def read_health(blob_dir: Path) -> dict[str, Any] | None:
    """The health a daemon of this host last recorded, if any."""
    try:
        return json.loads(health_path(blob_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY) or not os.access(path, os.W_OK)
    except OSError:
        return False


def explain_db_error(url: str | None, exc: BaseException | None) -> str:
    """Why the store cannot be used, in words: read-only, locked, down, or the driver's line."""
    first = describe(exc).partition(": ")[2] if exc is not None else "unknown error"
    if url and url.startswith("sqlite"):
        db = make_url(url).database or ""
        if db and db != ":memory:":
            path = Path(db).expanduser()
            if "readonly" in first or "read-only" in first or \
                    (path.exists() and _read_only(path)) or \
                    (path.parent.exists() and _read_only(path.parent)):
                where = path if path.exists() and _read_only(path) else path.parent
                return (f"the SQLite store {path} is read-only ({where} cannot be written; "
                        "SQLite also writes its -wal and -shm files beside it): make it "
                        f"writable for this user ({first})")
            if "locked" in first:
                return (f"the SQLite store {path} is locked by another process ({first}); "
                        "confere retries")
    return first
