"""Offline XMLDSig verification of NFS-e files with signxml, and who signed them."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

from cryptography import x509
from lxml import etree
from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier
from signxml.exceptions import InvalidInput, InvalidSignature

from parsers.errors import ParseError
from parsers.xmlsafe import local, parse_xml

DS = "http://www.w3.org/2000/09/xmldsig#"
ICP_BRASIL_CNPJ_OID = x509.ObjectIdentifier("2.16.76.1.3.3")
# NFS-e issuers still sign with RSA-SHA1: allow it explicitly, as xmlsec1 does.
_CONFIG = SignatureConfiguration(
    location="./",
    signature_methods=frozenset(SignatureMethod),
    digest_algorithms=frozenset(DigestAlgorithm),
)


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


def signer_cnpj(cert: x509.Certificate) -> str | None:
    """CNPJ from the ICP-Brasil otherName 2.16.76.1.3.3, else from the CN after a colon."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        for other in san.get_values_for_type(x509.OtherName):
            if other.type_id == ICP_BRASIL_CNPJ_OID:
                digits = re.sub(rb"[^0-9A-Z]", b"", other.value)
                if len(digits) >= 14:
                    return digits[-14:].decode()
    except x509.ExtensionNotFound:
        pass
    cn = _cn(cert)
    if cn and ":" in cn:
        tail = re.sub(r"\D", "", cn.rsplit(":", 1)[1])
        if len(tail) == 14:
            return tail
    return None


def _cn(cert: x509.Certificate) -> str | None:
    attrs = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None


def _strip_whitespace(el: etree._Element) -> None:
    for node in el.iter():
        if node.text is not None and not node.text.strip() and len(node):
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None


def _cert_of(sig: etree._Element) -> x509.Certificate | None:
    found = sig.find(f".//{{{DS}}}X509Certificate")
    if found is None or not (found.text or "").strip():
        return None
    body = "".join(found.text.split())
    pem = f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        return None


def _verify_one(sig: etree._Element) -> SignatureResult:
    ref = sig.find(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    uri = ref.get("URI", "") if ref is not None else ""
    cert = _cert_of(sig)
    who = {
        "signer_cn": _cn(cert) if cert else None,
        "signer_cnpj": signer_cnpj(cert) if cert else None,
        "not_before": cert.not_valid_before_utc.date().isoformat() if cert else None,
        "not_after": cert.not_valid_after_utc.date().isoformat() if cert else None,
    }
    if cert is None:
        return SignatureResult(uri, False, "no X509 certificate in KeyInfo", **who)
    parent = sig.getparent()
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
                            expect_config=_CONFIG)
            return SignatureResult(uri, True, how, **who)
        except (InvalidSignature, InvalidInput) as exc:
            last_error = str(exc) or type(exc).__name__
    return SignatureResult(uri, False, last_error, **who)


def verify_signatures(data: bytes) -> tuple[SignatureResult, ...]:
    """Every ds:Signature in the document, each verified on its own element."""
    try:
        root = parse_xml(data)
    except ParseError:
        return ()
    sigs = [el for el in root.iter() if isinstance(el.tag, str) and el.tag == f"{{{DS}}}Signature"]
    return tuple(_verify_one(sig) for sig in sigs)
