"""ISSNet's ABRASF 2.04 SOAP web service: ConsultarNfseServicoTomado, with paging."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

import httpx
from lxml import etree

from parsers.errors import IssuerError, ParseError
from parsers.nfse import Nfse, parse_nfse_all
from parsers.xmlsafe import local, parse_xml
from pipeline.issuers.http import RateLimiter, request

ABRASF_NS = "http://www.abrasf.org.br/nfse.xsd"
SERVICE_NS = "http://nfse.abrasf.org.br"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OPERATION = "ConsultarNfseServicoTomado"
# "No NFS-e found" in ABRASF's list of return codes, and in words, for servers that vary.
NOT_FOUND_CODES = frozenset({"E160", "E178", "E180", "L2"})
_NOT_FOUND_WORDS = ("nao encontrad", "não encontrad", "nenhuma nfs", "not found")


@dataclass(frozen=True)
class Query:
    """Who asks (the taker company) and which note from which provider."""

    consulente_cnpj: str
    consulente_im: str | None
    number: str
    provider_cnpj: str
    provider_im: str | None


@dataclass(frozen=True)
class Found:
    """The issuer's copy of the note (None when it has none), its XML, and pages read."""

    note: Nfse | None
    xml: bytes | None
    pages: int


def _cpf_cnpj(cnpj: str) -> str:
    return f"<CpfCnpj><Cnpj>{escape(cnpj)}</Cnpj></CpfCnpj>"


def dados(q: Query, page: int) -> str:
    """The nfseDadosMsg document of one page of the query."""
    im = f"<InscricaoMunicipal>{escape(q.consulente_im)}</InscricaoMunicipal>" \
        if q.consulente_im else ""
    pim = f"<InscricaoMunicipal>{escape(q.provider_im)}</InscricaoMunicipal>" \
        if q.provider_im else ""
    return (f'<ConsultarNfseServicoTomadoEnvio xmlns="{ABRASF_NS}"><Pedido>'
            f"<Consulente>{_cpf_cnpj(q.consulente_cnpj)}{im}</Consulente>"
            f"<NumeroNfse>{escape(q.number)}</NumeroNfse>"
            f"<Prestador>{_cpf_cnpj(q.provider_cnpj)}{pim}</Prestador>"
            f"<Pagina>{page}</Pagina></Pedido></ConsultarNfseServicoTomadoEnvio>")


def envelope(q: Query, page: int) -> bytes:
    """The SOAP 1.1 envelope: nfseCabecMsg and nfseDadosMsg as escaped XML text."""
    cabec = f'<cabecalho versao="2.04" xmlns="{ABRASF_NS}"><versaoDados>2.04</versaoDados>' \
        "</cabecalho>"
    return (f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP_NS}">'
            f'<soap:Body><{OPERATION} xmlns="{SERVICE_NS}">'
            f"<nfseCabecMsg>{escape(cabec)}</nfseCabecMsg>"
            f"<nfseDadosMsg>{escape(dados(q, page))}</nfseDadosMsg>"
            f"</{OPERATION}></soap:Body></soap:Envelope>").encode()


def _find(root: etree._Element, name: str) -> list[etree._Element]:
    return [el for el in root.iter() if local(el.tag) == name]


def _fault(root: etree._Element) -> str | None:
    faults = _find(root, "Fault")
    if not faults:
        return None
    text = " ".join(el.text.strip() for el in faults[0].iter()
                    if local(el.tag) in ("faultstring", "Text") and el.text)
    return text or "no faultstring"


def _answer(root: etree._Element) -> etree._Element:
    """The ABRASF answer document, whether inline or escaped as text in outputXML."""
    for el in root.iter():
        if local(el.tag).endswith("Resposta"):
            return el
    for el in root.iter():
        text = (el.text or "").strip()
        if text.startswith("<") and "Resposta" in text:
            return parse_xml(text.encode("utf-8"))
    raise IssuerError("ISSNet's answer holds no ConsultarNfseServicoTomadoResposta")


def parse_page(body: bytes, status: int) -> tuple[list[tuple[Nfse, bytes]], int | None, bool]:
    """One page: the notes (with their XML), the next page number, and whether 'not found'."""
    try:
        root = parse_xml(body)
    except ParseError as exc:
        raise IssuerError(f"ISSNet answered HTTP {status} with unreadable XML: {exc}") from None
    fault = _fault(root)
    if fault is not None:
        raise IssuerError(f"ISSNet answered a SOAP fault: {fault}")
    answer = _answer(root)
    comps = _find(answer, "CompNfse")
    if not comps:
        messages = [(el.findtext(f"{{{ABRASF_NS}}}Codigo") or el.findtext("Codigo") or "",
                     el.findtext(f"{{{ABRASF_NS}}}Mensagem") or el.findtext("Mensagem") or "")
                    for el in _find(answer, "MensagemRetorno")]
        said = "; ".join(f"{c} {m}".strip() for c, m in messages)
        if not messages or any(c in NOT_FOUND_CODES or any(w in m.lower() for w in
                                                             _NOT_FOUND_WORDS)
                               for c, m in messages):
            return [], None, True
        raise IssuerError(f"ISSNet refused the query: {said}")
    notes = []
    for comp in comps:
        xml = etree.tostring(comp, encoding="utf-8")
        try:
            notes.append((parse_nfse_all(xml)[0], xml))
        except ParseError as exc:
            raise IssuerError(f"ISSNet's note could not be read: {exc}") from None
    nxt = next((el.text.strip() for el in _find(answer, "ProximaPagina") if el.text), None)
    return notes, int(nxt) if nxt and nxt.isdigit() else None, False


class IssnetClient:
    """ConsultarNfseServicoTomado over mutual TLS; callers add retries around `find`."""

    def __init__(self, client: httpx.Client, url: str, limiter: RateLimiter, timeout: float,
                 max_pages: int = 20) -> None:
        self.client, self.url, self.limiter = client, url, limiter
        self.timeout, self.max_pages = timeout, max_pages

    def find(self, q: Query) -> Found:
        """Walk the pages until the note with this number from this provider turns up."""
        page, read = 1, 0
        while page and read < self.max_pages:
            response = request(
                self.client, "POST", self.url, limiter=self.limiter, timeout=self.timeout,
                content=envelope(q, page),
                headers={"Content-Type": "text/xml; charset=utf-8",
                         "SOAPAction": f'"{SERVICE_NS}/{OPERATION}"'})
            read += 1
            notes, nxt, not_found = parse_page(response.content, response.status_code)
            if response.status_code >= 400 and not notes and not not_found:
                raise IssuerError(f"ISSNet answered HTTP {response.status_code}")
            for note, xml in notes:
                same_number = note.number.lstrip("0") == q.number.lstrip("0")
                if same_number and (note.provider_cnpj or "") == q.provider_cnpj:
                    return Found(note, xml, read)
            if not_found or nxt is None or nxt <= page:
                break
            page = nxt
        return Found(None, None, read)
