"""Who signed an NFS-e and may they: the signer's chain at signing time, then its role.

The chain is validated by pyhanko-certvalidator (path building, signatures, validity at the
note's signing time, key usage), offline: no AIA fetching, no revocation look-ups. The roles:
the provider (same CNPJ root), the government of the municipality that issued the note (the
issuing-authority table), or the national NFS-e system (a *.nfse.gov.br certificate, validated
against the public web roots only).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    InvalidCertificateError,
    PathBuildingError,
    PathValidationError,
    ValidationError,
)
from pyhanko_certvalidator.registry import CertificateRegistry, SimpleTrustManager

from parsers import cnpj as cnpj_rules
from parsers.nfse import Nfse
from parsers.xmldsig import SignatureResult
from pipeline.config.trust import NATIONAL_DOMAIN, TrustStore
from pipeline.vocabulary import Outcome

MAX_CHAIN = 10
HOW_TO_ADD = ("if this signer may sign this note, add its government's CNPJ to "
              "[authenticity.issuers] (\"IBGE code\" = [\"CNPJ\"]), or its CA to "
              "[authenticity] signature_cas")


@dataclass(frozen=True)
class SignerJudgement:
    """One signature's signer: the outcome for the check and a line saying who and why."""

    outcome: Outcome
    detail: str


def _name(der: bytes) -> str:
    cert = x509.load_der_x509_certificate(der)
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(cn[0].value) if cn else cert.subject.rfc4514_string()


def is_national(result: SignatureResult) -> bool:
    """The certificate names a host of the national NFS-e system (*.nfse.gov.br)."""
    return any(n == NATIONAL_DOMAIN or n.endswith("." + NATIONAL_DOMAIN)
               for n in result.signer_dns)


def _when(result: SignatureResult) -> datetime:
    if result.signed_at:
        try:
            return datetime.fromisoformat(result.signed_at)
        except ValueError:
            pass
    return datetime.now(UTC)


_LOOP: tuple[int, asyncio.AbstractEventLoop] | None = None  # (pid, loop): one per process


def _loop() -> asyncio.AbstractEventLoop:
    """This process's event loop for the validator (a new loop per note cost ~0.5 ms)."""
    global _LOOP
    if _LOOP is None or _LOOP[0] != os.getpid() or _LOOP[1].is_closed():
        _LOOP = (os.getpid(), asyncio.new_event_loop())
    return _LOOP[1]


def _run(coro):
    """Run a coroutine to the end, also when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _loop().run_until_complete(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@lru_cache(maxsize=512)
def _asn1(der: bytes) -> asn1_x509.Certificate:
    """A certificate parsed once (the bundle's are reused for every note)."""
    return asn1_x509.Certificate.load(der)


@lru_cache(maxsize=64)
def _registry(roots: tuple[bytes, ...], others: tuple[bytes, ...]
              ) -> tuple[SimpleTrustManager, CertificateRegistry]:
    """The trust roots and the certificates a path may use, indexed once per distinct set
    (indexing ~30 certificates cost ~3 ms a note). Exactly the set the note's own context
    would hold: the key is every certificate in it, the note's own chain included; nothing
    is added to it while validating (fetching is off), and the validation time is the note's.
    """
    manager = SimpleTrustManager.build(trust_roots=[_asn1(r) for r in roots])
    registry = CertificateRegistry.build([_asn1(o) for o in others])
    for root in manager.iter_certs():
        registry.register(root)
    return manager, registry


# Chains found valid, by (leaf, roots, other certificates): the span of time in which every
# certificate on the path is valid. Offline validation (no fetching, no revocation) of the same
# certificates differs from one moment to another only by their validity periods, so a note
# signed inside the span is valid as the first one was; outside it, the chain is validated
# again. A vendor signs a year of notes with one certificate: one validation, not one a note.
_VALID: dict[tuple[bytes, tuple[bytes, ...], tuple[bytes, ...]], tuple[datetime, datetime]] = {}


def _validate(leaf: bytes, roots: tuple[bytes, ...], others: tuple[bytes, ...],
              when: datetime) -> tuple[str, str]:
    """("ok", "") when the leaf chains to one of `roots` at `when`; else ("build", why) when
    no path could be built (maybe an unknown intermediate), ("invalid", why) when a path
    was found and does not hold, ("error", why) when the validator could not decide."""
    key = (leaf, roots, others)
    window = _VALID.get(key)
    if window is not None and when.tzinfo is not None and window[0] <= when <= window[1]:
        return "ok", ""
    try:
        manager, registry = _registry(roots, others)
        context = ValidationContext(
            trust_manager=manager, certificate_registry=registry,
            moment=when, allow_fetching=False, revocation_mode="soft-fail")
        validator = CertificateValidator(_asn1(leaf), validation_context=context)
        path = _run(validator.async_validate_usage({"digital_signature"}))
        if len(_VALID) >= 256:
            _VALID.clear()
        certs = list(path.iter_certs(include_root=True))
        _VALID[key] = (max(c.not_valid_before for c in certs),
                       min(c.not_valid_after for c in certs))
    except PathBuildingError as exc:
        return "build", str(exc)
    except (PathValidationError, InvalidCertificateError, ValidationError) as exc:
        return "invalid", str(exc)
    except Exception as exc:  # an odd certificate must not crash the bill nor block it
        return "error", f"the certificate could not be validated ({type(exc).__name__}: {exc})"
    return "ok", ""


def _why_no_path(chain: tuple[bytes, ...], roots: tuple[bytes, ...],
                 others: tuple[bytes, ...]) -> tuple[Outcome, str]:
    """No path to a trusted root: an untrusted self-signed end (fail) or a missing link."""
    known = [x509.load_der_x509_certificate(d) for d in (*chain, *others, *roots)]
    root_set = set(roots)
    current = x509.load_der_x509_certificate(chain[0])
    for _ in range(MAX_CHAIN):
        if current.subject == current.issuer:
            shown = current.subject.rfc4514_string()
            if current.public_bytes(Encoding.DER) in root_set:
                return Outcome.FAIL, (f"its chain names the trusted {shown} but the signatures "
                                      "along it do not verify")
            first = " is self-signed" if current.public_bytes(Encoding.DER) == chain[0] else \
                f" chains to the self-signed {shown}"
            return Outcome.FAIL, f"the certificate{first}, which is not a trusted CA"
        parents = [c for c in known if c.subject == current.issuer and c is not current]
        if not parents:
            return Outcome.UNKNOWN, (f"its issuer {current.issuer.rfc4514_string()} is not a "
                                     "known CA (an intermediate is missing; add it to "
                                     "[authenticity] signature_cas if it is genuine)")
        current = parents[0]
    return Outcome.UNKNOWN, "its chain is too long to follow"


def _same_party(signer: str, provider: str) -> bool:
    """A company by its CNPJ root; a person (CPF, 11 digits) only by the whole number."""
    if len(signer) == 11 or len(provider) == 11:
        return signer == provider
    return cnpj_rules.same_company(signer, provider)


def judge(result: SignatureResult, nfse: Nfse | None, trust: TrustStore) -> SignerJudgement:
    """Chain at signing time, then role: provider, issuing authority or national system."""
    if not result.certificates:
        return SignerJudgement(Outcome.FAIL, "no certificate in the signature")
    leaf, chain = result.certificates[0], result.certificates
    who = result.signer_cn or _name(leaf)
    when = _when(result)
    national = is_national(result)
    if national:  # public web PKI, for this one name only
        roots = trust.web_roots + trust.extra_roots
        others = trust.web_intermediates + trust.extra_intermediates + chain[1:]
    else:  # ICP-Brasil (e-CNPJ)
        roots = trust.icp_roots + trust.extra_roots
        others = trust.icp_intermediates + trust.extra_intermediates + chain[1:]
    at = when.date().isoformat()
    cert = x509.load_der_x509_certificate(leaf)
    if cert.subject == cert.issuer and leaf not in roots:
        return SignerJudgement(Outcome.FAIL, (
            f"signer {who}: the certificate is self-signed, so no CA vouches for the name or "
            "CNPJ it claims (anyone can make one)"))
    kind, problem = _validate(leaf, roots, others, when)
    if kind != "ok":
        if kind == "build":
            outcome, why = _why_no_path(chain, roots, others)
        else:
            outcome, why = (Outcome.FAIL if kind == "invalid" else Outcome.UNKNOWN), problem
        return SignerJudgement(outcome, f"signer {who}: {why} (checked at {at})")
    issuer = cert.issuer
    issuer_cn = issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    via = f"chain via {issuer_cn[0].value if issuer_cn else issuer.rfc4514_string()} valid " \
          f"on {at}"
    if national:
        return SignerJudgement(Outcome.PASS, f"{who} signed as the national NFS-e system ({via})")
    signer = result.signer_cnpj
    provider = nfse.provider_cnpj if nfse else None
    if signer and provider and _same_party(signer, provider):
        return SignerJudgement(Outcome.PASS, f"{who} signed as the provider ({via})")
    for code in (nfse.issuer_municipalities if nfse else ()):
        authority = trust.authority(code)
        if signer and authority and any(_same_party(signer, c) for c in authority.cnpjs):
            return SignerJudgement(Outcome.PASS, f"{who} signed as the issuing authority of "
                                   f"{authority.name} ({code}) ({via})")
    shown = cnpj_rules.format_cnpj(signer) if signer and len(signer) == 14 else (
        f"CPF {signer}" if signer else "no CNPJ")
    return SignerJudgement(Outcome.UNKNOWN, (
        f"{who} ({shown}) holds a valid certificate ({via}) but is neither the provider nor "
        f"an issuing authority of the note's municipality; {HOW_TO_ADD}"))
