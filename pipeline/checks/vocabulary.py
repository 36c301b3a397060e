"""The check vocabulary, its outcomes, and the verdict rules (ok / review / block)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.vocabulary import Outcome, Verdict

# Stable names, in the order reports show them; the text says what each compares, in pt-BR.
CHECKS: dict[str, str] = {
    "email.sender_allowed": "remetente é do domínio do fornecedor",
    "email.contract_known": "o contrato citado no e-mail está configurado",
    "email.reference_month_matches_nfse": "mês de referência do e-mail = competência da NFS-e",
    "email.authentication": "o servidor de e-mail autentica o remetente (DKIM, SPF, DMARC)",
    "nfse.provider_matches_vendor": "prestador da NFS-e é o fornecedor",
    "nfse.taker_matches_company": "tomador da NFS-e é a nossa empresa",
    "nfse.signature": "assinatura digital do XML da NFS-e confere",
    "nfse.not_cancelled": "a NFS-e não está cancelada",
    "nfse.pdf_matches_xml": "PDF da NFS-e = XML (número, código, valores)",
    "boleto.check_digits": "dígitos verificadores da linha digitável conferem",
    "boleto.barcode_matches_line": "código de barras = linha digitável impressa",
    "boleto.bank_allowed": "banco do boleto é um banco do fornecedor",
    "boleto.amount_matches_nfse": "valor do boleto = valor líquido da NFS-e",
    "boleto.due_date_matches_email": "vencimento do boleto = vencimento do e-mail",
    "pix.crc": "CRC do QR Pix confere",
    "pix.amount_matches_boleto": "valor do Pix = valor do boleto",
    "pix.merchant_matches_vendor": "recebedor do Pix é o fornecedor",
    "authenticity.issnet": "a prefeitura (ISSNet) confirma a nota",
    "authenticity.sefin": "a NFS-e nacional (Sefin) confirma a nota",
    "reconcile.usage": "valor cobrado = consumo medido",
    "reconcile.metric": "valor cobrado = métrica declarada",
}

# A failure of any of these is a sign of forgery: do not pay.
FORGERY_GRADE = frozenset({
    "email.sender_allowed", "nfse.signature", "nfse.not_cancelled", "boleto.check_digits",
    "boleto.barcode_matches_line", "boleto.bank_allowed", "boleto.amount_matches_nfse",
    "pix.crc", "pix.amount_matches_boleto", "pix.merchant_matches_vendor",
    "nfse.provider_matches_vendor", "authenticity.issnet", "authenticity.sefin",
    "email.authentication",
})

# The verdicts in words for finance people (alerts, reports, CLI tables).
VERDICT_WORDS = {"ok": "ok para pagar", "review": "revisar", "block": "NÃO PAGAR"}


@dataclass(frozen=True)
class Check:
    """One named check's outcome on a bill, with a detail line for people."""

    name: str
    outcome: Outcome
    detail: str


def verdict(checks: Iterable[Check]) -> Verdict:
    """block on a forgery-grade failure; review on any other failure or forgery-grade unknown."""
    checks = list(checks)
    if any(c.outcome == Outcome.FAIL and c.name in FORGERY_GRADE for c in checks):
        return Verdict.BLOCK
    if any(c.outcome == Outcome.FAIL for c in checks):
        return Verdict.REVIEW
    if any(c.outcome == Outcome.UNKNOWN and c.name in FORGERY_GRADE for c in checks):
        return Verdict.REVIEW
    return Verdict.OK


def order_key(name: str) -> int:
    """Position of a check in the stable vocabulary (unknown names last)."""
    names = list(CHECKS)
    return names.index(name) if name in names else len(names)
