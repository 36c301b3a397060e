"""Pix BR Code against DOMAIN.md section 6."""

from decimal import Decimal

import pytest

from parsers import pix
from parsers.errors import ParseError

STATIC = ("00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
          "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D")
DYNAMIC = ("00020101021226720014br.gov.bcb.pix"
           "2550bx.com.br/pix/8b3da2f3-9a41-40d1-a91a-bd93113bd441"
           "5204000053039865406123.455802BR5913Fulano de Tal6008BRASILIA62190515RP12345678-2019"
           "630445C8")


def test_crc_check_value():
    assert pix.crc16(b"123456789") == 0x29B1


def test_static_payload():
    p = pix.parse(STATIC)
    assert p.crc_valid and not p.dynamic
    assert p.key == "123e4567-e12b-12d1-a456-426655440000"
    assert (p.merchant_name, p.merchant_city, p.amount, p.txid) == (
        "Fulano de Tal", "BRASILIA", None, None)


def test_dynamic_payload():
    p = pix.parse(DYNAMIC)
    assert p.crc_valid and p.dynamic
    assert p.url == "bx.com.br/pix/8b3da2f3-9a41-40d1-a91a-bd93113bd441"
    assert p.amount == Decimal("123.45") and p.txid == "RP12345678-2019"


def test_edited_payload_fails_crc():
    assert not pix.parse(STATIC.replace("BRASILIA", "SAOPAULO")).crc_valid


def test_crc_is_case_sensitive():
    assert not pix.parse(STATIC[:-4] + "1d3d").crc_valid


def test_broken_tlv_is_an_error():
    with pytest.raises(ParseError):
        pix.parse("000201" + "5999abc")


def test_merchant_name_cut_at_25_matches():
    assert pix.names_match("SERVICO FEDERAL DE PROCES", "Serviço Federal de Processamento de Dados")
    assert not pix.names_match("FULANO SERVICOS LTDA", "SERPRO")
