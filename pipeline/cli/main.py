"""The `confere` command line: subcommands grouped by what a person does, loaded on use."""

from __future__ import annotations

import importlib
import sys

import click

# name -> (module:attribute, one-line help); a command's module is imported only when it runs,
# so `confere --help` and `confere --version` do not load the whole stack.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("pipeline.cli.bills:init", "Write a commented starter configuration."),
    "demo": ("pipeline.cli.bills:demo",
             "The whole job on the bundled sample mailbox, into a fresh SQLite store."),
    "ingest": ("pipeline.cli.bills:ingest",
               "Read .eml files or folders of them: parse, verify, store."),
    "invoices": ("pipeline.cli.bills:invoices", "List stored bills, newest first."),
    "show": ("pipeline.cli.bills:show", "One bill with its checks."),
    "verify": ("pipeline.cli.verify:verify",
               "Re-run authenticity checks: one bill (INVOICE_ID) or --pending."),
    "paid": ("pipeline.cli.alerts:paid", "Mark a bill paid (no more due-date reminders for it)."),
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
@click.version_option(package_name="confere")
def main() -> None:
    """Read vendors' billing emails, prove each bill genuine, and check what it should cost."""


def run() -> None:
    """Entry point that turns confere's own errors into a message and exit code 2."""
    from sqlalchemy.exc import OperationalError

    from parsers.errors import ConfereError
    from pipeline.cli.app import err

    try:
        main(standalone_mode=True)
    except ConfereError as exc:  # no markup: a hint such as [vendors.totvs] is printed as is
        err.print(f"confere: {exc}", highlight=False, markup=False)
        sys.exit(2)
    except KeyboardInterrupt:  # Ctrl-C: stop quietly, as a person asked
        err.print("confere: stopped (Ctrl-C)", highlight=False, markup=False)
        sys.exit(130)
    except OperationalError as exc:  # the store is down or locked: say so, not a traceback
        reason = (str(exc.orig or exc).strip().splitlines() or ["unknown error"])[0]
        err.print(f"confere: the database cannot be used: {reason}", highlight=False,
                  markup=False)
        sys.exit(2)


__all__ = ["COMMANDS", "main", "run"]
