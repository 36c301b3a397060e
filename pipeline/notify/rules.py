"""Alert rules: each writes a rendered email to the outbox, in the event's own transaction.

The outbox row is unique by its dedupe key, so a rule may run any number of times and still
write an alert once. Bill alerts (new / block / review / over) run inside ingest's transaction;
time rules (due, missing, over, declaration, forecast) run on the daemon's schedule and before
`confere alerts send`, through `evaluate_time_rules`. Delivery is pipeline.notify.delivery's job.
"""

from __future__ import annotations

import json
import logging
from calendar import monthrange
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from email.utils import parseaddr
from typing import Any
from uuid import uuid4

from sqlmodel import Session, select

from parsers.cnpj import format_cnpj
from parsers.months import SAO_PAULO, month_key, previous_month, today_local
from parsers.text import only_digits
from pipeline.checks import render as words
from pipeline.config.settings import Config, ContractConfig
from pipeline.contract import invoice_json
from pipeline.costs.forecast import forecast
from pipeline.costs.metrics import proof
from pipeline.locale import format as fmt
from pipeline.templates import brl, mes, render
from storage import BoletoRow, CheckRow, Document, Invoice, Message
from storage.alert_models import Alert
from storage.sql import flush_deferred, insert_ignore
from storage.types import to_cents, utcnow
from storage.usage_models import Reconciliation
from storage.verification_models import Verification

log = logging.getLogger(__name__)

ARRIVAL = {"ok": "new", "review": "review", "block": "block"}
SEVERITY = {"new": 0, "review": 1, "block": 2}
RECONCILE_CHECKS = ("reconcile.usage", "reconcile.metric")
OVER_LOOKBACK_DAYS = 60  # an overcharge found by an older reconciliation is old news
ATTACH_ROLES = ("boleto_pdf", "nfse_pdf", "nfse_xml")
COLOURS = {"new": "#1a7f37", "block": "#cf222e", "review": "#9a6700", "due": "#0969da",
           "overdue": "#cf222e", "missing": "#9a6700", "over": "#b35900",
           "declaration": "#9a6700", "forecast": "#b35900", "unread": "#9a6700"}
DESK_BILL_PATH = "/faturas/{id}"  # the desk's page of one bill, under [web] base_url
HEADLINES = {"new": "Nova fatura", "block": "NÃO PAGAR: sinais de falsificação",
             "review": "Fatura para revisar", "due": "Vencimento próximo",
             "overdue": "Fatura vencida e não paga",
             "missing": "Fatura não recebida", "over": "Cobrança acima do esperado",
             "declaration": "Declaração pendente", "forecast": "Previsão acima do orçamento",
             "unread": "E-mail do fornecedor recebido, mas não lido"}


# -- facts about a bill -----------------------------------------------------------------------
def desk_link(config: Config, invoice_id: int | None) -> str | None:
    """The bill's page on the finance desk, when `[web] base_url` says where the desk is."""
    web = getattr(config.settings, "web", None)
    base = getattr(web, "base_url", None)
    if not base or invoice_id is None:
        return None
    return base.rstrip("/") + DESK_BILL_PATH.format(id=invoice_id)


def bill_facts(session: Session, inv: Invoice, config: Config) -> dict[str, Any]:
    """What an alert shows of a bill: fields, amount, due date, verdict in words."""
    boleto = session.exec(select(BoletoRow).where(BoletoRow.invoice_id == inv.id)).first()
    checks = [{"name": c.name, "outcome": c.outcome} for c in session.exec(
        select(CheckRow).where(CheckRow.invoice_id == inv.id)).all()]
    vendor = config.vendors.get(inv.vendor)
    return {
        "id": inv.id, "vendor": inv.vendor, "vendor_name": vendor.name if vendor else inv.vendor,
        "provider_cnpj": format_cnpj(inv.provider_cnpj) if inv.provider_cnpj else None,
        "contract": inv.contract_number,
        "month": inv.reference_month, "nfse_number": inv.nfse_number,
        "amount_cents": boleto.amount_cents if boleto is not None else inv.net_cents,
        "due_date": inv.due_date or (boleto.due_date if boleto is not None else None),
        "digitable_line": fmt.digitable_line(boleto.digitable_line, empty="")
        if boleto is not None else None,
        "verdict": inv.verdict, "verdict_words": words.verdict_words(inv.verdict, checks),
        "not_checked": words.not_checked(checks) if inv.verdict == "ok" else [],
        "issuer_checked": any(c["outcome"] == "pass" for c in checks
                              if c["name"] in words.ISSUER_CHECKS),
        "paid_at": inv.paid_at, "desk": desk_link(config, inv.id),
    }


def bill_problems(session: Session, inv: Invoice) -> list[str]:
    """Failed checks (and forgery-grade ones left unknown) in plain pt-BR words, with values."""
    msg = session.get(Message, inv.message_id) if inv.message_id is not None else None
    return words.problems(invoice_json(session, inv), msg.from_address if msg else None)


def verification_link(session: Session, inv: Invoice, config: Config) -> str | None:
    """The issuer's public page for the note: as the issuer look-up stored it, else built."""
    stored = session.exec(select(Verification.link).where(
        Verification.invoice_id == inv.id, Verification.link.is_not(None))).first()
    if stored:
        return stored
    try:
        from pipeline.checks.issuer import link_for, source_for
    except ImportError as exc:  # the issuer stage is optional for an alert
        log.warning("no verification link: %s", exc)
        return None
    return link_for(inv, source_for(inv, config), config.settings.authenticity)


def bill_documents(session: Session, inv: Invoice) -> list[dict[str, str]]:
    """The original bill documents of the email (boleto, NFS-e PDF and XML), by blob digest."""
    docs = session.exec(select(Document).where(Document.message_id == inv.message_id,
                                               Document.kind.in_(ATTACH_ROLES))).all()
    return [{"sha256": d.sha256, "filename": d.filename or f"{d.kind}-{d.sha256[:8]}",
             "content_type": d.content_type} for d in docs]


def over_facts(session: Session, inv: Invoice) -> dict[str, Any] | None:
    """Expected vs billed when a reconcile.* check failed because the bill is too high."""
    failed = session.exec(select(CheckRow).where(
        CheckRow.invoice_id == inv.id, CheckRow.name.in_(RECONCILE_CHECKS),
        CheckRow.outcome == "fail")).first()
    if failed is None:
        return None
    rec = session.exec(select(Reconciliation).where(Reconciliation.invoice_id == inv.id)
                       .order_by(Reconciliation.computed_at.desc())).first()
    if rec is not None and (rec.outcome != "over" or (rec.difference_cents or 0) <= 0):
        return None  # billed below expected: a review, not an overcharge
    return {"expected_cents": rec.expected_cents if rec else None,
            "billed_cents": rec.billed_cents if rec else None,
            "difference_cents": rec.difference_cents if rec else None}


# -- writing to the outbox --------------------------------------------------------------------
def _sender_domain(config: Config) -> str:
    address = parseaddr(config.settings.alerts.sender)[1]
    return address.rpartition("@")[2] or "localhost"


def enqueue(session: Session, config: Config, *, key: str, kind: str, subject: str,
            context: dict[str, Any], invoice_id: int | None = None, contract: str | None = None,
            month: str | None = None, attachments: Iterable[dict[str, str]] = ()) -> str | None:
    """Render and insert one alert unless its key is taken; the caller commits.

    Returns the key when a row was written. The insert does nothing on a duplicate key, so two
    processes evaluating the same rule at once still write it once.
    """
    if kind not in config.settings.alerts.kinds or not config.settings.alerts.to:
        return None  # alerts are off until there is someone to tell
    if session.exec(select(Alert.id).where(Alert.dedupe_key == key)).first() is not None:
        return None
    docs = list(attachments)
    ctx = {"kind": kind, "subject": subject, "headline": HEADLINES[kind],
           "colour": COLOURS[kind], "company": config.settings.company.name, "bill": None,
           "problems": [], "link": None, "over": None,
           "attachments": [d["filename"] for d in docs], **context}
    now = utcnow()
    row = Alert(dedupe_key=key, kind=kind, invoice_id=invoice_id, contract=contract, month=month,
                subject=subject, body_text=render("alert.txt.j2", **ctx),
                body_html=render("alert.html.j2", **ctx), attachments=json.dumps(docs),
                message_id=f"<confere.{kind}.{uuid4().hex}@{_sender_domain(config)}>",
                next_attempt_at=now, created_at=now)
    written = insert_ignore(session, Alert, row.model_dump(exclude={"id"}),
                            key=["dedupe_key"]) == 1
    if written:
        log.info("alert %s queued: %s", key, subject)
    return key if written else None


def _bill_subject(kind: str, bill: dict[str, Any], extra: str = "") -> str:
    where = f"{bill['vendor_name']} contrato {bill['contract'] or '?'}, {mes(bill['month'])}"
    amount = brl(bill["amount_cents"])
    if kind == "block":
        return f"NÃO PAGAR: fatura {where} ({amount}) com sinais de falsificação"
    if kind == "review":
        return f"Revisar fatura {where}: {amount}"
    if kind == "new":
        gaps = bill.get("not_checked") or []
        return f"Nova fatura {where}: {amount}, " + (
            f"ok, mas {' / '.join(gaps)}" if gaps else "ok para pagar")
    if kind == "over":
        return f"Cobrança acima do esperado: {where}{extra}"
    return f"{extra}: fatura {where}, {amount}"


def enqueue_bill_alerts(session: Session, invoice: Invoice, config: Config) -> list[str]:
    """The arrival alert of a bill (new / review / block by its verdict), and an overcharge one.

    Idempotent: a bill is announced once per severity, and never again at a lower one (a bill
    that became `block` after a `review` alert gets the block alert too). The caller commits.
    """
    assert invoice.id is not None, "flush the invoice before enqueueing its alerts"
    if not config.settings.alerts.to:
        return []
    flush_deferred(session)  # what follows reads the bill's checks, boleto and documents
    kind = ARRIVAL.get(invoice.verdict, "review")
    taken = session.exec(select(Alert.kind).where(Alert.invoice_id == invoice.id)).all()
    out: list[str] = []
    bill = bill_facts(session, invoice, config)
    stale = kind != "block" and is_stale(session, invoice, bill["due_date"], config)
    if stale:
        log.info("bill #%s is past due or old: no arrival alert", invoice.id)
    if not stale and all(SEVERITY.get(k, -1) < SEVERITY[kind] for k in taken):
        attach = config.settings.alerts.attach_documents and kind != "block"
        key = enqueue(
            session, config, key=f"bill:{invoice.id}:{kind}", kind=kind,
            subject=_bill_subject(kind, bill),
            context={"bill": bill, "problems": bill_problems(session, invoice),
                     "link": verification_link(session, invoice, config),
                     "over": over_facts(session, invoice)},
            invoice_id=invoice.id, contract=invoice.contract_number,
            month=invoice.reference_month,
            attachments=bill_documents(session, invoice) if attach else ())
        out += [key] if key else []
    out += _over_alert(session, invoice, config, bill)
    return out


def is_stale(session: Session, inv: Invoice, due: date | None, config: Config,
             today: date | None = None) -> bool:
    """A bill already past due, or whose email is older than `alerts.arrival_max_age_days`.

    The first import of an old mailbox finds months of paid bills: announcing each as new news
    would bury the one that matters. A forged one is still announced (the caller's choice).
    """
    max_age = config.settings.alerts.arrival_max_age_days
    if not max_age:
        return False  # 0: every bill is announced, however old
    today = today or today_local()
    if due is not None and due < today:
        return True
    msg = session.get(Message, inv.message_id) if inv.message_id is not None else None
    sent = (msg.sent_at or msg.received_at) if msg is not None else None
    if sent is None:
        return False
    sent_day = sent.astimezone(SAO_PAULO).date() if sent.tzinfo else sent.date()
    return (today - sent_day).days > max_age


def _over_alert(session: Session, inv: Invoice, config: Config,
                bill: dict[str, Any] | None = None) -> list[str]:
    over = over_facts(session, inv)
    if over is None:
        return []
    bill = bill or bill_facts(session, inv, config)
    extra = f" ({brl(over['difference_cents'], sign=True)})" if over["difference_cents"] else ""
    key = enqueue(session, config, key=f"over:{inv.id}", kind="over",
                  subject=_bill_subject("over", bill, extra),
                  context={"bill": bill, "over": over,
                           "problems": bill_problems(session, inv)},
                  invoice_id=inv.id, contract=inv.contract_number, month=inv.reference_month)
    return [key] if key else []


# -- time rules -------------------------------------------------------------------------------
def evaluate_time_rules(session: Session, config: Config, today: date | None = None) -> list[str]:
    """Every rule that depends on the calendar; returns the keys written. The caller commits."""
    if not config.settings.alerts.to:
        return []
    today = today or today_local()
    out = due_alerts(session, config, today)
    out += overdue_alerts(session, config, today)
    out += unread_alerts(session, config, today)
    if mail_pending(session):
        log.info("mail is still being processed: the 'not received' rule waits for it")
    else:
        out += missing_alerts(session, config, today)
    out += over_alerts(session, config, today)
    out += declaration_alerts(session, config, today)
    out += forecast_alerts(session, config, today)
    return out


def unpaid_bills(session: Session, config: Config
                 ) -> Iterable[tuple[Invoice, dict[str, Any], date | None]]:
    """Bills not paid and not blocked, with their alert facts and due date."""
    for inv in session.exec(select(Invoice).where(Invoice.paid_at.is_(None),
                                                  Invoice.verdict != "block")).all():
        bill = bill_facts(session, inv, config)
        yield inv, bill, bill["due_date"]


def due_alerts(session: Session, config: Config, today: date) -> list[str]:
    """Unpaid bills (not blocked) whose due date is within one of `alerts.due_days`."""
    days = config.settings.alerts.due_days
    if not days:
        return []
    horizon = max(days)
    out: list[str] = []
    for inv, bill, due in unpaid_bills(session, config):
        if due is None:
            continue
        left = (due - today).days
        if left < 0 or left > horizon:
            continue
        threshold = min(n for n in days if n >= left)
        when = "Vence hoje" if left == 0 else (
            "Vence amanhã" if left == 1 else f"Vence em {left} dias")
        key = enqueue(session, config, key=f"due:{inv.id}:{due.isoformat()}:{threshold}",
                      kind="due", subject=_bill_subject("due", bill, f"{when} ({due:%d/%m})"),
                      context={"bill": bill, "days_left": left,
                               "problems": bill_problems(session, inv),
                               "link": verification_link(session, inv, config)},
                      invoice_id=inv.id, contract=inv.contract_number, month=inv.reference_month,
                      attachments=bill_documents(session, inv)
                      if config.settings.alerts.attach_documents else ())
        out += [key] if key else []
    return out


def overdue_alerts(session: Session, config: Config, today: date) -> list[str]:
    """Unpaid bills (not blocked) whose due date has passed: once per bill and due date."""
    out: list[str] = []
    for inv, bill, due in unpaid_bills(session, config):
        if due is None or due >= today:
            continue
        late = (today - due).days
        if 0 < config.settings.alerts.arrival_max_age_days < late:
            continue  # an old bill found on a first import is history, not news
        key = enqueue(session, config, key=f"overdue:{inv.id}:{due.isoformat()}", kind="overdue",
                      subject=_bill_subject("overdue", bill, f"Vencida em {fmt.day(due)}"),
                      context={"bill": bill, "days_late": late,
                               "problems": bill_problems(session, inv)},
                      invoice_id=inv.id, contract=inv.contract_number, month=inv.reference_month)
        out += [key] if key else []
    return out


def mail_pending(session: Session) -> bool:
    """Whether stored mail is still waiting to be read (the calendar waits for it)."""
    return session.exec(select(Message.id).where(Message.status == "pending")).first() is not None


def vendor_of_sender(config: Config, address: str | None) -> str | None:
    """The vendor whose sender domains the address belongs to, if any."""
    domain = (address or "").rpartition("@")[2].strip(">").lower()
    for vendor in config.vendors.values():
        if domain and vendor.sender_matches(domain):
            return vendor.name
    return None


def unread_alerts(session: Session, config: Config, today: date) -> list[str]:
    """A vendor's email that could not be read (quarantined): someone must open it by hand.

    Not for one older than `alerts.arrival_max_age_days` (a first import of an old mailbox).
    """
    out: list[str] = []
    max_age = config.settings.alerts.arrival_max_age_days
    for msg in session.exec(select(Message).where(Message.status == "quarantined")).all():
        name = vendor_of_sender(config, msg.from_address)
        if name is None:
            continue
        received = msg.sent_at or msg.received_at
        if max_age and (today - received.astimezone(SAO_PAULO).date()).days > max_age:
            continue
        key = enqueue(session, config, key=f"unread:{msg.id}", kind="unread",
                      subject=f"E-mail de {name} recebido, mas não lido: "
                              f"{(msg.subject or '(sem assunto)')[:80]}",
                      context={"unread": {"vendor_name": name, "from": msg.from_address,
                                          "subject": msg.subject or "(sem assunto)",
                                          "received": fmt.moment(received),
                                          "reason": words.reason_words(msg.reason),
                                          "message_id": msg.id}})
        out += [key] if key else []
    return out


def has_bill(session: Session, contract: ContractConfig, month: str) -> bool:
    """Whether a bill of this contract for this reference month is stored."""
    rows = session.exec(select(Invoice.contract_number, Invoice.reference_month,
                               Invoice.competence).where(Invoice.vendor == contract.vendor)).all()
    number = only_digits(contract.number)
    for contract_number, reference_month, competence in rows:
        if only_digits(contract_number) != number:
            continue
        if reference_month == month or (competence and month_key(competence) == month):
            return True
    return False


def missing_alerts(session: Session, config: Config, today: date) -> list[str]:
    """Last month's bill of each configured contract, not received by day `missing_by_day`."""
    by_day = config.settings.alerts.missing_by_day
    if today.day < by_day:
        return []
    month = previous_month(today)
    out: list[str] = []
    for contract in config.settings.contracts:
        if has_bill(session, contract, month):
            continue
        vendor = config.vendors.get(contract.vendor)
        name = vendor.name if vendor else contract.vendor
        key = enqueue(session, config, key=f"missing:{contract.vendor}:{contract.number}:{month}",
                      kind="missing",
                      subject=f"Fatura não recebida: {name} contrato {contract.number}, "
                              f"{mes(month)}",
                      context={"vendor_name": name, "contract": contract.number, "month": month,
                               "by_day": by_day, "current_month": month_key(today)},
                      contract=contract.number, month=month)
        out += [key] if key else []
    return out


def over_alerts(session: Session, config: Config, today: date) -> list[str]:
    """Bills whose reconcile.* check failed lately, after they arrived (usage imported later)."""
    since = datetime.combine(today - timedelta(days=OVER_LOOKBACK_DAYS), time(0), SAO_PAULO)
    ids = session.exec(select(CheckRow.invoice_id).where(
        CheckRow.name.in_(RECONCILE_CHECKS), CheckRow.outcome == "fail",
        CheckRow.checked_at >= since)).all()
    out: list[str] = []
    for inv_id in sorted(set(ids)):
        inv = session.get(Invoice, inv_id)
        if inv is not None:
            out += _over_alert(session, inv, config)
    return out


def declaration_alerts(session: Session, config: Config, today: date) -> list[str]:
    """Metric contracts whose group's declarations are missing or draft near their deadline.

    The declarations of year Y price the bills of year Y + metric_year_offset; they are due by
    `alerts.declaration_deadline` (MM-DD) of that first billing year.
    """
    cfg = config.settings.alerts
    month, day = (int(x) for x in cfg.declaration_deadline.split("-"))
    out: list[str] = []
    for contract in config.settings.contracts:
        if contract.billing != "metric" or not contract.companies:
            continue
        for billing_year in (today.year, today.year + 1):
            year = billing_year - contract.metric_year_offset
            deadline = date(billing_year, month, min(day, monthrange(billing_year, month)[1]))
            left = (deadline - today).days
            if left > cfg.declaration_warning_days or left < -cfg.declaration_warning_days:
                continue
            p = proof(session, contract, year)
            if p.complete:
                continue
            vendor = config.vendors.get(contract.vendor)
            name = vendor.name if vendor else contract.vendor
            facts = {"vendor_name": name, "contract": contract.number, "year": year,
                     "deadline": deadline, "days_left": left,
                     "missing": [format_cnpj(c) for c in p.missing],
                     "drafts": [format_cnpj(c) for c in p.drafts]}
            key = enqueue(session, config, key=f"declaration:{contract.number}:{year}",
                          kind="declaration",
                          subject=f"Declaração pendente: {name} contrato {contract.number}, "
                                  f"ano {year}, prazo {deadline:%d/%m/%Y}",
                          context={"declaration": facts}, contract=contract.number)
            out += [key] if key else []
    return out


def forecast_alerts(session: Session, config: Config, today: date) -> list[str]:
    """Usage contracts with a budget whose month is projected above it (from day N on)."""
    if today.day < config.settings.alerts.forecast_from_day:
        return []
    now = datetime.now(UTC) if today == today_local() else datetime.combine(
        today, time(12), SAO_PAULO).astimezone(UTC)
    month = month_key(today)
    out: list[str] = []
    for contract in config.settings.contracts:
        if contract.billing != "usage" or contract.budget is None:
            continue
        f = forecast(session, config, contract, month, now)
        if f is None or not f.over_budget:
            continue
        vendor = config.vendors.get(contract.vendor)
        name = vendor.name if vendor else contract.vendor
        facts = {"vendor_name": name, "contract": contract.number, "month": month,
                 "forecast_cents": to_cents(f.projected), "budget_cents": to_cents(f.budget),
                 "so_far_cents": to_cents(f.so_far), "elapsed_pct": int(f.elapsed * 100)}
        key = enqueue(session, config, key=f"forecast:{contract.number}:{month}",
                      kind="forecast",
                      subject=f"Previsão acima do orçamento: {name} contrato {contract.number}, "
                              f"{mes(month)}: {brl(facts['forecast_cents'])} "
                              f"(orçamento {brl(facts['budget_cents'])})",
                      context={"forecast": facts}, contract=contract.number, month=month)
        out += [key] if key else []
    return out
