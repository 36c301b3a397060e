"""The JSON contract: stored rows to the objects `ingest --json` and `invoices --json` print."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from pipeline.checks.vocabulary import order_key
from storage import BoletoRow, CheckRow, Invoice, Message, from_cents
from storage.verification_models import Verification


def _money(cents: int | None) -> str | None:
    value = from_cents(cents)
    return None if value is None else f"{value:.2f}"


def _date(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def message_json(msg: Message) -> dict[str, Any]:
    """The message part of an ingest line."""
    return {"message_id": msg.message_id, "from": msg.from_address, "subject": msg.subject,
            "sha256": msg.sha256}


def boleto_json(b: BoletoRow | None) -> dict[str, Any] | None:
    """The boleto object, with its Pix object (null when the boleto has no QR)."""
    if b is None:
        return None
    pix = None
    if b.pix_payload is not None:
        pix = {"payload": b.pix_payload, "crc_valid": b.pix_crc_valid,
               "merchant_name": b.pix_merchant_name, "merchant_city": b.pix_merchant_city,
               "amount": _money(b.pix_amount_cents), "key": b.pix_key, "url": b.pix_url,
               "txid": b.pix_txid}
    return {"digitable_line": b.digitable_line, "barcode": b.barcode, "bank_code": b.bank_code,
            "due_date": _date(b.due_date), "amount": _money(b.amount_cents),
            "barcode_read": b.barcode_read, "pix": pix}


def invoice_json(session: Session, inv: Invoice) -> dict[str, Any]:
    """One invoice object in the contract's shape: every key present, null where unknown."""
    boleto = session.exec(select(BoletoRow).where(BoletoRow.invoice_id == inv.id)).first()
    checks = session.exec(select(CheckRow).where(CheckRow.invoice_id == inv.id)).all()
    link = session.exec(select(Verification.link).where(
        Verification.invoice_id == inv.id, Verification.link.is_not(None))).first()
    nfse = None
    if inv.nfse_layout is not None:
        nfse = {"layout": inv.nfse_layout, "number": inv.nfse_number,
                "verification_code": inv.verification_code, "access_key": inv.access_key,
                "issued_at": inv.issued_at, "competence": _date(inv.competence),
                "provider_cnpj": inv.provider_cnpj, "provider_name": inv.provider_name,
                "taker_cnpj": inv.taker_cnpj, "services_amount": _money(inv.services_cents),
                "deductions_amount": _money(inv.deductions_cents),
                "iss_amount": _money(inv.iss_cents), "iss_withheld": inv.iss_withheld,
                "retentions_amount": _money(inv.retentions_cents),
                "net_amount": _money(inv.net_cents), "service_item": inv.service_item,
                "municipality_code": inv.municipality_code}
    return {
        "vendor": inv.vendor, "contract_number": inv.contract_number,
        "reference_month": inv.reference_month, "due_date": _date(inv.due_date),
        "nfse": nfse, "boleto": boleto_json(boleto),
        "checks": [{"name": c.name, "outcome": c.outcome, "detail": c.detail}
                   for c in sorted(checks, key=lambda c: order_key(c.name))],
        "verdict": inv.verdict,
        "verification_link": link,
    }


def ingest_line(session: Session, msg: Message, status: str, reason: str | None,
                invoice: Invoice | None) -> dict[str, Any]:
    """One line of `confere ingest --json`."""
    return {"message": message_json(msg), "status": status, "reason": reason,
            "invoice": invoice_json(session, invoice) if invoice is not None else None}
