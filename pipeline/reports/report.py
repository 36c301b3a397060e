"""The reconciliation report: per contract and month, billed vs expected, checks, verdicts,
payment; as one self-contained HTML file, a pt-BR or plain CSV, or JSON."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from functools import partial
from typing import Any, Literal

from sqlmodel import Session, select

from parsers.months import SAO_PAULO, month_key, shift_month, today_local
from parsers.text import only_digits
from pipeline.checks import render as checks_words
from pipeline.checks.vocabulary import FORGERY_GRADE, VERDICT_WORDS, order_key
from pipeline.config.settings import Config, ContractConfig
from pipeline.contract import invoice_json
from pipeline.costs.reconcile import invoice_month
from pipeline.locale import format as fmt
from pipeline.notify.rules import has_bill, vendor_of_sender
from pipeline.templates import decimal_comma, mes, render
from storage import BoletoRow, CheckRow, Invoice, Message, from_cents
from storage.usage_models import Reconciliation

Format = Literal["html", "csv", "csv-plain", "json"]
FORMATS = ("html", "csv", "csv-plain", "json")
RECONCILE_WORDS = {"match": "confere", "over": "acima do esperado",
                   "under": "abaixo do esperado", "no_data": "sem dados", "no_bill": "sem fatura"}
PAYMENT_WORDS = {"paid": "paga", "open": "a vencer", "overdue": "vencida",
                 "blocked": "não pagar", "missing": "não recebida",
                 "unread": "recebida, não lida"}
CSV_HEADER_PT = ("competência", "fornecedor", "contrato", "fatura", "NFS-e", "vencimento",
                 "cobrado", "a pagar", "esperado", "diferença", "reconciliação", "veredito",
                 "conferências com falha", "pagamento", "pago em")
CSV_HEADER_PLAIN = ("month", "vendor", "contract", "invoice_id", "nfse_number", "due_date",
                    "billed", "payable", "expected", "difference", "reconciliation", "verdict",
                    "failed_checks", "payment", "paid_at")


@dataclass
class Row:
    """One bill (or one expected bill that did not arrive) of a contract in a month."""

    month: str
    vendor: str
    contract: str | None
    invoice_id: int | None = None
    nfse_number: str | None = None
    due_date: date | None = None
    billed_cents: int | None = None  # what the vendor charges (NFS-e services amount)
    payable_cents: int | None = None  # what is paid (the boleto, after retentions)
    expected_cents: int | None = None
    reconciliation: str | None = None  # match over under no_data no_bill, None: not computed
    verdict: str | None = None
    failed_checks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: int = 0
    payment: str = "open"
    paid_at: datetime | None = None
    not_checked: list[str] = field(default_factory=list)  # what an ok did not prove
    vendor_name: str = ""

    @property
    def verdict_words(self) -> str:
        """The verdict in words; an ok says what was not checked."""
        if not self.verdict:
            return "sem fatura"
        word = VERDICT_WORDS.get(self.verdict, self.verdict)
        return f"ok - {' / '.join(self.not_checked)}" if self.not_checked else word

    @property
    def difference_cents(self) -> int | None:
        """Billed minus expected, when both are known."""
        if self.billed_cents is None or self.expected_cents is None:
            return None
        return self.billed_cents - self.expected_cents


@dataclass
class Report:
    """What the report shows, whatever the format."""

    period: str  # YYYY-MM or YYYY
    months: list[str]  # the chart's months
    rows: list[Row]
    billed: list[int | None]  # per chart month, bills not blocked
    expected: list[int | None]
    company: str
    generated_at: datetime
    usage: list[dict[str, Any]] = field(default_factory=list)  # priced usage lines per month

    def difference_card(self) -> dict[str, Any]:
        """Billed and expected of the same bills, so the card's subtraction adds up; its tone
        is a warning only when a reconciliation found the difference beyond tolerance."""
        compared = [r for r in self.counted if r.expected_cents is not None]
        outcomes = {r.reconciliation for r in compared}
        tone = "over" if "over" in outcomes else ("under" if "under" in outcomes else "")
        return {"billed": sum(r.billed_cents or 0 for r in compared) if compared else None,
                "expected": sum(r.expected_cents or 0 for r in compared) if compared else None,
                "difference": sum(r.difference_cents or 0 for r in compared) if compared
                else None, "bills": len(compared), "tone": tone}

    @property
    def counted(self) -> list[Row]:
        """Rows in the period that count as real charges (not blocked, not missing)."""
        return [r for r in self.rows if r.invoice_id is not None and r.verdict != "block"]

    def totals(self) -> dict[str, int | None]:
        """Billed, expected, difference (of bills with an expectation) and blocked totals."""
        billed = sum(r.billed_cents or 0 for r in self.counted)
        with_exp = [r for r in self.counted if r.expected_cents is not None]
        expected = sum(r.expected_cents or 0 for r in with_exp) if with_exp else None
        difference = (sum(r.difference_cents or 0 for r in with_exp) if with_exp else None)
        blocked = sum(r.billed_cents or 0 for r in self.rows if r.verdict == "block")
        payable = sum(r.payable_cents or 0 for r in self.counted)
        return {"billed": billed, "payable": payable, "expected": expected,
                "difference": difference, "blocked": blocked}

    def counts(self) -> dict[str, int]:
        """Bills per verdict and per payment status."""
        out = {k: 0 for k in ("ok", "review", "block", "paid", "open", "overdue", "missing",
                              "unread")}
        for r in self.rows:
            if r.verdict:
                out[r.verdict] += 1
            if r.payment in out:
                out[r.payment] += 1
        return out


def period_months(period: str) -> tuple[list[str], list[str]]:
    """(months of the period, months the chart shows: the year, or 12 months up to the month)."""
    if len(period) == 4:
        months = [f"{period}-{m:02d}" for m in range(1, 13)]
        return months, months
    return [period], [shift_month(period, -back) for back in range(11, -1, -1)]


def _sender(s: Session, inv: Invoice) -> str | None:
    msg = s.get(Message, inv.message_id) if inv.message_id is not None else None
    return msg.from_address if msg else None


def _row(s: Session, inv: Invoice, month: str, rec: Reconciliation | None, today: date) -> Row:
    boleto = s.exec(select(BoletoRow).where(BoletoRow.invoice_id == inv.id)).first()
    checks = sorted(s.exec(select(CheckRow).where(CheckRow.invoice_id == inv.id)).all(),
                    key=lambda c: order_key(c.name))
    failed = [c for c in checks
              if c.outcome == "fail" or (c.outcome == "unknown" and c.name in FORGERY_GRADE)]
    due = inv.due_date or (boleto.due_date if boleto else None)
    if inv.verdict == "block":
        payment = "blocked"
    elif inv.paid_at is not None:
        payment = "paid"
    elif due is not None and due < today:
        payment = "overdue"
    else:
        payment = "open"
    billed = rec.billed_cents if rec and rec.billed_cents is not None else (
        inv.services_cents if inv.services_cents is not None else inv.net_cents)
    return Row(month=month, vendor=inv.vendor, contract=inv.contract_number, invoice_id=inv.id,
               nfse_number=inv.nfse_number, due_date=due, billed_cents=billed,
               payable_cents=boleto.amount_cents if boleto else inv.net_cents,
               expected_cents=rec.expected_cents if rec else None,
               reconciliation=rec.outcome if rec else None, verdict=inv.verdict,
               failed_checks=[c.name for c in failed],
               problems=checks_words.problems(invoice_json(s, inv), _sender(s, inv))
               if failed else [],
               skipped=sum(1 for c in checks if c.outcome == "skipped"),
               payment=payment, paid_at=inv.paid_at,
               not_checked=checks_words.not_checked(
                   {"name": c.name, "outcome": c.outcome} for c in checks)
               if inv.verdict == "ok" else [])


def build(s: Session, config: Config, period: str, today: date | None = None) -> Report:
    """Gather the report of a month (YYYY-MM) or a year (YYYY) from the store."""
    today = today or today_local()
    months, chart = period_months(period)
    wanted = set(months) | set(chart)
    by_contract_month = {(only_digits(r.contract), r.month): r for r in s.exec(
        select(Reconciliation).where(Reconciliation.month.in_(wanted))).all()}
    rows: list[Row] = []
    billed = {m: None for m in chart}
    expected = {m: None for m in chart}
    invoices = s.exec(select(Invoice).order_by(Invoice.id)).all()
    for inv in invoices:
        month = invoice_month(inv)
        if month not in wanted:
            continue
        rec = by_contract_month.get((only_digits(inv.contract_number), month))
        if rec is not None and rec.invoice_id not in (None, inv.id):
            rec = None  # the reconciliation judged another bill of that month
        row = _row(s, inv, month, rec, today)
        if month in months:
            rows.append(row)
        if month in billed and row.verdict != "block" and row.billed_cents is not None:
            billed[month] = (billed[month] or 0) + row.billed_cents
    for (_contract, month), rec in by_contract_month.items():
        if month in expected and rec.expected_cents is not None:
            expected[month] = (expected[month] or 0) + rec.expected_cents
    current = month_key(today)
    for contract in config.settings.contracts:
        for month in months:
            if month < current and not has_bill(s, contract, month):
                rec = by_contract_month.get((only_digits(contract.number), month))
                unread = received_unread(s, config, contract, month)
                rows.append(Row(month=month, vendor=contract.vendor, contract=contract.number,
                                expected_cents=rec.expected_cents if rec else None,
                                payment="unread" if unread else "missing"))
    rows.sort(key=lambda r: (r.month, r.contract or "", r.invoice_id or 0))
    for r in rows:
        vendor = config.vendors.get(r.vendor)
        r.vendor_name = vendor.name if vendor else r.vendor
    usage = [{"month": month, "contract": rec.contract, **line}
             for (_contract, month), rec in sorted(by_contract_month.items(),
                                                   key=lambda kv: (kv[0][1], kv[0][0]))
             if month in months for line in json.loads(rec.breakdown or "[]")]
    return Report(period, chart, rows, [billed[m] for m in chart], [expected[m] for m in chart],
                  config.settings.company.name, datetime.now().astimezone(), usage)


def received_unread(s: Session, config: Config, contract: ContractConfig, month: str) -> bool:
    """Whether a vendor's email that could not be read arrived when this month's bill was due.

    A bill arrives in the month after its reference month; a quarantined email from the
    vendor's domain then means the bill was probably received, not read, not that it is missing.
    """
    vendor = config.vendors.get(contract.vendor)
    if vendor is None:
        return False
    year, mon = int(month[:4]), int(month[5:7])
    start = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=SAO_PAULO)
    end = datetime(start.year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=SAO_PAULO)
    for msg in s.exec(select(Message).where(Message.status == "quarantined")).all():
        when = msg.sent_at or msg.received_at
        if when.tzinfo is None:
            when = when.replace(tzinfo=SAO_PAULO)
        if start <= when < end and vendor_of_sender(config, msg.from_address) == vendor.name:
            return True
    return False


def _money(cents: int | None) -> str | None:
    value = from_cents(cents)
    return None if value is None else f"{value:.2f}"


def to_json(report: Report) -> dict[str, Any]:
    """The report as one JSON object; amounts as strings with two decimals."""
    rows = []
    for r in report.rows:
        d = asdict(r)
        del d["not_checked"], d["vendor_name"]  # words for people; the JSON keeps its keys
        for key in ("billed_cents", "payable_cents", "expected_cents"):
            d[key.removesuffix("_cents")] = _money(d.pop(key))
        d["difference"] = _money(r.difference_cents)
        d["due_date"] = r.due_date.isoformat() if r.due_date else None
        d["paid_at"] = r.paid_at.isoformat() if r.paid_at else None
        rows.append(d)
    totals = {k: _money(v) for k, v in report.totals().items()}
    return {"period": report.period, "company": report.company,
            "generated_at": report.generated_at.isoformat(), "totals": totals,
            "counts": report.counts(), "rows": rows,
            "chart": [{"month": m, "billed": _money(b), "expected": _money(e)}
                      for m, b, e in zip(report.months, report.billed, report.expected,
                                         strict=True)]}


def to_csv(report: Report, *, plain: bool = False) -> bytes:
    """CSV bytes: pt-BR (semicolons, decimal comma, dd/mm/aaaa, UTF-8 BOM) or plain."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="," if plain else ";", lineterminator="\r\n")
    writer.writerow(CSV_HEADER_PLAIN if plain else CSV_HEADER_PT)
    for r in report.rows:
        if plain:
            money = _money
            day = (lambda v: v.isoformat() if v else "")  # noqa: E731
            words = {"verdict": r.verdict or "", "payment": r.payment,
                     "reconciliation": r.reconciliation or ""}
        else:
            money = decimal_comma
            day = partial(fmt.day, empty="")
            words = {"verdict": r.verdict_words if r.verdict else "",
                     "payment": PAYMENT_WORDS[r.payment],
                     "reconciliation": RECONCILE_WORDS.get(r.reconciliation or "", "")}
        failed = (" ".join(r.failed_checks) if plain
                  else "; ".join(checks_words.meaning(n) for n in r.failed_checks))
        writer.writerow([
            r.month if plain else mes(r.month), r.vendor if plain else r.vendor_name or r.vendor,
            r.contract or "", r.invoice_id or "",
            r.nfse_number or "", day(r.due_date), money(r.billed_cents) or "",
            money(r.payable_cents) or "",
            money(r.expected_cents) or "", money(r.difference_cents) or "",
            words["reconciliation"], words["verdict"], failed,
            words["payment"], day(r.paid_at.astimezone(SAO_PAULO).date() if r.paid_at else None)])
    text = buf.getvalue()
    return text.encode("utf-8") if plain else "\ufeff".encode() + text.encode("utf-8")


def to_html(report: Report) -> str:
    """One self-contained HTML page: inline CSS, the chart as inline SVG, no external links."""
    from pipeline.reports.charts import (  # slow import
        BILLED_COLOUR,
        EXPECTED_COLOUR,
        billed_vs_expected_svg,
    )

    title = (f"Conciliação de {mes(report.period)}" if len(report.period) == 7
             else f"Conciliação de {report.period}")
    chart = billed_vs_expected_svg(report.months, report.billed, report.expected)
    return render("report.html.j2", report=report, title=title, chart=chart,
                  totals=report.totals(), counts=report.counts(), verdict_words=VERDICT_WORDS,
                  difference=report.difference_card(),
                  payment_words=PAYMENT_WORDS, billed_colour=BILLED_COLOUR,
                  expected_colour=EXPECTED_COLOUR)


def render_report(report: Report, fmt: Format) -> bytes:
    """The report in one of FORMATS, as bytes ready to write."""
    if fmt == "html":
        return to_html(report).encode("utf-8")
    if fmt in ("csv", "csv-plain"):
        return to_csv(report, plain=fmt == "csv-plain")
    return (json.dumps(to_json(report), ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def latest_period(s: Session) -> str:
    """The year of the newest bill's month (the demo's report), else the current year."""
    months = [m for m in s.exec(select(Invoice.reference_month)).all() if m]
    return max(months)[:4] if months else str(today_local().year)
