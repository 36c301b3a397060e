"""A throwaway Dovecot IMAP server for tests: own config, loopback port, maildir users."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from harness import logs
from harness.pgcluster import free_port

# The fixtures' test root and intermediates, trusted for NFS-e signatures in test configs.
TEST_CAS = Path(__file__).resolve().parents[2] / "fixtures" / "keys" / "test-cas.pem"

MAIL_ID = 65534  # nobody / nogroup: the mail storage owner when running as root

CONF = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
shutdown_clients = yes
mail_location = maildir:~/Maildir
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = 0
first_valid_gid = 0
mail_privileged_group =
protocol imap {{
  mail_max_userip_connections = 200
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  process_min_avail = 1
}}
service anvil {{
  chroot =
}}
service auth {{
  unix_listener auth-userdb {{
    mode = 0666
  }}
}}
passdb {{
  driver = static
  args = password=secret
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u allow_all_users=yes
}}
"""


NAMESPACE = """\
namespace inbox {{
  inbox = yes
  prefix = {prefix}
  separator = {separator}
}}
"""


def _running(pid: int) -> bool:
    """Whether the process runs: an exited one waits as a zombie until PID 1 reaps it, which
    here takes seconds."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _forget(pidfile: Path, pid: int) -> None:
    """Remove the pid file of an exited master: while its zombie waits to be reaped, a new
    start would take it for a running Dovecot."""
    deadline = time.monotonic() + 10
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    pidfile.unlink(missing_ok=True)


class Dovecot:
    """One running Dovecot; any user name logs in with the password "secret" (static passdb).

    Options make it look like other servers: `without` removes capabilities it advertises
    (MOVE, UIDPLUS: an older server), `prefix` / `separator` set its personal namespace
    ("INBOX." and "." is how Cyrus and Courier lay folders out).
    """

    host = "127.0.0.1"

    def __init__(self, root: Path, *, without: tuple[str, ...] = (), prefix: str = "",
                 separator: str | None = None) -> None:
        self.root = root
        self.port = free_port()
        self.conf = root / "dovecot.conf"
        root_user = os.getuid() == 0
        self.uid = MAIL_ID if root_user else os.getuid()
        self.gid = MAIL_ID if root_user else os.getgid()
        for sub in ("run", "state", "home"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.without = tuple(c.upper() for c in without)
        text = CONF.format(root=root, port=self.port, uid=self.uid, gid=self.gid)
        if prefix or separator:
            text += NAMESPACE.format(prefix=prefix, separator=separator or ".")
        self.conf.write_text(text)
        self._users: set[str] = set()
        self._trimmed = not self.without

    def capabilities(self) -> list[str]:
        """What the running server advertises after login."""
        import imaplib

        conn = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            conn.login("probe", "secret")
            _typ, data = conn.capability()
            return data[0].decode().split()
        finally:
            conn.logout()

    def start(self) -> None:
        """Start the server and wait until it greets on its port."""
        self._start()
        if not self._trimmed:  # learn the default list, then advertise it without `without`
            keep = [c for c in self.capabilities() if c.upper() not in self.without]
            with self.conf.open("a") as fh:
                fh.write(f"imap_capability = {' '.join(keep)}\n")
            self._trimmed = True
            self.kill()  # no client yet: no need to wait seconds for a clean shutdown
            self.start()

    def _start(self) -> None:
        # dovecot forks into the background and keeps its std streams: a file, not a pipe.
        with (self.root / "dovecot.stderr").open("ab") as stderr:
            done = subprocess.run(["dovecot", "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=stderr)
        if done.returncode != 0:
            raise RuntimeError(f"dovecot exited {done.returncode}; log:\n{self.log()}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=2) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not start; log:\n{self.log()}")

    def _master(self) -> tuple[Path, int] | None:
        """The running master's pid file and pid, None when there is none."""
        pidfile = self.root / "run" / "master.pid"
        try:
            return pidfile, int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _wait_port_free(self, deadline: float, pause: float) -> None:
        """Until the port refuses connections (or the deadline passes)."""
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                time.sleep(pause)
            except OSError:
                return

    def stop(self) -> None:
        """Stop the server (SIGTERM to its master, as doveadm stop does) and wait for the end."""
        if (master := self._master()) is None:
            return
        pidfile, pid = master
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not _running(pid):
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
        _forget(pidfile, pid)
        self._wait_port_free(time.monotonic() + 10, 0.05)

    def kill(self) -> None:
        """SIGKILL the master and every process under it, and wait until the port is free.

        For the end of a test (and a restart with no client): Dovecot's clean shutdown takes
        2 to 8 s, spent in its log process, which nothing here needs."""
        if (found := self._master()) is None:
            return
        pidfile, master = found
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with suppress(OSError, IndexError, ValueError):
                parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        tree, grew = {master}, True
        while grew:
            more = {pid for pid, ppid in parents.items() if ppid in tree} - tree
            tree |= more
            grew = bool(more)
        for pid in tree:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        # Every process, not just the master: a child still dying holds its listening
        # socket (anvil's), and a restart then fails with "Socket already exists".
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_running(pid) for pid in tree):
            time.sleep(0.02)
        _forget(pidfile, master)
        self._wait_port_free(deadline, 0.02)

    def restart(self) -> None:
        """Stop and start again on the same port, with the same mail."""
        self.stop()
        self.start()

    def log(self) -> str:
        """The server's log (for failure messages)."""
        text = ""
        for name in ("dovecot.stderr", "dovecot.log"):
            p = self.root / name
            text += p.read_text(errors="replace") if p.exists() else ""
        return text[-4000:]

    def add_user(self, name: str) -> str:
        """Create a user with an empty INBOX; returns the name."""
        if name not in self._users:
            home = self.root / "home" / name
            for sub in ("cur", "new", "tmp"):
                (home / "Maildir" / sub).mkdir(parents=True, exist_ok=True)
            self._chown(home)
            self._users.add(name)
        return name

    def maildir(self, user: str, folder: str = "INBOX") -> Path:
        """The maildir of a folder (Maildir++ layout: INBOX at the root, others as .Name)."""
        base = self.root / "home" / user / "Maildir"
        if self.prefix and folder.startswith(self.prefix):
            folder = folder[len(self.prefix):]
        return base if folder == "INBOX" else base / ("." + folder.replace("/", "."))

    def seed(self, user: str, messages: list[bytes], folder: str = "INBOX") -> None:
        """Write messages straight into a maildir (fast, for big mailboxes): cur/, seen-less."""
        box = self.maildir(user, folder)
        for sub in ("cur", "new", "tmp"):
            (box / sub).mkdir(parents=True, exist_ok=True)
        stamp = int(time.time())
        for i, raw in enumerate(messages):
            (box / "cur" / f"{stamp}.M{i}P{os.getpid()}.seed,S={len(raw)}:2,").write_bytes(raw)
        self._chown(self.root / "home" / user)

    def doveadm(self, *args: str) -> str:
        """Run a doveadm command against this server's config."""
        proc = subprocess.run(["doveadm", "-c", str(self.conf), *args], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)}: {proc.stderr}")
        return proc.stdout

    def _chown(self, path: Path) -> None:
        if os.getuid() != 0:
            return
        for dirpath, _dirs, files in os.walk(path):
            os.chown(dirpath, self.uid, self.gid)
            for f in files:
                os.chown(os.path.join(dirpath, f), self.uid, self.gid)


@contextmanager
def dovecot_server(**options: object) -> Iterator[Dovecot]:
    """Start one Dovecot under a temp dir (options: see Dovecot), yield it, stop and remove."""
    if shutil.which("dovecot") is None:
        raise RuntimeError("dovecot not found: apt-get install dovecot-imapd")
    root = Path(tempfile.mkdtemp(prefix="confere-dovecot-"))
    os.chmod(root, 0o755)
    server = Dovecot(root, **options)  # type: ignore[arg-type]
    logs.register(f"dovecot {root}", server.log)
    try:
        server.start()
        yield server
    finally:
        server.kill()
        logs.unregister(f"dovecot {root}")
        shutil.rmtree(root, ignore_errors=True)


# -- helpers for the mailbox tests ---------------------------------------------------------------

def message(i: int, sender: str = "faturamento@serpro.gov.br", subject: str | None = None,
            body: str = "", extra_headers: str = "", size: int = 0) -> bytes:
    """A small, unique RFC 5322 message (not a bill: it is judged 'ignored')."""
    subject = subject if subject is not None else f"Aviso {i}"
    filler = ("x" * 76 + "\r\n") * (size // 78) if size else ""
    return (f"From: Faturamento <{sender}>\r\nTo: financeiro@example.com.br\r\n"
            f"Subject: {subject}\r\nMessage-ID: <msg-{i}-{time.time_ns()}@test>\r\n"
            f"Date: Mon, 02 Nov 2026 10:00:00 -0300\r\n{extra_headers}"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Mensagem {i}. {body}\r\n{filler}").encode()


def mailbox_toml(server: Dovecot, user: str, name: str | None = None, *,
                 folders: tuple[str, ...] = ("INBOX",), after: str = "flag", every: str = "1s",
                 password_file: str = "", host: str | None = None, port: int | None = None,
                 timeout: float = 10) -> str:
    """A [[mailboxes]] table for a Dovecot user (security plain: loopback only)."""
    assert (host or server.host) == "127.0.0.1"
    folder_list = ", ".join(f'"{f}"' for f in folders)
    return (f'[[mailboxes]]\nname = "{name or user}"\nhost = "{host or server.host}"\n'
            f"port = {port or server.port}\nsecurity = \"plain\"\nusername = \"{user}\"\n"
            f'password_file = "{password_file}"\nfolders = [{folder_list}]\n'
            f'after = "{after}"\nevery = "{every}"\ntimeout = {timeout}\n')


def write_config(tmp: Path, mailboxes: str, db: str | None = None, daemon: str = "") -> Path:
    """A confere.toml with the demo's company and contract, the given mailboxes and store."""
    secret = tmp / "imap-password"
    secret.write_text("secret\n")
    db = db or f"sqlite:///{tmp / 'confere.db'}"
    text = (f'[database]\nurl = "{db}"\n[storage]\nblobs = "{tmp / "blobs"}"\n'
            '[company]\ncnpjs = ["12345678000195"]\nemail_domains = ["example.com.br"]\n'
            '[vendors.serpro]\nbanks = ["001"]\n[[contracts]]\nvendor = "serpro"\n'
            'number = "261074"\n[limits]\nparse_seconds = 30\nworkers = 1\n'
            # the fixtures' test PKI; more [authenticity] keys go in before [daemon]
            f'[authenticity]\nsignature_cas = ["{TEST_CAS.as_posix()}"]\n'
            f"[daemon]\n{daemon}\n"
            + mailboxes.replace('password_file = ""', f'password_file = "{secret}"'))
    path = tmp / "confere.toml"
    path.write_text(text, encoding="utf-8")
    return path


def imap(server: Dovecot, user: str):
    """A logged-in IMAPClient for a test user (to append, flag, inspect)."""
    from imapclient import IMAPClient

    client = IMAPClient(server.host, server.port, ssl=False, timeout=10)
    client.login(user, "secret")
    return client


class DroppingProxy:
    """A loopback TCP proxy to the server that cuts its first connection after `after` bytes
    sent to the client (a dropped socket in the middle of a FETCH); with `rate`, every
    connection's bytes to the client are throttled to that many per second (a slow link)."""

    def __init__(self, server: Dovecot, after: int | None = None,
                 rate: float | None = None) -> None:
        import threading

        self.target = (server.host, server.port)
        self.after = after
        self.rate = rate
        self.drops = 0
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self._first = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            limit = self.after if self._first else None
            self._first = False
            threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, limit, self.rate),
                             daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, limit: int | None,
              rate: float | None = None) -> None:
        sent = 0
        started = time.monotonic()
        try:
            while True:
                data = src.recv(4096)
                if rate and data:  # hold each chunk until the link's rate allows it
                    ahead = (sent + len(data)) / rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
                if not data:
                    break
                if limit is not None and sent + len(data) > limit:
                    dst.sendall(data[:max(0, limit - sent)])
                    self.drops += 1
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        """Stop accepting."""
        self.listener.close()
