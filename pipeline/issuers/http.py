"""What both issuer clients share: mutual TLS from a PKCS#12, a per-host rate limit, retries."""

from __future__ import annotations

import os
import secrets
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
    pkcs12,
)
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from parsers.errors import CertificateError, IssuerUnavailable

T = TypeVar("T")








def client_identity(path: str, password_env: str | None) -> ssl.SSLContext:
    """A TLS context presenting the company's e-CNPJ from a PKCS#12 file; the password from env."""
    password = None
    if password_env:
        value = os.environ.get(password_env)
        if value is None:
            raise CertificateError(f"the certificate password variable ${password_env} is not set")
        password = value.encode()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CertificateError(f"cannot read the certificate {path}: {exc.strerror}") from None
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password)
    except ValueError:
        raise CertificateError(f"cannot open the certificate {path}: wrong password "
                               "or not a PKCS#12 file") from None
    if key is None or cert is None:
        raise CertificateError(f"{path} holds no private key and certificate")
    ctx = ssl.create_default_context()
    # ssl can only load a key from a file: write it encrypted with a one-time password.
    once = secrets.token_hex(16).encode()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(once))
    chain = cert.public_bytes(Encoding.PEM) + b"".join(
        c.public_bytes(Encoding.PEM) for c in extra or [])
    with tempfile.TemporaryDirectory(prefix="confere-tls-") as tmp:
        cert_file, key_file = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert_file.write_bytes(chain)
        key_file.write_bytes(pem)
        ctx.load_cert_chain(cert_file, key_file, password=once)
    return ctx


def tls_context(pkcs12_path: str, password_env: str | None, ca_bundle: str | None
                ) -> ssl.SSLContext:
    """Verification on (system CAs plus an optional extra bundle) with our client certificate."""
    ctx = client_identity(pkcs12_path, password_env)
    if ca_bundle:
        try:
            ctx.load_verify_locations(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise CertificateError(f"cannot read authenticity.ca_bundle {ca_bundle}: {exc}"
                                   ) from None
    return ctx


class RateLimiter:
    """At most one call per `interval` seconds to each host, across threads."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = interval
        self.clock, self.sleep = clock, sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, host: str) -> None:
        """Block until a call to host is allowed, and book the slot."""
        with self._lock:
            now = self.clock()
            start = max(now, self._next.get(host, now))
            self._next[host] = start + self.interval
        if start > now:
            self.sleep(start - now)


LIMITER = RateLimiter(1.0)


def describe_transport_error(exc: httpx.TransportError, timeout: float) -> str:
    """Words for a failed request, telling a refused client certificate from a dead server."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s ({type(exc).__name__})"
    lowered = text.lower()
    if any(w in lowered for w in ("certificate", "handshake", "alert", "tlsv1", "ssl")):
        if "certificate verify failed" in lowered:
            return f"the server's certificate is not trusted ({text}): check authenticity.ca_bundle"
        return (f"the TLS handshake failed ({text}): the server did not accept our client "
                "certificate; check authenticity.pkcs12 (the company's e-CNPJ A1)")
    return f"cannot reach the server ({text})"


def with_retries(call: Callable[[], T], attempts: int, backoff: float) -> T:
    """Run call, retrying IssuerUnavailable with exponential backoff; the last error is raised."""
    retrying = Retrying(stop=stop_after_attempt(attempts),
                        wait=wait_exponential(multiplier=backoff, max=max(backoff * 8, 0.0)),
                        retry=retry_if_exception_type(IssuerUnavailable), reraise=True)
    return retrying(call)


def request(client: httpx.Client, method: str, url: str, *, limiter: RateLimiter,
            timeout: float, **kwargs: object) -> httpx.Response:
    """One rate-limited request; network trouble and 5xx become IssuerUnavailable."""
    limiter.wait(httpx.URL(url).host)
    try:
        response = client.request(method, url, **kwargs)  # type: ignore[arg-type]
    except httpx.TransportError as exc:
        message = describe_transport_error(exc, timeout)
        if "client certificate" in message:
            raise CertificateError(message) from None
        raise IssuerUnavailable(message) from None
    if response.status_code in (502, 503, 504) or (
            response.status_code >= 500 and b"Fault>" not in response.content):
        raise IssuerUnavailable(f"the server answered HTTP {response.status_code}")
    return response
