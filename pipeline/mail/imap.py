"""IMAP polling: STATUS first, ASCII search, ENVELOPE before bodies, BODY.PEEK in bounded chunks."""

from __future__ import annotations

import contextlib
import imaplib
import logging
import os
import random
import shlex
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, LoginError
from imapclient.imapclient import join_message_ids

from parsers.errors import MailboxError
from pipeline.config.settings import MailboxConfig
from pipeline.mail.cursors import FolderReport, FolderState
from pipeline.mail.selection import Selector, chunks, search_criteria, size_batches

log = logging.getLogger("confere.mailbox")

DROPPED = (IMAPClientAbortError, imaplib.IMAP4.abort, OSError, EOFError)  # BYE, reset, timeout
BACKOFF = (0.5, 1.0, 2.0, 4.0)  # seconds before each reconnect of a folder, jittered
STORE_BATCH = 50  # messages per store transaction
STOP_GRACE = 3.0  # seconds a download in progress may take to end after a stop
FETCH_BYTES = 32 * 1024 * 1024  # bodies per FETCH command, at most
FETCH_FLOOR = 256 * 1024  # ...and at least (one message always fits)
FIRST_FETCH = 1024 * 1024  # before the link's speed is known
FETCH_SECONDS = 2.0  # a FETCH is sized to take about this long, so a stop waits no longer
_said: set[tuple[str, str]] = set()  # (mailbox, what) said once in the log


def _once(mailbox: str, what: str, text: str) -> None:
    """Log a warning about a server's limits once per mailbox and process."""
    if (mailbox, what) not in _said:
        _said.add((mailbox, what))
        log.warning("%s: %s", mailbox, text)


def _text(value: bytes | str | None) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else (value or "")


def resolve_folder(name: str, personal: list[tuple[str, str]] | None) -> str:
    """A configured folder name ('Processadas', 'Faturas/2026') as the server spells it.

    The personal namespace's prefix is put in front (Cyrus and Courier keep folders under
    'INBOX.') and '/' becomes the server's hierarchy delimiter; a name that already carries the
    prefix, or INBOX itself, is left alone.
    """
    if not personal or name.upper() == "INBOX":
        return name
    prefix, delim = personal[0]
    if delim and delim != "/":
        name = name.replace("/", delim)
    inbox_prefix = prefix.upper().startswith("INBOX")  # INBOX is case-insensitive
    if not prefix or name.startswith(prefix) \
            or (inbox_prefix and name.upper().startswith(prefix.upper())):
        return name
    return prefix + name


def parse_after(after: str) -> tuple[str, str | None]:
    """'flag' / 'flag:$Kw' / 'label:Name' / 'move:Folder' / 'none' to (action, argument)."""
    kind, _, arg = after.partition(":")
    if kind == "flag":
        return "flag", arg or "\\Seen"
    return kind, arg or None


def _secret_file(path: str, base: Path) -> str:
    p = Path(os.path.expanduser(path))
    p = p if p.is_absolute() else base / p
    try:
        return p.read_text("utf-8").strip()
    except OSError as exc:
        raise MailboxError(f"cannot read {p}: {exc.strerror}") from None


def password(cfg: MailboxConfig, base: Path) -> str:
    """The mailbox password from the environment variable or file the config names."""
    if cfg.password_env:
        value = os.environ.get(cfg.password_env)
        if value:
            return value
        if not cfg.password_file:
            raise MailboxError(f"mailbox {cfg.name!r}: environment variable "
                               f"{cfg.password_env} is not set")
    if cfg.password_file:
        return _secret_file(cfg.password_file, base)
    raise MailboxError(f"mailbox {cfg.name!r}: no password_env or password_file")


def oauth_token(cfg: MailboxConfig, base: Path) -> str:
    """An XOAUTH2 access token: the first line printed by token_command, or token_file."""
    if cfg.token_command:
        try:
            proc = subprocess.run(shlex.split(cfg.token_command), capture_output=True, text=True,
                                  timeout=60, cwd=base)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MailboxError(f"mailbox {cfg.name!r}: token_command failed: {exc}") from None
        token = proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else ""
        if proc.returncode != 0 or not token:
            raise MailboxError(f"mailbox {cfg.name!r}: token_command exited {proc.returncode} "
                               "without printing a token")
        return token
    if cfg.token_file:
        return _secret_file(cfg.token_file, base)
    raise MailboxError(f"mailbox {cfg.name!r}: no token_command or token_file")


def connect(cfg: MailboxConfig, base: Path) -> IMAPClient:
    """Open, secure (TLS verified) and log in; a timeout is always set."""
    context = ssl.create_default_context()
    client = IMAPClient(cfg.host, port=cfg.port, ssl=cfg.security == "tls",
                        ssl_context=context if cfg.security == "tls" else None,
                        timeout=cfg.timeout)
    try:
        if cfg.security == "starttls":
            client.starttls(context)
        if cfg.auth == "xoauth2":
            client.oauth2_login(cfg.username, oauth_token(cfg, base))
        else:
            client.login(cfg.username, password(cfg, base))
    except BaseException:
        _close(client)
        raise
    return client


def plain_error(cfg: MailboxConfig, exc: BaseException) -> str:
    """What went wrong with a mailbox, in words an IT person can act on."""
    if isinstance(exc, socket.gaierror):
        return (f"cannot find the server {cfg.host!r} (DNS: {exc.strerror or exc}): check "
                "host, or the machine's DNS")
    if isinstance(exc, LoginError):
        said = str(exc).strip() or "no reason given"
        return (f"the server refused the login of {cfg.username!r} ({said}): check username "
                "and password; Gmail and Microsoft 365 need an app password (or "
                "auth = \"xoauth2\") when the account has two-step sign-in")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"the certificate of {cfg.host} is not trusted ({exc.verify_message}): check "
                "host (the name must match the certificate)")
    if isinstance(exc, ConnectionRefusedError):
        return f"{cfg.host}:{cfg.port} refused the connection: check host, port and security"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"{cfg.host}:{cfg.port} did not answer within {cfg.timeout:g} s"
    if isinstance(exc, MailboxError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


# Errors that no reconnect will cure: said once, not retried.
FINAL = (socket.gaierror, LoginError, ssl.SSLCertVerificationError)


def _close(client: IMAPClient | None) -> None:
    if client is None:
        return
    try:
        client.logout()
    except Exception:
        with contextlib.suppress(Exception):
            client.shutdown()


class ImapSource:
    """One IMAP mailbox: polls its folders through one connection, reconnecting per folder."""

    kind = "imap"

    def __init__(self, cfg: MailboxConfig, base_dir: Path, selector: Selector,
                 max_message_bytes: int, connector: Any = connect) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.base = base_dir
        self.selector = selector
        self.max_bytes = max_message_bytes
        self.connector = connector
        self.action, self.argument = parse_after(cfg.after)
        self.client: IMAPClient | None = None
        self.target: str | None = None  # the move target as this server spells it
        self.rate: float | None = None  # bytes per second of the last body FETCH

    def folders(self) -> list[str]:
        """The folders this mailbox watches."""
        return list(self.cfg.folders)

    def close(self) -> None:
        """Log out."""
        _close(self.client)
        self.client = None
        self.target = None

    def _client(self) -> IMAPClient:
        if self.client is None:
            self.client = self.connector(self.cfg, self.base)
        return self.client

    def poll_folder(self, state: FolderState, stop: threading.Event) -> FolderReport:
        """Poll one folder; on a dropped connection reconnect with backoff and resume."""
        report = FolderReport(state.mailbox, state.folder)
        for attempt in range(len(BACKOFF) + 1):
            try:
                state.reload()
                with _abandon_on_stop(self._client(), stop):
                    self._poll(self._client(), state, stop, report)
                report.error = None
                return report
            except FINAL as exc:
                self.close()
                report.error = plain_error(self.cfg, exc)
                break
            except DROPPED as exc:
                self.close()
                if stop.is_set():  # the download was abandoned: what is stored stays stored
                    report.error = None
                    return report
                report.error = f"connection lost: {plain_error(self.cfg, exc)}"
                if attempt == len(BACKOFF):
                    break
                report.reconnects += 1
                log.warning("%s/%s: %s; reconnecting", state.mailbox, state.folder, report.error)
                if stop.wait(BACKOFF[attempt] * random.uniform(0.8, 1.2)):
                    break
            except (imaplib.IMAP4.error, MailboxError) as exc:
                self.close()
                report.error = plain_error(self.cfg, exc)
                break
        return report

    # -- one attempt ---------------------------------------------------------------------
    def _poll(self, c: IMAPClient, state: FolderState, stop: threading.Event,
              report: FolderReport) -> None:
        cur = state.cursor
        caps = set(c.capabilities())
        condstore = b"CONDSTORE" in caps
        what = ["MESSAGES", "UIDNEXT", "UIDVALIDITY"] + (["HIGHESTMODSEQ"] if condstore else [])
        st = c.folder_status(state.folder, what)
        report.status_calls += 1
        uidvalidity, uidnext = int(st[b"UIDVALIDITY"]), int(st[b"UIDNEXT"])
        modseq = int(st[b"HIGHESTMODSEQ"]) if b"HIGHESTMODSEQ" in st else None
        if (cur.uidvalidity == uidvalidity and cur.uidnext == uidnext
                and cur.acted_uid >= cur.last_uid
                and (self.action == "none" or not state.actions_due())):
            report.idle = True
            state.save(highest_modseq=modseq, messages=int(st[b"MESSAGES"]),
                       server_uidnext=uidnext)
            return
        sel = c.select_folder(state.folder, readonly=self.action == "none")
        report.selects += 1
        uidvalidity = int(sel[b"UIDVALIDITY"])
        uidnext = int(sel.get(b"UIDNEXT", uidnext))
        state.save(server_uidnext=uidnext, messages=int(st[b"MESSAGES"]))
        if cur.uidvalidity is not None and cur.uidvalidity != uidvalidity:
            log.warning("%s/%s: UIDVALIDITY changed %s -> %s; resyncing by content hash",
                        state.mailbox, state.folder, cur.uidvalidity, uidvalidity)
            report.resync = True
            state.reset(uidvalidity)
        elif cur.uidvalidity is None:
            state.save(uidvalidity=uidvalidity)
        if cur.acted_uid < cur.last_uid:  # a crash came between a commit and its post-action
            self._act(c, caps, state.stored_uids(cur.acted_uid, cur.last_uid), report,
                      state=state)
            state.save(acted_uid=cur.last_uid)
        if self.action != "none":  # post-actions that failed before, when their time has come
            self._act(c, caps, state.actions_due(), report, state=state, retry=True)
        top = uidnext - 1
        if top > cur.last_uid and not self._fetch_new(c, caps, state, top, stop, report):
            return  # stopping: the cursor says how far we got
        state.save(uidnext=uidnext, highest_modseq=modseq, messages=int(st[b"MESSAGES"]))

    def _fetch_new(self, c: IMAPClient, caps: set[bytes], state: FolderState, top: int,
                   stop: threading.Event, report: FolderReport) -> bool:
        """Search, read envelopes, fetch and store bodies, act; False when told to stop."""
        low = state.cursor.last_uid + 1
        crit = search_criteria(low, top, self.selector.domains, self.cfg.since,
                               self.selector.subjects)
        uids = sorted(u for u in c.search(crit) if low <= u <= top)
        report.searches += 1
        report.candidates += len(uids)
        for chunk in chunks(uids):
            if stop.is_set():
                return False
            meta = c.fetch(chunk, ["ENVELOPE", "RFC822.SIZE", "INTERNALDATE"])
            report.fetch_commands += 1
            sizes = {u: int(meta[u].get(b"RFC822.SIZE", 0)) for u in chunk if u in meta}
            wants = {u: self.selector.wants(meta[u].get(b"ENVELOPE")) for u in sizes}
            undecided = [u for u, w in wants.items() if w is None and sizes[u] <= self.max_bytes]
            if undecided:  # the company's own mail: its attachments decide
                structures = c.fetch(undecided, ["BODYSTRUCTURE"])
                report.fetch_commands += 1
                for u in undecided:
                    wants[u] = self.selector.wants_structure(
                        structures.get(u, {}).get(b"BODYSTRUCTURE"))
            wanted = []
            for u in chunk:
                if u not in meta:
                    continue  # expunged meanwhile
                if sizes[u] > self.max_bytes:
                    # Left on the server untouched (no post-action), and said where people look.
                    note = (f"{state.mailbox}/{state.folder} UID {u}: {sizes[u]:,} bytes, over "
                            f"limits.max_message_bytes; left unread on the server")
                    report.notes.append(note)
                    log.warning(note)
                elif wants[u]:
                    wanted.append(u)
            dates = {u: meta[u].get(b"INTERNALDATE") for u in wanted}
            done: list[int] = []
            for batch in self._batches(sizes, wanted):
                if stop.is_set():  # at a message boundary: what is stored is kept and acted on
                    if done:
                        self._act(c, caps, done, report, state=state)
                        state.save(acted_uid=max(done))
                    return False
                started = time.monotonic()
                bodies = c.fetch(batch, ["BODY.PEEK[]"])
                self._measure(sum(sizes[u] for u in batch), time.monotonic() - started)
                report.fetch_commands += 1
                got = [(u, bodies[u][b"BODY[]"]) for u in batch if u in bodies
                       and bodies[u].get(b"BODY[]") is not None]
                report.fetched += len(got)
                for part in chunks([u for u, _ in got], STORE_BATCH):
                    items = [(u, raw) for u, raw in got if u in set(part)]
                    new = state.store_batch(items, dates=dates)
                    report.stored += new
                    report.known += len(items) - new
                    done.extend(part)
            state.store_batch([], upto=chunk[-1])
            self._act(c, caps, done, report, state=state)
            state.save(acted_uid=chunk[-1])
        state.store_batch([], upto=top)
        state.save(acted_uid=top)
        return True

    def _batches(self, sizes: dict[int, int], uids: list[int]) -> Iterator[list[int]]:
        """Body FETCHes sized to the link: about FETCH_SECONDS each, so a stop is quick."""
        todo = list(uids)
        while todo:
            if self.rate is None:
                limit = FIRST_FETCH  # the first FETCH measures the link
            else:
                limit = int(min(FETCH_BYTES, max(FETCH_FLOOR, self.rate * FETCH_SECONDS)))
            batch = next(size_batches(sizes, todo, limit))
            todo = todo[len(batch):]
            yield batch

    def _measure(self, size: int, seconds: float) -> None:
        """The link's speed, from a FETCH big enough to tell."""
        if size >= 64 * 1024 and seconds > 0:
            self.rate = size / seconds

    def _act(self, c: IMAPClient, caps: set[bytes], uids: list[int], report: FolderReport,
             gmail: bool | None = None, *, state: FolderState | None = None,
             retry: bool = False) -> None:
        """The post-action, only on messages already committed to the store.

        A server's refusal (NO / BAD) is recorded on the messages and retried later with
        backoff; it never stops the folder from being read. A dropped connection propagates.
        """
        if not uids or self.action == "none":
            return
        gmail = b"X-GM-EXT-1" in caps if gmail is None else gmail
        for part in chunks(uids):
            try:
                if self.action == "flag":
                    c.add_flags(part, [self.argument], silent=True)
                elif self.action == "label":
                    if gmail:
                        c.add_gmail_labels(part, [self.argument], silent=True)
                    else:
                        c.add_flags(part, [_keyword(self.argument or "")], silent=True)
                elif self.action == "move":
                    self._move(c, caps, part)
            except (imaplib.IMAP4.error, MailboxError) as exc:
                if isinstance(exc, DROPPED) or state is None:
                    raise
                error = f"{self.cfg.after}: {type(exc).__name__}: {_text(str(exc))}"
                state.action_failed(part, error)
                report.action_failures += len(part)
                report.notes.append(f"{state.mailbox}/{state.folder}: post-action failed for "
                                    f"{len(part)} message(s), retried later: {error}")
                log.warning("%s", report.notes[-1])
                continue
            if retry and state is not None:
                state.action_done(part)
            report.acted += len(part)

    def _move_target(self, c: IMAPClient, caps: set[bytes]) -> str:
        """The move target resolved against the server's personal namespace, created once."""
        if self.target is not None:
            return self.target
        personal: list[tuple[str, str]] | None = None
        if b"NAMESPACE" in caps:
            ns = c.namespace()
            personal = [(_text(p), _text(d)) for p, d in (ns.personal or [])]
        target = resolve_folder(self.argument or "", personal)
        if not c.folder_exists(target):
            try:
                c.create_folder(target)
            except imaplib.IMAP4.error:
                if not c.folder_exists(target):
                    raise
        self.target = target
        return target

    def _move(self, c: IMAPClient, caps: set[bytes], uids: list[int]) -> None:
        """MOVE when offered; else COPY, flag \\Deleted and expunge only those UIDs, where the
        server can (UIDPLUS, IMAP4rev2); else leave them flagged: never a plain EXPUNGE, which
        would remove every message anyone flagged \\Deleted in the folder."""
        target = self._move_target(c, caps)
        if b"MOVE" in caps:
            c.move(uids, target)
            return
        c.copy(uids, target)
        c.add_flags(uids, [b"\\Deleted"], silent=True)
        if b"UIDPLUS" in caps:
            c.uid_expunge(uids)
        elif b"IMAP4REV2" in caps:
            c._command_and_check("expunge", join_message_ids(uids), uid=True)
        else:
            _once(self.name, "no-uidplus",
                  f"the server offers neither MOVE nor UIDPLUS: moved messages are copied to "
                  f"{target} and flagged \\Deleted in the source folder, not expunged (confere "
                  "never sends a plain EXPUNGE; your mail client's expunge removes them)")


def _keyword(name: str) -> str:
    """A label name as an IMAP keyword (atom characters only) for servers without labels."""
    atom = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "$_-.") else "_" for ch in name)
    return atom or "$confere"


@contextlib.contextmanager
def _abandon_on_stop(client: IMAPClient, stop: threading.Event,
                     grace: float = STOP_GRACE) -> Iterator[None]:
    """While a folder is polled: once told to stop, give a FETCH `grace` seconds to end at a
    message boundary, then cut the socket (what is stored stays; the rest comes next time)."""
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if stop.wait(0.2):
                if not done.wait(grace):
                    log.info("stopping: abandoning a download in progress")
                    with contextlib.suppress(Exception):
                        client.shutdown()
                return

    thread = threading.Thread(target=watch, name="confere-stop-watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()


__all__ = ["DROPPED", "ImapSource", "MailboxError", "connect", "parse_after", "resolve_folder"]
