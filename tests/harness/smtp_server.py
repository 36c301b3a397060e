"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, keeping every message it accepts."""

from __future__ import annotations

import collections
import contextlib
import email
import email.policy
import logging
import socket
import ssl
import threading
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from conftest import DEMO_CONFIG
from harness import logs

USERNAME = "alertas@example.com.br"
PASSWORD = "s3nha-de-teste"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Received:
    """One accepted message: envelope and parsed content."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    login: str | None


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp, session, envelope) -> str:  # aiosmtpd calls it so
        msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                       policy=email.policy.default)
        login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        with self.server.lock:
            self.server.received.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos),
                                                 msg, login))  # type: ignore[arg-type]
        return "250 OK queued"


def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    if isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(), auth_data.password.decode()) == (USERNAME, PASSWORD):
        return AuthResult(success=True, auth_data=auth_data.login)
    return AuthResult(success=False, handled=False)


_AIOSMTPD_LOG = logging.getLogger("mail.log")


class _ListHandler(logging.Handler):
    """Keeps formatted records in a bounded list (the server's log, for failure reports)."""

    def __init__(self, lines: collections.deque[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class SmtpServer:
    """aiosmtpd's controller on a loopback port; `received` holds what it accepted."""

    def __init__(self, port: int | None = None, *, tls: ssl.SSLContext | None = None,
                 starttls: ssl.SSLContext | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.log: collections.deque[str] = collections.deque(maxlen=300)
        self._handler = _ListHandler(self.log)
        extra: dict = {}
        if starttls is not None:  # STARTTLS required before AUTH and MAIL
            extra = {"tls_context": starttls, "require_starttls": True}
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                     authenticator=_authenticate,
                                     auth_require_tls=starttls is not None, ready_timeout=10,
                                     ssl_context=tls, **extra)

    def start(self) -> SmtpServer:
        """Listen (returns when the server answers); aiosmtpd's log goes to failure reports."""
        self.log.clear()
        _AIOSMTPD_LOG.setLevel(logging.INFO)  # its sessions and commands, not DEBUG chatter
        _AIOSMTPD_LOG.addHandler(self._handler)
        logs.register(f"smtp 127.0.0.1:{self.port}", self.log_text)
        try:
            self.controller.start()
        except Exception as exc:
            self.stop()
            raise RuntimeError(f"aiosmtpd did not start on port {self.port}: {exc}\n"
                               f"{self.log_text()}") from exc
        return self

    def stop(self) -> None:
        """Stop listening."""
        logs.unregister(f"smtp 127.0.0.1:{self.port}")
        _AIOSMTPD_LOG.removeHandler(self._handler)
        with contextlib.suppress(Exception):  # never started: nothing to stop
            self.controller.stop()

    def log_text(self) -> str:
        """What aiosmtpd logged while this server ran (sessions, commands, errors)."""
        return "\n".join(self.log)

    def messages(self) -> list[EmailMessage]:
        """The messages accepted so far, in order."""
        with self.lock:
            return [r.message for r in self.received]

    def clear(self) -> None:
        """Forget what was received (between tests sharing the server)."""
        with self.lock:
            self.received.clear()


# The demo configuration of conftest, with a contract of the test's choosing and SMTP alerts.
CONFIG = (DEMO_CONFIG
          .replace('number = "261074"', 'number = "{contract}"\n{contract_extra}')
          .replace('"{db}"', '"sqlite:///{tmp}/confere.db"')
          .replace('"{blobs}"', '"{tmp}/blobs"')) + """\
[alerts]
smtp_host = "127.0.0.1"
smtp_port = {port}
security = "{security}"
username = "{username}"
password_env = "CONFERE_TEST_SMTP_PASSWORD"
sender = "confere <alertas@example.com.br>"
to = ["financeiro@example.com.br", "diretoria@example.com.br"]
backoff = {backoff}
max_attempts = 3
arrival_max_age_days = {max_age}
{alerts_extra}
"""

ENV = {"CONFERE_TEST_SMTP_PASSWORD": PASSWORD}


def write_config(tmp, port: int, *, contract: str = "261074", contract_extra: str = "",
                 alerts_extra: str = "", backoff: float = 0, security: str = "plain",
                 max_age: int = 0):
    """A confere.toml on a fresh SQLite store in tmp, sending alerts to 127.0.0.1:port.

    The fixtures' bills are months old: max_age 0 announces them all the same (the first-import
    filter off); a test of that filter gives a number of days.
    """
    path = tmp / "confere.toml"
    path.write_text(CONFIG.format(tmp=tmp, port=port, contract=contract,
                                  contract_extra=contract_extra, alerts_extra=alerts_extra,
                                  username=USERNAME, backoff=backoff, security=security,
                                  max_age=max_age),
                    encoding="utf-8")
    return path


def self_signed(directory) -> tuple[ssl.SSLContext, str]:
    """A server TLS context for 127.0.0.1 and the path of its certificate, to trust as a CA."""
    from datetime import UTC, datetime, timedelta
    from ipaddress import IPv4Address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context, str(cert_path)
