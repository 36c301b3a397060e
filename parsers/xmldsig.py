"""Offline XMLDSig verification of NFS-e files with signxml, and who signed them."""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier
from signxml.exceptions import InvalidInput, InvalidSignature

from parsers.errors import ParseError
from parsers.xmlsafe import local, parse_xml

DS = "http://www.w3.org/2000/09/xmldsig#"
MAX_SIGNATURES = 8
MAX_KEYINFO_CERTS = 8  # a signer and its chain; more is not a real note
ICP_BRASIL_CNPJ_OID = x509.ObjectIdentifier("2.16.76.1.3.3")
ICP_BRASIL_PERSON_OID = x509.ObjectIdentifier("2.16.76.1.3.1")  # e-CPF: birth date + CPF + ...
# NFS-e issuers still sign with RSA-SHA1: allow it explicitly, as xmlsec1 does; nothing else
# (no HMAC, no DSA/ECDSA) is accepted. Inclusive and exclusive c14n are signxml's defaults.
_CONFIG = SignatureConfiguration(
    location="./",
    signature_methods=frozenset({SignatureMethod.RSA_SHA1, SignatureMethod.RSA_SHA256}),
    digest_algorithms=frozenset({DigestAlgorithm.SHA1, DigestAlgorithm.SHA256}),
)
# Where a signed element says when it was signed, most specific first (national, ABRASF).
_SIGNING_TIME_TAGS = ("dhProc", "dhEmi", "DataEmissao")
_BRASILIA = "-03:00"


@dataclass(frozen=True)
class SignatureResult:
    """One signature: what it covers, whether it holds, and the signer."""

    reference: str
    valid: bool
    how: str  # "as stored", "after removing whitespace-only text", or the failure
    signer_cn: str | None
    signer_cnpj: str | None
    not_before: str | None
    not_after: str | None
    signed_at: str | None = None  # when the signed element says it was signed (ISO 8601)
    valid_then: bool | None = None  # signer certificate valid at signed_at (None: no time)
    # DER of the certificates in KeyInfo, the signer's first: the judging process decides the
    # chain and the signer's role from them (that needs the configured trust, not here).
    certificates: tuple[bytes, ...] = ()
    signer_dns: tuple[str, ...] = ()  # DNS names of the signer certificate (the national system)

    def describe(self) -> str:
        """One line for people: what, by whom (CNPJ), how it held, and the certificate's term."""
        who = self.signer_cn or "unknown signer"
        if self.signer_cnpj:
            who += f", CNPJ {self.signer_cnpj}"
        term = f"certificate valid {self.not_before} to {self.not_after}"
        if self.signed_at and self.valid_then is not None:
            term += f", {'valid' if self.valid_then else 'NOT valid'} when signed {self.signed_at}"
        return f"{self.reference or 'the document'} by {who} ({self.how}; {term})"


def signer_cnpj(cert: x509.Certificate) -> str | None:
    """CNPJ from the ICP-Brasil otherName 2.16.76.1.3.3, else from the CN after a colon; for
    a person's e-CPF, the CPF (otherName 2.16.76.1.3.1, after the birth date, or the CN)."""
    others = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        others = san.get_values_for_type(x509.OtherName)
    except x509.ExtensionNotFound:
        pass
    for other in others:
        if other.type_id == ICP_BRASIL_CNPJ_OID:
            digits = re.sub(rb"[^0-9A-Z]", b"", other.value)
            if len(digits) >= 14:
                return digits[-14:].decode()
    cn = _cn(cert)
    tail = re.sub(r"\D", "", cn.rsplit(":", 1)[1]) if cn and ":" in cn else ""
    if len(tail) == 14:
        return tail
    for other in others:
        if other.type_id == ICP_BRASIL_PERSON_OID:
            digits = re.sub(rb"\D", b"", other.value[2:])  # skip the DER tag and length
            if len(digits) >= 19:
                return digits[8:19].decode()
    return tail if len(tail) == 11 else None


def _cn(cert: x509.Certificate) -> str | None:
    attrs = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None


def _strip_whitespace(el: etree._Element) -> None:
    for node in el.iter():
        if node.text is not None and not node.text.strip() and len(node):
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None


def _certs_of(sig: etree._Element) -> list[x509.Certificate]:
    """Every readable certificate in the signature's KeyInfo, the signer's first."""
    certs = []
    for found in sig.findall(f"{{{DS}}}KeyInfo//{{{DS}}}X509Certificate")[:MAX_KEYINFO_CERTS]:
        body = "".join((found.text or "").split())
        if not body:
            continue
        pem = f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
        try:
            certs.append(x509.load_pem_x509_certificate(pem.encode()))
        except ValueError:
            continue
    # The signer is the one certificate that issued none of the others (a leaf), else the first.
    issuers = {c.issuer for c in certs}
    leaves = [c for c in certs if c.subject not in issuers]
    if len(certs) > 1 and leaves and leaves[0] is not certs[0]:
        certs.remove(leaves[0])
        certs.insert(0, leaves[0])
    return certs


def dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    """The certificate's DNS names (subjectAltName), else its CN when it looks like a host."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(n.lower() for n in san.get_values_for_type(x509.DNSName))
        if names:
            return names
    except x509.ExtensionNotFound:
        pass
    cn = _cn(cert) or ""
    return (cn.lower(),) if re.fullmatch(r"[*A-Za-z0-9.-]+\.[A-Za-z]{2,}", cn) else ()


def _parse_time(text: str | None) -> datetime | None:
    """An NFS-e timestamp; without a zone it is Brasilia's (UTC-3), a bare date is midnight."""
    value = (text or "").strip()
    if not value:
        return None
    if "T" not in value:
        value += "T00:00:00"
    if not re.search(r"(Z|[+-]\d\d:?\d\d)$", value):
        value += _BRASILIA
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def signing_time(sig: etree._Element) -> datetime | None:
    """When the element a signature covers says it was signed, else the document's issue time."""
    ref = sig.find(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    uri = (ref.get("URI", "") if ref is not None else "").lstrip("#")
    root = sig.getroottree().getroot()
    scopes = list(root.xpath("//*[@Id = $uri]", uri=uri)) if uri else []
    scopes.append(root)
    for scope in scopes:
        for tag in _SIGNING_TIME_TAGS:
            for el in scope.iter(f"{{*}}{tag}"):  # lxml's own filter: any namespace, or none
                found = _parse_time(el.text)
                if found is not None:
                    return found
    return None


def _verify_one(sig: etree._Element) -> SignatureResult:
    ref = sig.find(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    uri = ref.get("URI", "") if ref is not None else ""
    certs = _certs_of(sig)
    cert = certs[0] if certs else None
    when = signing_time(sig)
    who: dict[str, Any] = {
        "certificates": tuple(c.public_bytes(Encoding.DER) for c in certs),
        "signer_dns": dns_names(cert) if cert else (),
        "signer_cn": _cn(cert) if cert else None,
        "signer_cnpj": signer_cnpj(cert) if cert else None,
        "not_before": cert.not_valid_before_utc.date().isoformat() if cert else None,
        "not_after": cert.not_valid_after_utc.date().isoformat() if cert else None,
        "signed_at": when.isoformat() if when else None,
        "valid_then": (cert.not_valid_before_utc <= when <= cert.not_valid_after_utc)
        if cert and when else None,
    }
    # Certificates expire: judge validity when the note was signed, not today.
    config = dataclasses.replace(_CONFIG, verification_time=when) if when else _CONFIG
    if cert is None:
        return SignatureResult(uri, False, "no X509 certificate in KeyInfo", **who)
    parent = sig.getparent()
    if parent is None:
        return SignatureResult(uri, False, "the signature is the whole document", **who)
    last_error = "signature does not hold"
    for how, strip in (("as stored", False), ("after removing whitespace-only text", True)):
        root = copy.deepcopy(parent)  # a copy: canonicalising in place can add xmlns=""
        mine = sig.findtext(f".//{{{DS}}}SignatureValue")
        for other in [s for s in root if local(s.tag) == "Signature"]:
            if other.findtext(f".//{{{DS}}}SignatureValue") != mine:
                root.remove(other)
        if strip:
            _strip_whitespace(root)
        try:
            verifier = XMLVerifier()
            # signxml 5.2 adds a stray xmlns="" under a default namespace (DOMAIN.md 4, trap 2).
            verifier.excise_empty_xmlns_declarations = True
            verifier.verify(etree.tostring(root, encoding="utf-8"), x509_cert=cert,
                            expect_config=config)
            return SignatureResult(uri, True, how, **who)
        except (InvalidSignature, InvalidInput) as exc:
            last_error = str(exc) or type(exc).__name__
    return SignatureResult(uri, False, last_error, **who)


def _signatures(root: etree._Element) -> list[etree._Element]:
    return [el for el in root.iter() if isinstance(el.tag, str) and el.tag == f"{{{DS}}}Signature"]


def _escaped_note(root: etree._Element) -> etree._Element | None:
    """The note carried as escaped text inside a SOAP answer (ISSNet's outputXML), parsed."""
    for el in root.iter():
        text = el.text if isinstance(el.tag, str) else None
        if text and ("<CompNfse" in text or "<NFSe" in text) and "Signature" in text:
            try:
                return parse_xml(text.strip().encode("utf-8"))
            except ParseError:
                return None
    return None


def verify_signatures(data: bytes) -> tuple[SignatureResult, ...]:
    """Every ds:Signature in the document, each verified on its own element.

    A SOAP answer carrying the note as escaped text is verified on the unescaped note.
    """
    try:
        root = parse_xml(data)
    except ParseError:
        return ()
    sigs = _signatures(root)
    if not sigs:
        inner = _escaped_note(root)
        sigs = _signatures(inner) if inner is not None else []
    if len(sigs) > MAX_SIGNATURES:  # real notes carry one or two; each costs a verification
        return (SignatureResult("", False, f"{len(sigs)} signatures in one note (at most "
                                f"{MAX_SIGNATURES} are read)", None, None, None, None),)
    return tuple(_verify_one(sig) for sig in sigs)
