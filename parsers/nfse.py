"""NFS-e XML: ABRASF 2.04 as ISSNet writes it, ABRASF 1.00 (Ginfes) and the national layout."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from lxml import etree

from parsers.cnpj import normalize
from parsers.errors import NotAnNfseError, ParseError
from parsers.money import parse_money
from parsers.xmlsafe import child, descendants, local, parse_xml, text

ABRASF_NS = "http://www.abrasf.org.br/nfse.xsd"
NACIONAL_NS = "http://www.sped.fazenda.gov.br/nfse"
ZERO = Decimal("0.00")
# Identifiers longer than these are refused (the store's columns hold no more).
MAX_LEN = {"number": 32, "verification_code": 64, "service_item": 32, "municipality_code": 16,
           "provider_municipal_registration": 32}


@dataclass(frozen=True)
class Nfse:
    """One service invoice, whatever layout it came in."""

    layout: str
    number: str
    verification_code: str | None
    access_key: str | None
    issued_at: datetime | None
    competence: date | None
    provider_cnpj: str | None
    provider_name: str | None
    provider_municipal_registration: str | None
    taker_cnpj: str | None
    taker_name: str | None
    services_amount: Decimal
    deductions_amount: Decimal
    iss_amount: Decimal | None  # None: the note states no ISS value (not the same as 0.00)
    iss_withheld: bool
    retentions_amount: Decimal
    net_amount: Decimal
    description: str | None
    service_item: str | None
    municipality_code: str | None
    signature_count: int
    # Ids of the elements whose values are read here: a signature must cover one of them.
    signed_ids: tuple[str, ...] = ()
    # ABRASF: the net amount worked out from the signed declaration (ValorLiquidoNfse lies
    # outside the provider's signature); None where the layout signs the net itself.
    net_from_signed: Decimal | None = None
    # IBGE codes of the municipality that issued the note, most specific first (whose
    # government may sign it as the issuing authority).
    issuer_municipalities: tuple[str, ...] = ()
    # A cancellation the document itself carries (ABRASF NfseCancelamento), in words.
    cancellation: str | None = None


def money(value: str | None, field: str) -> Decimal:
    """An XML amount ('1234.56', '2.5000', rarely '1234,56') as Decimal with two places."""
    if value is None:
        return ZERO
    try:
        return parse_money(value)
    except ParseError as exc:
        raise ParseError(f"{field}: {exc}") from exc


def optional_money(value: str | None, field: str) -> Decimal | None:
    """An amount the note may leave out: None when absent, not 0.00."""
    return None if value is None or not value.strip() else money(value, field)


def _datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ParseError(f"date/time {value!r} is not ISO 8601") from exc


def _date(value: str | None) -> date | None:
    if not value:
        return None
    dt = _datetime(value[:10])
    return dt.date() if dt else None


def _cnpj(el: etree._Element | None, path: str) -> str | None:
    """CNPJ (or CPF) under a CpfCnpj-style element."""
    base = child(el, path)
    if base is None:
        return None
    value = text(base, "Cnpj") or text(base, "CNPJ") or text(base, "Cpf") or text(base, "CPF")
    return normalize(value) if value else None


def _bounded(note: Nfse) -> Nfse:
    """Refuse identifiers longer than any real note has (and than the store keeps)."""
    for name, limit in MAX_LEN.items():
        value = getattr(note, name)
        if value is not None and len(value) > limit:
            raise ParseError(f"{name} is {len(value)} characters long (at most {limit})")
    for name in ("provider_cnpj", "taker_cnpj"):
        value = getattr(note, name)
        if value is not None and len(value) > 14:
            raise ParseError(f"{name} {value[:20]!r}... is not a CNPJ or CPF")
    return note


def parse_nfse_all(data: bytes) -> tuple[Nfse, ...]:
    """Every NFS-e in the document (a SOAP answer can hold a list)."""
    root = parse_xml(data)
    return tuple(_bounded(n) for n in _from_tree(root, depth=0))


def parse_nfse(data: bytes) -> Nfse:
    """The first NFS-e in the document; raise ParseError when there is none."""
    return parse_nfse_all(data)[0]


def _from_tree(root: etree._Element, depth: int) -> tuple[Nfse, ...]:
    if local(root.tag) == "NFSe":
        return (_nacional(root),)
    comps = descendants(root, "CompNfse")
    if comps:
        return tuple(_abrasf(c) for c in comps)
    nacional = descendants(root, "NFSe")
    if nacional:
        return tuple(_nacional(n) for n in nacional)
    if depth == 0:
        # ISSNet's SOAP answers may carry the XML escaped as text inside a result element.
        for el in root.iter():
            if (el.text and "<CompNfse" in el.text) or (el.text and "<NFSe" in el.text):
                return _from_tree(parse_xml(el.text.strip().encode("utf-8")), depth=1)
    raise NotAnNfseError(f"no NFS-e found: root element is <{local(root.tag)}>, "
                     "expected CompNfse (ABRASF 2.04) or NFSe (national layout)")


def _single(root: etree._Element, names: tuple[str, ...]) -> None:
    """Refuse a note with two of an element: the shape of an XML signature-wrapping attack."""
    for name in names:
        found = descendants(root, name)
        if len(found) > 1:
            raise ParseError(f"the note holds {len(found)} <{name}> elements, one is allowed "
                             "(a second copy is how signed values are forged)")


def _cancellation(comp: etree._Element) -> str | None:
    """ABRASF NfseCancelamento beside the note: when and why, in words."""
    found = descendants(comp, "NfseCancelamento")
    if not found:
        return None
    cancel = found[0]
    when = next(((el.text or "").strip() for name in ("DataHora", "DataHoraCancelamento")
                 for el in descendants(cancel, name)), None)
    code = next(((el.text or "").strip() for el in descendants(cancel, "CodigoCancelamento")),
                None)
    words = "NfseCancelamento present"
    if when:
        words += f", cancelled at {when}"
    if code:
        words += f", code {code}"
    return words


def _refuse_incomplete(number: str, services: str | None, provider: str | None) -> None:
    """Refuse an ABRASF note whose amounts or provider cannot be found (never store 0.00)."""
    missing = [name for name, value in (("ValorServicos", services), ("provider CNPJ/CPF",
                                                                      provider)) if not value]
    if missing:
        raise ParseError(f"ABRASF note {number}: {' and '.join(missing)} not found where ABRASF "
                         "1.00 or 2.0x puts them; this layout is not read (refused rather than "
                         "stored with empty values)")


def _abrasf(comp: etree._Element) -> Nfse:
    _single(comp, ("InfNfse", "InfDeclaracaoPrestacaoServico"))
    inf = child(comp, "Nfse/InfNfse")
    if inf is None:
        raise ParseError("ABRASF CompNfse without Nfse/InfNfse")
    d = child(inf, "DeclaracaoPrestacaoServico/InfDeclaracaoPrestacaoServico")
    number = text(inf, "Numero")
    if not number:
        raise ParseError("ABRASF InfNfse/Numero is missing")
    # ABRASF 1.00 (Ginfes and others): no declaration; Servico and the parties sit in InfNfse.
    v1 = d is None
    src = inf if v1 else d
    valores = child(src, "Servico/Valores")
    retention_fields = ("ValorPis", "ValorCofins", "ValorCsll", "ValorIr", "ValorInss",
                        "OutrasRetencoes")
    retentions = sum((money(text(valores, f), f) for f in retention_fields), ZERO)
    iss = text(inf, "ValoresNfse/ValorIss") or text(valores, "ValorIss")
    services_text = text(valores, "ValorServicos")
    provider = (_cnpj(src, "Prestador/CpfCnpj")
                or _cnpj(inf, "PrestadorServico/IdentificacaoPrestador/CpfCnpj")
                or _cnpj(inf, "PrestadorServico/IdentificacaoPrestador")
                or _cnpj(src, "Prestador"))
    _refuse_incomplete(number, services_text, provider)
    services = money(services_text, "ValorServicos")
    net_text = text(inf, "ValoresNfse/ValorLiquidoNfse") or (
        text(valores, "ValorLiquidoNfse") if v1 else None)
    withheld = (text(valores, "IssRetido") if v1 else text(d, "Servico/IssRetido")) == "1"
    iss_amount = optional_money(iss, "ValorIss")
    discounts = sum((money(text(valores, f), f) for f in ("DescontoIncondicionado",
                                                          "DescontoCondicionado")), ZERO)
    net_from_signed = services - retentions - discounts - (
        iss_amount if withheld and iss_amount is not None else ZERO)
    net = money(net_text, "ValorLiquidoNfse") if net_text else net_from_signed
    taker = child(src, "TomadorServico") if child(src, "TomadorServico") is not None \
        else child(src, "Tomador")
    municipalities = tuple(dict.fromkeys(c for c in (
        text(inf, "OrgaoGerador/CodigoMunicipio"), text(src, "Servico/MunicipioIncidencia"),
        text(src, "Servico/CodigoMunicipio")) if c))
    return Nfse(
        layout="abrasf-1.00" if v1 else "abrasf-2.04",
        number=number,
        verification_code=text(inf, "CodigoVerificacao"),
        access_key=None,
        issued_at=_datetime(text(inf, "DataEmissao")),
        competence=_date(text(src, "Competencia")),
        provider_cnpj=provider,
        provider_name=text(inf, "PrestadorServico/RazaoSocial"),
        provider_municipal_registration=text(src, "Prestador/InscricaoMunicipal")
        or text(inf, "PrestadorServico/IdentificacaoPrestador/InscricaoMunicipal"),
        taker_cnpj=_cnpj(taker, "IdentificacaoTomador/CpfCnpj"),
        taker_name=text(taker, "RazaoSocial"),
        services_amount=services,
        deductions_amount=money(text(valores, "ValorDeducoes"), "ValorDeducoes"),
        iss_amount=iss_amount,
        iss_withheld=withheld,
        retentions_amount=retentions,
        net_amount=net,
        description=text(src, "Servico/Discriminacao"),
        service_item=text(src, "Servico/ItemListaServico"),
        municipality_code=text(src, "Servico/MunicipioIncidencia")
        or text(src, "Servico/CodigoMunicipio"),
        signature_count=len(descendants(comp, "Signature")),
        signed_ids=tuple(i for i in (d.get("Id") if d is not None else None, inf.get("Id"))
                         if i),
        # 1.00 keeps the net inside the signed InfNfse itself: nothing to work out.
        net_from_signed=None if v1 else net_from_signed,
        issuer_municipalities=municipalities,
        cancellation=_cancellation(comp),
    )


def _nacional(root: etree._Element) -> Nfse:
    _single(root, ("infNFSe", "infDPS"))
    inf = child(root, "infNFSe")
    if inf is None:
        raise ParseError("national NFSe without infNFSe")
    version = root.get("versao") or inf.get("versao") or "1.00"
    layout = "nacional-1.01" if version.startswith("1.01") else "nacional-1.00"
    ident = inf.get("Id") or ""
    access_key = ident[3:] if ident.startswith("NFS") else None
    dps = child(inf, "DPS/infDPS")
    number = text(inf, "nNFSe")
    if not number:
        raise ParseError("national infNFSe/nNFSe is missing")
    services = money(text(dps, "valores/vServPrest/vServ"), "vServ")
    retentions = money(text(inf, "valores/vTotalRet"), "vTotalRet")
    withheld = text(dps, "valores/trib/tribMun/tpRetISSQN") in ("2", "3")
    return Nfse(
        layout=layout,
        number=number,
        verification_code=None,
        access_key=access_key,
        issued_at=_datetime(text(dps, "dhEmi") or text(inf, "dhProc")),
        competence=_date(text(dps, "dCompet")),
        provider_cnpj=normalize(text(inf, "emit/CNPJ") or text(inf, "emit/CPF") or "") or None,
        provider_name=text(inf, "emit/xNome"),
        provider_municipal_registration=text(inf, "emit/IM"),
        taker_cnpj=normalize(text(dps, "toma/CNPJ") or text(dps, "toma/CPF") or "") or None,
        taker_name=text(dps, "toma/xNome"),
        services_amount=services,
        deductions_amount=money(text(dps, "valores/vDedRed/vDR"), "vDR"),
        iss_amount=optional_money(text(inf, "valores/vISSQN"), "vISSQN"),
        iss_withheld=withheld,
        retentions_amount=retentions,
        net_amount=money(text(inf, "valores/vLiq"), "vLiq"),
        description=text(dps, "serv/cServ/xDescServ"),
        service_item=text(dps, "serv/cServ/cTribNac"),
        municipality_code=text(inf, "cLocIncid") or text(dps, "cLocEmi"),
        signature_count=len(descendants(root, "Signature")),
        signed_ids=tuple(i for i in (ident, dps.get("Id") if dps is not None else None) if i),
        issuer_municipalities=tuple(dict.fromkeys(c for c in (
            text(dps, "cLocEmi"), text(inf, "cLocIncid"), text(inf, "emit/enderNac/cMun"))
            if c)),
    )
