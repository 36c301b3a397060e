"""Where mail comes from: a small protocol, with IMAP and local (folder, Maildir, mbox) sources."""

from __future__ import annotations

import mailbox as stdlib_mailbox
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from pipeline.config.settings import Config, MailboxConfig
from pipeline.mail.cursors import FolderReport, FolderState
from pipeline.mail.imap import ImapSource
from pipeline.mail.selection import Selector


class Source(Protocol):
    """A mailbox confere reads: names its folders, polls one folder into the store."""

    name: str
    kind: str

    def folders(self) -> list[str]:
        """The folder names, as the cursors know them."""
        ...

    def poll_folder(self, state: FolderState, stop: threading.Event) -> FolderReport:
        """Store what is new in one folder (raw bytes + cursor in one transaction)."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


def local_kind(path: Path) -> str:
    """'maildir' (cur/ new/ tmp/), 'mbox' (a file), or 'folder' (.eml files, recursively)."""
    if path.is_file():
        return "mbox"
    if (path / "cur").is_dir() and (path / "new").is_dir():
        return "maildir"
    return "folder"


class LocalSource:
    """Messages from a local folder of .eml files, a Maildir or an mbox file; never modified."""

    def __init__(self, cfg: MailboxConfig, base_dir: Path) -> None:
        self.cfg = cfg
        self.name = cfg.name
        path = Path(cfg.path or ".").expanduser()
        self.path = path if path.is_absolute() else (base_dir / path).resolve()
        self.kind = local_kind(self.path)

    def folders(self) -> list[str]:
        """One pseudo-folder: the path itself."""
        return [str(self.path)]

    def close(self) -> None:
        """Nothing stays open between polls."""

    def messages(self) -> Iterator[tuple[str, bytes]]:
        """(key, raw bytes) of every message, in a stable order."""
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no such file or folder")
        if self.kind == "folder":
            for f in sorted(self.path.rglob("*.eml")):
                if f.is_file():
                    yield str(f), f.read_bytes()
        elif self.kind == "maildir":
            box = stdlib_mailbox.Maildir(self.path, factory=None, create=False)
            for key in sorted(box.keys()):
                with box.get_file(key) as fh:
                    yield f"{self.path}#{key}", fh.read()
        else:
            box = stdlib_mailbox.mbox(self.path, factory=None, create=False)
            try:
                for key in box.keys():  # noqa: SIM118 (iterating a mailbox yields messages)
                    yield f"{self.path}#{key}", box.get_bytes(key)
            finally:
                box.close()

    def poll_folder(self, state: FolderState, stop: threading.Event) -> FolderReport:
        """Store every message not stored before (by path, then by content hash)."""
        report = FolderReport(state.mailbox, state.folder)
        try:
            state.reload()
            known = state.known_paths()
            for key, raw in self.messages():
                if stop.is_set():
                    break
                if key in known:
                    continue
                report.fetched += 1
                if state.store_local(key, raw):
                    report.stored += 1
                else:
                    report.known += 1
            report.idle = report.fetched == 0
        except OSError as exc:
            report.error = f"{type(exc).__name__}: {exc}"
        return report


def make_source(config: Config, cfg: MailboxConfig) -> Source:
    """The source a mailbox's configuration describes."""
    if cfg.path is not None:
        return LocalSource(cfg, config.base_dir)
    company = config.settings.company.email_domains
    selector = Selector(config.vendors.values(), company)
    return ImapSource(cfg, config.base_dir, selector,
                      config.settings.limits.max_message_bytes)
