"""`confere usage`, `confere metrics` and `confere reconcile`: what each bill should cost."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from sqlmodel import Session, select

from parsers.cnpj import format_cnpj
from parsers.ecf import parse_ecf
from parsers.errors import ConfereError, EcfError, ParseError
from parsers.money import parse_amount as read_amount
from parsers.months import month_of, parse_month, previous_month, today_local
from pipeline.cli.app import App, config_option, emit, out_console
from pipeline.config.settings import ContractConfig
from pipeline.costs import metrics as metrics_mod
from pipeline.costs.forecast import forecast
from pipeline.costs.reconcile import money, reconcile_month, refresh, refresh_metric
from pipeline.costs.usage import import_file
from pipeline.locale import format as fmt
from storage.usage_models import MetricDeclaration

OUTCOME_WORDS = {"match": "confere", "over": "acima do esperado", "under": "abaixo do esperado",
                 "no_data": "sem dados", "no_bill": "sem fatura"}
STATUS_WORDS = {"draft": "rascunho", "concluded": "concluída"}


def confirm(question: str) -> bool:
    """Ask a yes/no question on stderr; s, sim, y and yes mean yes, anything else no."""
    try:
        answer = click.prompt(f"{question} [s/N]", default="", show_default=False, err=True)
    except click.Abort:
        return False
    return fmt.yes(answer)


def parse_amount(text: str, name: str) -> Decimal:
    """`12000000.00`, `12.000.000,00` or `12,000,000.00` as Decimal; ClickException naming it."""
    try:
        return read_amount(text, places=2)
    except ParseError:
        raise click.ClickException(f"--{name}: {text!r} is not an amount in reais "
                                   "(e.g. 12000000.00 or 12.000.000,00)") from None


def _month(value: str | None) -> str:
    if value is None:
        return previous_month(today_local())
    try:
        parse_month(value)
    except ValueError as exc:
        raise click.ClickException(f"--month: {exc}") from None
    return value


def _contracts(app: App, number: str | None, billing: str | None = None) -> list[ContractConfig]:
    chosen = [c for c in app.config.settings.contracts
              if (number is None or c.number == number) and (billing is None
                                                              or c.billing == billing)]
    if number is not None and not chosen:
        known = ", ".join(c.number for c in app.config.settings.contracts) or "none"
        raise click.ClickException(f"--contract: {number} is not a configured contract "
                                   f"(configured: {known})")
    return chosen


# -- usage -----------------------------------------------------------------------------------
@click.group()
def usage() -> None:
    """Metered Integra Contador usage: import it, forecast the month."""


@usage.command("import")
@config_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--contract", metavar="NUMBER", help="Contract for rows that name none.")
@click.option("--json", "as_json", is_flag=True, help="The summary as one JSON object.")
def usage_import(config_path: str | None, file: Path, contract: str | None,
                 as_json: bool) -> None:
    """Import usage events from CSV or JSON Lines (idempotent by request_id)."""
    app = App(config_path)
    if not file.is_file():
        raise click.ClickException(f"{file}: no such file")
    engine = app.engine()
    try:
        report = import_file(engine, app.config, file, contract=contract)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    results = refresh(engine, app.config, report.keys)
    for bad in report.bad[:50]:
        click.echo(f"{file}:{bad.line}: {bad.field}: {bad.problem}", err=True)
    if len(report.bad) > 50:
        click.echo(f"{file}: ... and {len(report.bad) - 50} more bad rows", err=True)
    if as_json:
        emit({"file": str(file), "read": report.read, "imported": report.imported,
               "duplicates": report.duplicates,
               "bad": [{"line": b.line, "field": b.field, "problem": b.problem}
                       for b in report.bad],
               "reconciled": [r.to_json() for r in results]})
        return
    n = fmt.number
    click.echo(f"{file}: {n(report.read)} linha(s) lida(s), {n(report.imported)} importada(s), "
               f"{n(report.duplicates)} já conhecida(s), {n(len(report.bad))} com erro")
    for r in results:
        click.echo(f"contrato {r.contract.number}, {fmt.month(r.month)}: "
                   f"{OUTCOME_WORDS.get(r.outcome, r.outcome)} (esperado "
                   f"{fmt.money(r.expected, cents=False)}, cobrado "
                   f"{fmt.money(r.billed, cents=False)})")


@usage.command("forecast")
@config_option
@click.option("--contract", metavar="NUMBER", help="Only this contract.")
@click.option("--month", metavar="YYYY-MM", help="Default: this month (America/Sao_Paulo).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per contract.")
def usage_forecast(config_path: str | None, contract: str | None, month: str | None,
                   as_json: bool) -> None:
    """Where this month's bill is heading, from the usage so far."""
    app = App(config_path)
    chosen = _contracts(app, contract, "usage")
    month = _month(month) if month else month_of(datetime.now(UTC))
    with Session(app.engine()) as s:
        found = [f for c in chosen if (f := forecast(s, app.config, c, month)) is not None]
    for f in found:
        if as_json:
            emit(f.to_json())
            continue
        m = fmt.money
        budget = "" if f.budget is None else (
            f"; orçamento {m(f.budget, cents=False)}: "
            + ("ACIMA" if f.over_budget else "dentro"))
        click.echo(f"contrato {f.contract}, {fmt.month(f.month)} ({f.elapsed * 100:.0f}% do "
                   f"mês): {m(f.so_far, cents=False)} até agora, a caminho de "
                   f"{m(f.projected, cents=False)}{budget}")
        for p in f.lines:
            if p.count:
                click.echo(f"  {p.type}: ~{fmt.number(p.count)} requisições, faixa {p.band} a "
                           f"{m(p.unit_price, cents=False)}")


# -- metrics ---------------------------------------------------------------------------------
@click.group()
def metrics() -> None:
    """Metric declarations (revenue-priced contracts)."""


def _save(app: App, vendor: str, cnpj: str, year: int, figures: metrics_mod.Figures,
          conclude: bool, source: str, detail: str | None) -> dict[str, Any]:
    if vendor not in app.config.vendors:
        raise click.ClickException(f"--vendor: {vendor!r} is not a known vendor "
                                   f"(known: {', '.join(sorted(app.config.vendors))})")
    with Session(app.engine(), expire_on_commit=False) as s:
        try:
            row = metrics_mod.save(s, vendor, cnpj, year, figures,
                                   status="concluded" if conclude else "draft", source=source,
                                   source_detail=detail)
        except ConfereError as exc:
            raise click.ClickException(str(exc)) from None
        s.commit()
        return metrics_mod.declaration_json(row)


def _rejudge(app: App, vendor: str, cnpj: str, year: int) -> None:
    """Bills of metric contracts whose group includes the company are judged again."""
    engine = app.engine()
    for c in app.config.settings.contracts:
        if c.billing == "metric" and c.vendor == vendor and cnpj in c.companies:
            for r in refresh_metric(engine, app.config, c, year):
                click.echo(f"re-reconciled contract {c.number} {r.month}: {r.outcome}", err=True)


def _print_declaration(d: dict[str, Any]) -> None:
    m = fmt.money
    click.echo(f"{d['vendor']} {format_cnpj(d['company_cnpj'])} {d['year']}: receita bruta "
               f"{m(d['gross_revenue'], cents=False)} - cancelamentos "
               f"{m(d['cancellations'], cents=False)} - impostos {m(d['taxes'], cents=False)} - "
               f"descontos {m(d['discounts'], cents=False)} = receita líquida "
               f"{m(d['net_revenue'], cents=False)} ({STATUS_WORDS.get(d['status'], d['status'])})")


def _declaration(s: Session, vendor: str, cnpj: str, year: int) -> MetricDeclaration | None:
    """The stored declaration of a company (CNPJ digits) for a vendor and year."""
    return s.exec(select(MetricDeclaration).where(
        MetricDeclaration.vendor == vendor, MetricDeclaration.company_cnpj == cnpj,
        MetricDeclaration.year == year)).first()


def _warn_reopen(app: App, vendor: str, cnpj: str, year: int) -> None:
    """Re-declaring a company of a concluded proof reopens it: say so before saving."""
    digits = "".join(ch for ch in cnpj if ch.isdigit())
    with Session(app.engine()) as s:
        row = _declaration(s, vendor, digits, year)
    if row is not None and row.status == "concluded":
        click.echo(f"atenção: {format_cnpj(digits)} {year} já estava declarada e concluída; a "
                   "nova declaração substitui a anterior e a prova do contrato volta a ficar "
                   "aberta até ser concluída de novo (confere metrics conclude)", err=True)


@metrics.command("declare")
@config_option
@click.option("--vendor", required=True, help="The vendor pricing by this metric.")
@click.option("--cnpj", required=True, help="The declaring company's CNPJ.")
@click.option("--year", required=True, type=int, help="The year the revenue is of.")
@click.option("--gross", required=True, help="TOTAL RECEITA BRUTA.")
@click.option("--cancellations", default="0", show_default=True,
              help="Cancelamento de servicos e vendas.")
@click.option("--taxes", default="0", show_default=True, help="Impostos sobre servicos e vendas.")
@click.option("--discounts", default="0", show_default=True, help="Descontos incondicionais.")
@click.option("--conclude", is_flag=True, help="Save as concluded (default: draft).")
@click.option("--json", "as_json", is_flag=True, help="The declaration as JSON.")
def metrics_declare(config_path: str | None, vendor: str, cnpj: str, year: int, gross: str,
                    cancellations: str, taxes: str, discounts: str, conclude: bool,
                    as_json: bool) -> None:
    """Declare one company's yearly figures by form (Simples Nacional and others)."""
    figures = metrics_mod.Figures(parse_amount(gross, "gross"),
                                  parse_amount(cancellations, "cancellations"),
                                  parse_amount(taxes, "taxes"),
                                  parse_amount(discounts, "discounts"))
    app = App(config_path)
    _warn_reopen(app, vendor, cnpj, year)
    d = _save(app, vendor, cnpj, year, figures, conclude, "form", None)
    emit(d) if as_json else _print_declaration(d)
    _rejudge(app, vendor, d["company_cnpj"], year)


@metrics.command("import-ecf")
@config_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--vendor", required=True, help="The vendor pricing by this metric.")
@click.option("--cancellations", help="Override the proposed cancellations.")
@click.option("--taxes", help="Override the proposed taxes.")
@click.option("--discounts", help="Override the proposed discounts.")
@click.option("--conclude", is_flag=True, help="Save as concluded (default: draft).")
@click.option("--yes", is_flag=True, help="Save the proposed figures without asking.")
@click.option("--json", "as_json", is_flag=True, help="The declaration as JSON.")
def metrics_import_ecf(config_path: str | None, file: Path, vendor: str,
                       cancellations: str | None, taxes: str | None, discounts: str | None,
                       conclude: bool, yes: bool, as_json: bool) -> None:
    """Propose a declaration from a company's ECF file (Lucro Real, Presumido...), then save."""
    try:
        ecf = parse_ecf(file.read_bytes())
    except OSError as exc:
        raise click.ClickException(f"{file}: cannot read: {exc.strerror}") from None
    except EcfError as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    proposed, notes = metrics_mod.figures_from_ecf(ecf)
    figures = metrics_mod.Figures(
        proposed.gross,
        parse_amount(cancellations, "cancellations") if cancellations else proposed.cancellations,
        parse_amount(taxes, "taxes") if taxes else proposed.taxes,
        parse_amount(discounts, "discounts") if discounts else proposed.discounts)
    out = sys.stderr if as_json else sys.stdout
    print(f"{file}: ECF of {ecf.cnpj} {ecf.name}, {ecf.start:%d/%m/%Y}-{ecf.end:%d/%m/%Y}, "
          f"{ecf.regime or 'forma de tributacao ' + str(ecf.forma_trib)} "
          f"({ecf.statement}, {'+'.join(ecf.periods)})", file=out)
    print(f"  receita bruta {figures.gross} - cancelamentos {figures.cancellations} - impostos "
          f"{figures.taxes} - descontos {figures.discounts} = receita liquida {figures.net}",
          file=out)
    for note in notes:
        print(f"  note: {note}", file=out)
    if not yes and not confirm("Save this declaration?"):
        raise click.ClickException("not saved (confirm, or pass --yes)")
    detail = f"{file.name}: {ecf.statement} {'+'.join(ecf.periods)}"
    app = App(config_path)
    d = _save(app, vendor, ecf.cnpj, ecf.year, figures, conclude, "ecf", detail)
    emit(d) if as_json else _print_declaration(d)
    _rejudge(app, vendor, ecf.cnpj, ecf.year)


@metrics.command("conclude")
@config_option
@click.option("--contract", "number", required=True, help="The metric contract.")
@click.option("--year", required=True, type=int, help="The declared year.")
def metrics_conclude(config_path: str | None, number: str, year: int) -> None:
    """Conclude a contract's proof: every company of its group must be declared."""
    app = App(config_path)
    contract = _contracts(app, number)[0]
    with Session(app.engine()) as s:
        try:
            proof = metrics_mod.conclude(s, contract, year)
        except ConfereError as exc:
            raise click.ClickException(str(exc)) from None
        s.commit()
        click.echo(f"contract {number}, {year}: proof concluded for {len(proof.companies)} "
                   f"companies, net revenue {money(proof.metric)}")
    for r in refresh_metric(app.engine(), app.config, contract, year):
        click.echo(f"re-reconciled contract {number} {r.month}: {r.outcome} (expected "
                   f"{money(r.expected)}, billed {money(r.billed)})")


@metrics.command("list")
@config_option
@click.option("--year", type=int, help="Only this year.")
@click.option("--json", "as_json", is_flag=True, help="One declaration per line.")
def metrics_list(config_path: str | None, year: int | None, as_json: bool) -> None:
    """Stored declarations, and each metric contract's proof."""
    app = App(config_path)
    with Session(app.engine()) as s:
        q = select(MetricDeclaration).order_by(MetricDeclaration.year, MetricDeclaration.vendor,
                                               MetricDeclaration.company_cnpj)
        rows = s.exec(q.where(MetricDeclaration.year == year) if year else q).all()
        for row in rows:
            d = metrics_mod.declaration_json(row)
            emit(d) if as_json else _print_declaration(d)
        if as_json:
            return
        if not rows:
            when = f" for {year}" if year else ""
            click.echo(f"no declarations{when} yet: add one with `confere metrics declare` or "
                       "`confere metrics import-ecf`")
        for c in _contracts(app, None, "metric"):
            for y in sorted({r.year for r in rows if r.vendor == c.vendor}):
                p = metrics_mod.proof(s, c, y)
                state = "complete" if p.complete else (
                    f"incomplete (missing {', '.join(p.missing) or '-'}; "
                    f"drafts {', '.join(p.drafts) or '-'})")
                click.echo(f"contract {c.number} {y}: proof {state}")


@metrics.command("delete")
@config_option
@click.option("--vendor", required=True, help="The vendor of the declaration.")
@click.option("--cnpj", required=True, help="The declaring company's CNPJ.")
@click.option("--year", required=True, type=int, help="The declared year.")
@click.option("--yes", is_flag=True, help="Delete without asking.")
def metrics_delete(config_path: str | None, vendor: str, cnpj: str, year: int,
                   yes: bool) -> None:
    """Delete a declaration saved by mistake (a draft; a concluded one needs --yes)."""
    app = App(config_path)
    digits = "".join(ch for ch in cnpj if ch.isdigit())
    with Session(app.engine()) as s:
        row = _declaration(s, vendor, digits, year)
        if row is None:
            raise click.ClickException(f"no declaration of {cnpj} for {vendor} in {year} "
                                       "(see `confere metrics list`)")
        if row.status == "concluded" and not yes and not confirm(
                f"{format_cnpj(digits)} {year} is concluded; deleting it reopens the proof. "
                "Delete?"):
            raise click.ClickException("not deleted (confirm, or pass --yes)")
        s.delete(row)
        s.commit()
    click.echo(f"declaração de {format_cnpj(digits)} {year} ({vendor}) apagada")
    _rejudge(app, vendor, digits, year)


# -- reconcile -------------------------------------------------------------------------------
@click.command()
@config_option
@click.option("--month", metavar="YYYY-MM", help="Default: last month (America/Sao_Paulo).")
@click.option("--contract", metavar="NUMBER", help="Only this contract.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per contract.")
def reconcile(config_path: str | None, month: str | None, contract: str | None,
              as_json: bool) -> None:
    """Expected vs billed per contract for a month; stores the results and updates bills."""
    app = App(config_path)
    month = _month(month)
    chosen = _contracts(app, contract)
    engine = app.engine()
    results = reconcile_month(engine, app.config, month, chosen)
    current = month == month_of(datetime.now(UTC))
    with Session(engine) as s:
        for r in results:
            f = forecast(s, app.config, r.contract, month) if current else None
            r.extra["forecast"] = f.to_json() if f else None
    if as_json:
        for r in results:
            emit(r.to_json())
        return
    _table(results)


def _table(results: list[Any]) -> None:
    console = out_console()
    table = Table(title="o que cada contrato deveria custar")
    for col in ("contrato", "mês", "esperado", "cobrado", "diferença", "tolerância",
                "resultado"):
        table.add_column(col)
    for r in results:
        d = r.to_json()
        table.add_row(d["contract"], fmt.month(d["month"]),
                      fmt.money(d["expected_amount"], cents=False),
                      fmt.money(d["billed_amount"], cents=False),
                      fmt.money(d["difference"], cents=False, sign=True),
                      fmt.money(d["tolerance"], cents=False),
                      OUTCOME_WORDS.get(d["outcome"], d["outcome"]))
    console.print(table)
