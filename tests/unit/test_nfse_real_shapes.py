"""What real notes look like beyond ISSNet 2.04: ABRASF 1.00, no ISS, a person as provider,
the note escaped inside a SOAP answer, a cancellation."""

from __future__ import annotations

from decimal import Decimal
from xml.sax.saxutils import escape

import pytest
from lxml import etree

from parsers.errors import ParseError
from parsers.nfse import parse_nfse
from parsers.xmldsig import verify_signatures

from conftest import FIXTURES

DOCS = FIXTURES / "documents"
ABRASF = (DOCS / "genuine-01-abrasf-bare.nfse.xml").read_bytes()
NATIONAL = (DOCS / "genuine-06-nacional-100.nfse.xml").read_bytes()

# ABRASF 1.00 as Ginfes answers ConsultarNfse: no declaration, Servico and parties in InfNfse.
GINFES = b"""<?xml version="1.0" encoding="utf-8"?>
<ns2:ConsultarNfseResposta
    xmlns:ns2="http://www.ginfes.com.br/servico_consultar_nfse_resposta_v03.xsd"
    xmlns:ns3="http://www.ginfes.com.br/tipos_v03.xsd">
 <ns2:ListaNfse><ns2:CompNfse><ns3:Nfse><ns3:InfNfse Id="nfse123">
  <ns3:Numero>123</ns3:Numero><ns3:CodigoVerificacao>ABCD1234</ns3:CodigoVerificacao>
  <ns3:DataEmissao>2024-05-10T10:20:30</ns3:DataEmissao>
  <ns3:NaturezaOperacao>1</ns3:NaturezaOperacao>
  <ns3:Competencia>2024-05-01T00:00:00</ns3:Competencia>
  <ns3:Servico><ns3:Valores>
   <ns3:ValorServicos>1500.00</ns3:ValorServicos><ns3:ValorDeducoes>0</ns3:ValorDeducoes>
   <ns3:IssRetido>2</ns3:IssRetido><ns3:ValorIss>75.00</ns3:ValorIss>
   <ns3:BaseCalculo>1500.00</ns3:BaseCalculo><ns3:Aliquota>0.05</ns3:Aliquota>
   <ns3:ValorLiquidoNfse>1500.00</ns3:ValorLiquidoNfse>
  </ns3:Valores><ns3:ItemListaServico>1.03</ns3:ItemListaServico>
  <ns3:Discriminacao>Hospedagem de dados</ns3:Discriminacao>
  <ns3:CodigoMunicipio>3548708</ns3:CodigoMunicipio></ns3:Servico>
  <ns3:PrestadorServico><ns3:IdentificacaoPrestador><ns3:Cnpj>11222333000181</ns3:Cnpj>
   <ns3:InscricaoMunicipal>12345</ns3:InscricaoMunicipal></ns3:IdentificacaoPrestador>
   <ns3:RazaoSocial>PRESTADORA EXEMPLO LTDA</ns3:RazaoSocial></ns3:PrestadorServico>
  <ns3:TomadorServico><ns3:IdentificacaoTomador><ns3:CpfCnpj>
   <ns3:Cnpj>12345678000195</ns3:Cnpj></ns3:CpfCnpj></ns3:IdentificacaoTomador>
   <ns3:RazaoSocial>Contabilidade Exemplo Ltda</ns3:RazaoSocial></ns3:TomadorServico>
  <ns3:OrgaoGerador><ns3:CodigoMunicipio>3548708</ns3:CodigoMunicipio>
   <ns3:Uf>SP</ns3:Uf></ns3:OrgaoGerador>
 </ns3:InfNfse></ns3:Nfse></ns2:CompNfse></ns2:ListaNfse>
</ns2:ConsultarNfseResposta>"""


def _drop(xml: bytes, *names: str) -> bytes:
    root = etree.fromstring(xml)
    for el in [e for e in root.iter() if isinstance(e.tag, str)
               and etree.QName(e).localname in names]:
        el.getparent().remove(el)
    return etree.tostring(root, encoding="utf-8")


def test_an_abrasf_100_note_is_read_with_its_amounts_and_parties():
    note = parse_nfse(GINFES)
    assert note.layout == "abrasf-1.00"
    assert (note.number, note.verification_code) == ("123", "ABCD1234")
    assert note.services_amount == Decimal("1500.00") and note.net_amount == Decimal("1500.00")
    assert note.iss_amount == Decimal("75.00") and not note.iss_withheld
    assert note.provider_cnpj == "11222333000181" and note.taker_cnpj == "12345678000195"
    assert note.provider_name == "PRESTADORA EXEMPLO LTDA"
    assert note.competence.isoformat() == "2024-05-01"
    assert note.issuer_municipalities == ("3548708",)
    assert note.signed_ids == ("nfse123",)


def test_an_abrasf_note_without_amounts_is_refused_never_stored_as_zero():
    with pytest.raises(ParseError, match=r"ValorServicos.*refused"):
        parse_nfse(_drop(GINFES, "ValorServicos"))
    with pytest.raises(ParseError, match="provider CNPJ/CPF"):
        parse_nfse(_drop(GINFES, "IdentificacaoPrestador"))


def test_a_missing_iss_is_none_not_zero():
    assert parse_nfse(ABRASF).iss_amount is not None
    assert parse_nfse(_drop(ABRASF, "ValorIss")).iss_amount is None
    assert parse_nfse(_drop(NATIONAL, "vISSQN")).iss_amount is None
    assert parse_nfse(_drop(GINFES, "ValorIss")).iss_amount is None


def test_a_provider_who_is_a_person_is_read():
    root = etree.fromstring(NATIONAL)
    cnpj = next(e for e in root.iter() if isinstance(e.tag, str)
                and etree.QName(e).localname == "CNPJ" and etree.QName(e.getparent()).localname
                == "emit")
    cnpj.tag = f"{{{etree.QName(cnpj).namespace}}}CPF"
    cnpj.text = "12345678909"
    assert parse_nfse(etree.tostring(root, encoding="utf-8")).provider_cnpj == "12345678909"


def test_a_note_escaped_inside_a_soap_answer_is_read_and_its_signature_verified():
    body = ABRASF.split(b"?>", 1)[1].decode("utf-8")
    soap = ('<?xml version="1.0" encoding="utf-8"?><soap:Envelope '
            'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            '<ConsultarNfseResponse xmlns="http://nfse.abrasf.org.br"><outputXML>'
            f'{escape(body)}</outputXML></ConsultarNfseResponse></soap:Body></soap:Envelope>')
    data = soap.encode("utf-8")
    assert parse_nfse(data).number == parse_nfse(ABRASF).number
    (result,) = verify_signatures(data)
    assert result.valid, result.how
    assert result.signer_cnpj == "33683111000107"
    edited = data.replace(b"ValorServicos&gt;", b"ValorServicos&gt;9", 1)
    (broken,) = verify_signatures(edited)
    assert not broken.valid


def test_a_cancellation_beside_the_note_is_read():
    cancelled = (FIXTURES / "signers" / "cancelled-note.nfse.xml").read_bytes()
    note = parse_nfse(cancelled)
    assert note.cancellation and "2027-06-25" in note.cancellation
    assert parse_nfse(ABRASF).cancellation is None
