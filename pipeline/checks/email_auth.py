"""The `email.authentication` check: a trusted server's Authentication-Results, else DKIM."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import dkim
from dkim.util import InvalidTagValueList, parse_tag_value

from parsers import Email
from parsers.errors import DnsTrouble
from pipeline.checks.vocabulary import Check

NAME = "email.authentication"
DnsFunc = Callable[..., bytes | None]


@dataclass(frozen=True)
class EmailAuthSettings:
    """What to trust: receiving servers by authserv-id, and how DKIM keys are looked up."""

    trusted_authserv_ids: tuple[str, ...] = ()
    dkim: str = "off"  # off | dns
    dns_servers: tuple[str, ...] = ()
    dns_timeout: float = 5.0
    dkim_keys: Mapping[str, str] = field(default_factory=dict)
    unsigned_email: str = "unknown"  # unknown | fail

    @property
    def dkim_enabled(self) -> bool:
        """DKIM is checked when DNS look-ups are on or some keys are pinned."""
        return self.dkim == "dns" or bool(self.dkim_keys)

    @classmethod
    def from_config(cls, a: object) -> EmailAuthSettings:
        """From the [authenticity] section of the configuration."""
        return cls(tuple(x.lower() for x in a.trusted_authserv_ids), a.dkim,  # type: ignore
                   tuple(a.dns_servers), a.dns_timeout, dict(a.dkim_keys),  # type: ignore
                   a.unsigned_email)  # type: ignore[attr-defined]


def aligned(domain: str | None, from_domain: str | None) -> bool:
    """Relaxed alignment: one domain is the other or a subdomain of it."""
    d, f = (domain or "").lower().rstrip("."), (from_domain or "").lower().rstrip(".")
    return bool(d and f) and (d == f or f.endswith("." + d) or d.endswith("." + f))


@dataclass(frozen=True)
class AuthResults:
    """One Authentication-Results header: who wrote it and each method's results."""

    authserv_id: str
    results: tuple[tuple[str, str, dict[str, str]], ...]  # (method, result, properties)

    def of(self, method: str) -> list[tuple[str, dict[str, str]]]:
        """The results of one method (dkim, spf, dmarc)."""
        return [(r, p) for m, r, p in self.results if m == method]


def parse_auth_results(value: str) -> AuthResults:
    """Parse an RFC 8601 Authentication-Results value (comments dropped)."""
    text = re.sub(r"\([^()]*\)", " ", " ".join(value.split()))
    parts = [p.strip() for p in text.split(";")]
    authserv = parts[0].split()[0].lower() if parts and parts[0].split() else ""
    results = []
    for part in parts[1:]:
        m = re.match(r"([\w.-]+)\s*=\s*([\w-]+)(.*)", part)
        if not m:
            continue
        props = dict((k.lower(), v.strip('"').lower())
                     for k, v in re.findall(r"([\w.-]+\.[\w.-]+)\s*=\s*(\S+)", m.group(3)))
        results.append((m.group(1).lower(), m.group(2).lower(), props))
    return AuthResults(authserv, tuple(results))


def judge_auth_results(ar: AuthResults, from_domain: str) -> Check:
    """pass on DMARC pass or aligned DKIM/SPF pass; fail on DMARC, DKIM or SPF failure."""
    said = ", ".join(f"{m}={r}" for m, r, _p in ar.results) or "nothing"
    where = f"{ar.authserv_id} says {said}"
    if any(r == "pass" for r, _p in ar.of("dmarc")):
        return Check(NAME, "pass", f"{where}: DMARC holds for {from_domain}")
    for r, p in ar.of("dkim"):
        signer = p.get("header.d") or p.get("header.i", "").split("@")[-1]
        if r == "pass" and signer and aligned(signer, from_domain):
            return Check(NAME, "pass", f"{where}: DKIM signed by {from_domain}'s domain")
    for r, p in ar.of("spf"):
        mailfrom = p.get("smtp.mailfrom", "").split("@")[-1]
        if r == "pass" and aligned(mailfrom, from_domain):
            return Check(NAME, "pass", f"{where}: SPF allows {mailfrom}")
    failed = [m for m, r, _p in ar.results if m in ("dmarc", "dkim", "spf")
              and r in ("fail", "permerror", "softfail")]
    if failed:
        return Check(NAME, "fail", f"{where}: the sender {from_domain} is not authenticated "
                     f"({', '.join(dict.fromkeys(failed))} failed): likely a spoofed sender")
    return Check(NAME, "unknown", f"{where}: nothing proves the mail came from {from_domain}")




def make_dnsfunc(settings: EmailAuthSettings) -> DnsFunc:
    """A dkimpy dnsfunc: pinned keys first, then DNS (the configured servers) when enabled."""
    pinned = {k.lower().rstrip("."): v for k, v in settings.dkim_keys.items()}

    def lookup(name: bytes | str, timeout: float = settings.dns_timeout) -> bytes | None:
        n = (name.decode() if isinstance(name, bytes) else name).lower().rstrip(".")
        if n in pinned:
            return pinned[n].encode()
        if settings.dkim != "dns":
            raise DnsTrouble(f"no pinned key for {n} and DNS look-ups are off")
        import dns.exception
        import dns.resolver

        resolver = dns.resolver.Resolver(configure=not settings.dns_servers)
        if settings.dns_servers:
            resolver.nameservers = list(settings.dns_servers)
        resolver.lifetime = settings.dns_timeout
        try:
            answer = resolver.resolve(n, "TXT")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        except dns.exception.DNSException as exc:
            raise DnsTrouble(f"DNS look-up of {n} failed: {type(exc).__name__}") from None
        return b"".join(b"".join(r.strings) for r in answer)

    return lookup


def verify_dkim(raw: bytes, from_domain: str, dnsfunc: DnsFunc, unsigned: str = "unknown"
                ) -> Check:
    """Each DKIM-Signature verified; pass when one holds for the From domain."""
    d = dkim.DKIM(raw)
    sigs = [i for i, (k, _v) in enumerate(d.headers) if k.lower() == b"dkim-signature"]
    if not sigs:
        outcome = "fail" if unsigned == "fail" else "unknown"
        return Check(NAME, outcome, "the message carries no DKIM signature, so nothing proves "
                     f"it came from {from_domain}")
    trouble: list[str] = []

    def guarded(name: bytes, timeout: float = 5) -> bytes | None:
        try:
            return dnsfunc(name, timeout=timeout)
        except DnsTrouble as exc:
            trouble.append(str(exc))
            raise dkim.DnsTimeoutError(str(exc)) from None

    seen = []
    for idx, header_index in enumerate(sigs):
        try:
            tags = parse_tag_value(d.headers[header_index][1])
            signer = tags.get(b"d", b"").decode(errors="replace").lower()
        except InvalidTagValueList:
            signer = "?"
        try:
            ok = d.verify(idx=idx, dnsfunc=guarded)
        except dkim.DKIMException as exc:
            ok = False
            seen.append(f"{signer}: {exc}")
        else:
            seen.append(f"{signer}: {'holds' if ok else 'does not hold'}")
        if ok and aligned(signer, from_domain):
            return Check(NAME, "pass", f"DKIM signature by {signer} holds")
    if trouble and not any("holds" in s for s in seen):
        return Check(NAME, "unknown", f"DKIM could not be checked: {'; '.join(trouble)}")
    return Check(NAME, "fail", f"no valid DKIM signature from {from_domain} "
                 f"({'; '.join(seen)}): likely a spoofed sender")


def check_email(email: Email, raw: bytes | None, settings: EmailAuthSettings | None,
                forwarded: bool = False, dnsfunc: DnsFunc | None = None) -> Check:
    """email.authentication for the message as received.

    For a forwarded bill this judges the forward itself (it must authenticate as coming from
    our own domain): the original inside it cannot be authenticated, and a forged "forward"
    is how an outsider would slip a bill past email.sender_allowed.
    """
    check = _check_received(email, raw, settings or EmailAuthSettings(), dnsfunc)
    if forwarded and check.outcome != "skipped":
        return Check(NAME, check.outcome, f"the forward from {email.from_address}: {check.detail}")
    return check


def _check_received(email: Email, raw: bytes | None, settings: EmailAuthSettings,
                    dnsfunc: DnsFunc | None) -> Check:
    from_domain = email.from_domain or ""
    if settings.trusted_authserv_ids:
        # The receiving server's own header is on top; a forger's are below it.
        for value in email.authentication_results:
            ar = parse_auth_results(value)
            if ar.authserv_id in settings.trusted_authserv_ids:
                return judge_auth_results(ar, from_domain)
    if settings.dkim_enabled and raw is not None:
        return verify_dkim(raw, from_domain, dnsfunc or make_dnsfunc(settings),
                           settings.unsigned_email)
    if settings.trusted_authserv_ids:
        return Check(NAME, "unknown", "no Authentication-Results from a trusted server ("
                     + ", ".join(settings.trusted_authserv_ids) + ")")
    return Check(NAME, "skipped", "not configured: set authenticity.trusted_authserv_ids or "
                 "authenticity.dkim")
