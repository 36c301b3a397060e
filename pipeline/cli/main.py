"""The `confere` command line: subcommands grouped by what a person does, loaded on use."""

from __future__ import annotations

import importlib
import sys
from typing import NoReturn

import click

from pipeline import __version__

# name -> (module:attribute, one-line help); a command's module is imported only when it runs,
# so `confere --help` and `confere --version` do not load the whole stack.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("pipeline.cli.bills:init", "Write a commented starter configuration."),
    "demo": ("pipeline.cli.bills:demo",
             "The whole job on the bundled sample mailbox, into a fresh SQLite store."),
    "ingest": ("pipeline.cli.bills:ingest",
               "Read .eml files or folders of them: parse, verify, store."),
    "invoices": ("pipeline.cli.bills:invoices",
                 "List stored bills by due date, with filters and the payment status."),
    "show": ("pipeline.cli.bills:show", "One bill: verdict and why, amount, payment, checks."),
    "approve": ("pipeline.cli.desk:approve", "Approve a `review` bill, with a reason."),
    "reject": ("pipeline.cli.desk:reject", "Reject a bill (not to be paid), with a reason."),
    "undo": ("pipeline.cli.desk:undo", "Undo a bill's last decision or payment, with a reason."),
    "override": ("pipeline.cli.desk:override",
                 "Clear a `block` bill for payment (admin; asks to confirm)."),
    "recheck": ("pipeline.cli.desk:recheck",
                "Judge stored bills again against the current configuration."),
    "documents": ("pipeline.cli.desk:documents",
                  "Write a bill's stored email, boleto and NFS-e files into a folder."),
    "audit": ("pipeline.cli.desk:audit", "The audit log: who decided what, when, and why."),
    "users": ("pipeline.cli.accounts:users", "People who log in to the desk."),
    "tokens": ("pipeline.cli.accounts:tokens", "Bearer tokens for the desk's JSON API."),
    "verify": ("pipeline.cli.verify:verify",
               "Re-run authenticity checks: one bill (INVOICE_ID) or --pending."),
    "paid": ("pipeline.cli.desk:paid", "Mark a bill paid (no more due-date reminders for it)."),
    "run": ("pipeline.cli.mail:run_daemon",
            "Watch the configured mailboxes until SIGTERM / SIGINT (the daemon)."),
    "poll": ("pipeline.cli.mail:poll",
             "One pass over every mailbox, then process what is pending, and exit."),
    "status": ("pipeline.cli.mail:status",
               "Per mailbox: the last poll, the cursor, the backlog and the last error."),
    "usage": ("pipeline.cli.costs:usage",
              "Metered Integra Contador usage: import it, forecast the month."),
    "metrics": ("pipeline.cli.costs:metrics", "Metric declarations (revenue-priced contracts)."),
    "reconcile": ("pipeline.cli.costs:reconcile",
                  "Expected vs billed per contract for a month; stores the results."),
    "report": ("pipeline.cli.alerts:report",
               "The reconciliation report: billed vs expected, checks, verdicts, payment."),
    "alerts": ("pipeline.cli.alerts:alerts", "The alert outbox: list it, deliver what is pending."),
    "quarantine": ("pipeline.cli.quarantine:quarantine",
                   "Quarantined messages: list them, retry those a transient fault held back."),
    "web": ("pipeline.cli.web:web",
            "Serve the finance desk: pt-BR pages and the /api/v1 JSON API."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported by name when used, listed from COMMANDS."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, _, attr = entry[0].partition(":")
        command = getattr(importlib.import_module(module), attr)
        command.name = cmd_name
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, short) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="confere")
def main() -> None:
    """Read vendors' billing emails, prove each bill genuine, and check what it should cost."""


def run() -> None:
    """Entry point that turns confere's own errors into a message and exit code 2."""
    try:
        main(standalone_mode=True)
    except KeyboardInterrupt:  # Ctrl-C: stop quietly, as a person asked
        sys.stderr.write("confere: stopped (Ctrl-C)\n")
        sys.exit(130)
    except Exception as exc:
        _fail(exc)


def _fail(exc: Exception) -> NoReturn:
    """Say what went wrong in one line (exit 2) for confere's errors and a store that is down."""
    # Imported only on failure: parsers and SQLAlchemy would double `confere --help`'s start.
    from sqlalchemy.exc import OperationalError

    from parsers.errors import ConfereError
    from pipeline.cli.app import err

    if isinstance(exc, ConfereError):  # no markup: a hint such as [vendors.totvs] stays as is
        err.print(f"confere: {exc}", highlight=False, markup=False)
        sys.exit(2)
    if isinstance(exc, OperationalError):  # the store is down or locked: say so, no traceback
        reason = (str(exc.orig or exc).strip().splitlines() or ["unknown error"])[0]
        err.print(f"confere: the database cannot be used: {reason}", highlight=False,
                  markup=False)
        sys.exit(2)
    raise exc


__all__ = ["COMMANDS", "main", "run"]
