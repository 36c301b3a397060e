"""`confere verify`: ask the issuers (and re-judge the email's authentication) again."""

from __future__ import annotations

import json
import sys

import click
from sqlmodel import Session

from pipeline.checks.issuer import pending, verify_authenticity
from pipeline.cli.app import App, config_option, out_console
from pipeline.contract import invoice_json
from storage import Invoice


@click.command()
@config_option
@click.argument("invoice_id", type=int, required=False)
@click.option("--pending", "only_pending", is_flag=True,
              help="Every bill whose issuer look-up is due (unknown, never asked, or newly "
                   "possible because a certificate is now configured).")
@click.option("--json", "as_json", is_flag=True, help="One invoice object per line.")
def verify(config_path: str | None, invoice_id: int | None, only_pending: bool,
           as_json: bool) -> None:
    """Re-run authenticity checks: one bill (INVOICE_ID) or --pending."""
    if (invoice_id is None) == (not only_pending):
        raise click.UsageError("give an INVOICE_ID or --pending (not both)")
    app = App(config_path)
    app.check_secrets()
    engine = app.engine()
    with Session(engine, expire_on_commit=False) as s:
        if invoice_id is not None:
            inv = s.get(Invoice, invoice_id)
            if inv is None:
                raise click.ClickException(f"no invoice #{invoice_id} (see `confere invoices`)")
            targets = [inv]
        else:
            targets = pending(s, app.config)
    console = out_console()
    if not targets and not as_json:
        console.print("nothing to verify: no bill's issuer look-up is due")
    for inv in targets:
        with Session(engine, expire_on_commit=False) as s:
            inv = s.get(Invoice, inv.id)
            assert inv is not None
            checks = verify_authenticity(s, inv, None, app.config, force=invoice_id is not None)
            s.commit()
            obj = invoice_json(s, inv)
        if as_json:
            sys.stdout.write(json.dumps({"id": inv.id, **obj}, ensure_ascii=False) + "\n")
            sys.stdout.flush()
            continue
        console.print(f"#{inv.id} NFS-e {inv.nfse_number or '?'}: verdict {obj['verdict']}",
                      highlight=False)
        for c in checks:
            console.print(f"{c.outcome:>8}  {c.name}: {c.detail}", highlight=False)
        if obj["verification_link"]:
            console.print(f"    link: {obj['verification_link']}", highlight=False)
