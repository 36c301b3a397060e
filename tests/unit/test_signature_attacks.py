"""Attacks on signed NFS-e: signature wrapping, unsigned fields edited, many signatures."""

from __future__ import annotations

import copy
import hashlib

import pytest
from lxml import etree

from parsers import Attachment, ParseError, parse_nfse
from parsers.body import BodyFields
from parsers.message import ParsedMessage, _xml
from pipeline.checks.offline import BillContext, signature
from pipeline.config.settings import from_dict

from conftest import FIXTURES, TEST_CAS

GENUINE = (FIXTURES / "documents" / "genuine-01-abrasf-bare.nfse.xml").read_bytes()
_CONFIG = from_dict({"authenticity": {"signature_cas": [TEST_CAS.as_posix()]}}, FIXTURES)
CTX = BillContext(vendor=_CONFIG.vendors["serpro"], company_cnpjs=(), company_domains=(),
                  contracts=(), trust=_CONFIG.signature_trust)


def _local(el) -> str:
    return etree.QName(el).localname


def _find(root, name):
    return next(e for e in root.iter() if isinstance(e.tag, str) and _local(e) == name)


def _check(xml: bytes):
    att = Attachment("nfse.xml", "text/xml", "xml", "xml", xml, hashlib.sha256(xml).hexdigest(), ())
    m = ParsedMessage(None, None, False, (_xml(att),), ())  # type: ignore[arg-type]
    return signature(m, BodyFields(None, None, None), CTX)


def test_the_genuine_note_passes():
    assert _check(GENUINE).outcome == "pass"


def test_a_forged_copy_before_the_signed_declaration_is_refused():
    root = etree.fromstring(GENUINE)
    signed = _find(root, "InfDeclaracaoPrestacaoServico")
    forged = copy.deepcopy(signed)
    del forged.attrib["Id"]
    _find(forged, "ValorServicos").text = "55555.55"
    signed.addprevious(forged)
    with pytest.raises(ParseError, match="InfDeclaracaoPrestacaoServico"):
        parse_nfse(etree.tostring(root, encoding="utf-8"))


def test_an_edited_net_amount_outside_the_signature_fails():
    root = etree.fromstring(GENUINE)
    _find(root, "ValorLiquidoNfse").text = "99999.99"
    check = _check(etree.tostring(root, encoding="utf-8"))
    assert check.outcome == "fail" and "ValorLiquidoNfse" in check.detail


def test_hundreds_of_signatures_are_refused_not_verified():
    root = etree.fromstring(GENUINE)
    sig = _find(root, "Signature")
    for _ in range(200):
        sig.addnext(copy.deepcopy(sig))
    check = _check(etree.tostring(root, encoding="utf-8"))
    assert check.outcome == "fail" and "signatures in one note" in check.detail
