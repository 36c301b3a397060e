"""NFS-e PDF (DANFSe): number, verification code or access key, CNPJs and amounts by label."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pdfplumber

from parsers.body import parse_month
from parsers.cnpj import normalize
from parsers.errors import ParseError
from parsers.money import parse_money
from parsers.pdf import open_pdf, page_texts
from parsers.text import fold, only_digits

_CNPJ = r"([0-9A-Z]{2}\.?[0-9A-Z]{3}\.?[0-9A-Z]{3}/?[0-9A-Z]{4}-?\d{2})"
_MONEY = r"(?:r\$\s*)?(\d{1,3}(?:\.\d{3})*,\d{2}|\d+,\d{2}|\d+\.\d{2})"
LABELS = {
    "number": [r"n(?:umero|o\.?|º)\s*(?:da\s*)?(?:nfs-?e|nota)\s*[:\-]?\s*(\d{1,15})"],
    "verification_code": [r"codigo\s+de\s+verifica[cç]ao\s*[:\-]?\s*([0-9a-z]{4,16})"],
    "access_key": [r"chave\s+de\s+acesso(?:\s+da\s+nfs-?e)?\s*[:\-]?\s*(\d[\d\s]{48,70}\d)"],
    "competence": [r"competencia\s*[:\-]?\s*(\d{1,2}/\d{4}|[a-z]+\s*/\s*\d{4})"],
    "services_amount": [rf"valor\s+(?:total\s+)?dos\s+servicos\s*[:\-]?\s*{_MONEY}",
                        rf"valor\s+do\s+servico\s*[:\-]?\s*{_MONEY}"],
    "net_amount": [rf"valor\s+liquido(?:\s+da\s+nfs-?e)?\s*[:\-]?\s*{_MONEY}"],
}


@dataclass(frozen=True)
class NfsePdf:
    """What a person reads on the NFS-e PDF; None where a label was not found."""

    number: str | None
    verification_code: str | None
    access_key: str | None
    competence: date | None
    provider_cnpj: str | None
    taker_cnpj: str | None
    services_amount: Decimal | None
    net_amount: Decimal | None
    text: str


def looks_like_nfse(text: str) -> bool:
    """Cheap test used to classify a PDF as an NFS-e."""
    f = fold(text)
    return "nfs-e" in f or "nota fiscal de servico" in f or "nfse" in f


def _first(folded: str, key: str) -> str | None:
    for pattern in LABELS[key]:
        m = re.search(pattern, folded)
        if m:
            return m.group(1)
    return None


def _party_cnpj(folded: str, heading: str) -> str | None:
    idx = folded.find(heading)
    if idx < 0:
        return None
    m = re.search(r"cnpj\s*[:\-]?\s*" + _CNPJ, folded[idx:idx + 600], re.IGNORECASE)
    return normalize(m.group(1)) if m else None


def layout_text(data: bytes, max_pages: int = 2) -> str:
    """Text in reading layout via pdfplumber: slower (~50 ms a page) but keeps a table's label
    beside its value where the plain text layer may put them apart."""
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return "\n".join(page.extract_text(layout=True) or "" for page in pdf.pages[:max_pages])


def parse_nfse_pdf(data: bytes, texts: list[str] | None = None) -> NfsePdf:
    """Read the labelled fields of an NFS-e PDF from its text layer (or the texts given).

    The fast pdfium text is tried first; when a key field is missing, pdfplumber's layout text.
    """
    if texts is None:
        with open_pdf(data) as doc:
            texts = page_texts(doc, max_pages=2)
    text = "\n".join(texts)
    if not looks_like_nfse(text):
        raise ParseError("PDF does not look like an NFS-e (no 'NFS-e' or 'Nota Fiscal de Serviço')")
    result = _fields(text)
    if result.number is None or result.net_amount is None or result.services_amount is None:
        try:
            second = _fields(layout_text(data))
        except Exception:  # pdfplumber is a second opinion: its failure changes nothing
            return result
        result = NfsePdf(**{k: getattr(result, k) if getattr(result, k) is not None
                            else getattr(second, k) for k in NfsePdf.__dataclass_fields__})
    return result


def _fields(text: str) -> NfsePdf:
    folded = fold(text)
    key = _first(folded, "access_key")
    comp = _first(folded, "competence")
    month = parse_month(comp) if comp else None
    services = _first(folded, "services_amount")
    net = _first(folded, "net_amount")
    code = _first(folded, "verification_code")
    return NfsePdf(
        number=_first(folded, "number"),
        verification_code=code.upper() if code else None,
        access_key=only_digits(key) if key else None,
        competence=date(int(month[:4]), int(month[5:]), 1) if month else None,
        provider_cnpj=_party_cnpj(folded, "prestador"),
        taker_cnpj=_party_cnpj(folded, "tomador"),
        services_amount=parse_money(services) if services else None,
        net_amount=parse_money(net) if net else None,
        text=text,
    )
