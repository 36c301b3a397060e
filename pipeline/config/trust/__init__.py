"""Trust for NFS-e signatures: the shipped CA bundles, extra CAs and who issues notes where."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from parsers import cnpj as cnpj_rules
from parsers.errors import ConfigError

ICP_BUNDLE = "icp-brasil.pem"  # ICP-Brasil roots and the RFB intermediates (e-CNPJ signers)
WEB_BUNDLE = "web-nfse.pem"  # public web CAs, for the national system's *.nfse.gov.br only
ISSUERS = "issuers.toml"
NATIONAL_DOMAIN = "nfse.gov.br"
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


@dataclass(frozen=True)
class Authority:
    """A government that issues NFS-e for a municipality (IBGE code), by its CNPJs."""

    municipality: str
    name: str
    cnpjs: tuple[str, ...]


@dataclass(frozen=True)
class TrustStore:
    """Certificates (DER) split by what they may vouch for, and the issuing authorities."""

    icp_roots: tuple[bytes, ...]
    icp_intermediates: tuple[bytes, ...]
    web_roots: tuple[bytes, ...]
    web_intermediates: tuple[bytes, ...]
    extra_roots: tuple[bytes, ...] = ()  # [authenticity] signature_cas: trusted for every role
    extra_intermediates: tuple[bytes, ...] = ()
    authorities: dict[str, Authority] = field(default_factory=dict)

    def authority(self, municipality: str | None) -> Authority | None:
        """The issuing authority of a municipality, if one is known."""
        return self.authorities.get((municipality or "").strip())


def read_pems(data: bytes, source: str) -> list[x509.Certificate]:
    """Every certificate in a PEM text; a file with none is a configuration error."""
    certs = []
    for block in _PEM.findall(data):
        try:
            certs.append(x509.load_pem_x509_certificate(block))
        except ValueError as exc:
            raise ConfigError(f"{source}: a certificate could not be read ({exc})") from None
    if not certs:
        raise ConfigError(f"{source}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it")
    return certs


def _split(certs: list[x509.Certificate]) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """(self-signed roots, the rest) as DER."""
    roots = tuple(c.public_bytes(Encoding.DER) for c in certs if c.subject == c.issuer)
    rest = tuple(c.public_bytes(Encoding.DER) for c in certs if c.subject != c.issuer)
    return roots, rest


def _shipped(name: str) -> bytes:
    return resources.files(__package__).joinpath(name).read_bytes()


def _authorities(data: dict, source: str) -> dict[str, Authority]:
    out = {}
    for code, entry in data.get("municipalities", {}).items():
        cnpjs = tuple(cnpj_rules.normalize(c) for c in entry.get("cnpjs", []))
        out[str(code)] = Authority(str(code), entry.get("name", str(code)), cnpjs)
    if not out:
        raise ConfigError(f"{source}: no [municipalities.CODE] entries")
    return out


@lru_cache(maxsize=1)
def shipped_trust() -> TrustStore:
    """The bundles and the issuing-authority table shipped with confere."""
    icp_roots, icp_mid = _split(read_pems(_shipped(ICP_BUNDLE), ICP_BUNDLE))
    web_roots, web_mid = _split(read_pems(_shipped(WEB_BUNDLE), WEB_BUNDLE))
    table = tomllib.loads(_shipped(ISSUERS).decode("utf-8"))
    return TrustStore(icp_roots, icp_mid, web_roots, web_mid,
                      authorities=_authorities(table, ISSUERS))


def build_trust(signature_cas: list[str], issuers: dict[str, list[str]],
                base_dir: Path) -> TrustStore:
    """The shipped trust plus the config's extra CAs (paths relative to the config file)."""
    base = shipped_trust()
    extra: list[x509.Certificate] = []
    for name in signature_cas:
        path = Path(name) if Path(name).is_absolute() else base_dir / name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"authenticity.signature_cas: cannot read {path}: "
                              f"{exc.strerror}; give a PEM file (relative to the config "
                              "file's folder)") from None
        extra += read_pems(data, f"authenticity.signature_cas: {path}")
    roots, mids = _split(extra)
    authorities = dict(base.authorities)
    for code, cnpjs in issuers.items():
        known = authorities.get(code)
        added = tuple(cnpj_rules.normalize(c) for c in cnpjs)
        authorities[code] = Authority(code, known.name if known else f"município {code}",
                                      tuple(dict.fromkeys((known.cnpjs if known else ()) + added)))
    return TrustStore(base.icp_roots, base.icp_intermediates, base.web_roots,
                      base.web_intermediates, roots, mids, authorities)
