"""What every command shares: the lazily built configuration and store, options, output."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

if TYPE_CHECKING:
    from pipeline.config.settings import Config
    from pipeline.ingest.sandbox import Sandbox

# Soft-wrapped: a message stays one line on a pipe or in a log (the terminal wraps it itself).
err = Console(stderr=True, soft_wrap=True)


class App:
    """Lazily built configuration and store for one command."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            from pipeline.config.settings import load

            self._config = load(self.config_path)
        return self._config

    def engine(self):
        from storage import open_store

        return open_store(self.config.database_url)

    def check_secrets(self) -> None:
        """Before a command that may ask the issuer: the variables the config names are set."""
        from pipeline.config.settings import check_environment

        check_environment(self.config)

    def sandbox(self) -> Sandbox:
        """The parse workers; a command reading mail may ask the issuer, so secrets first."""
        from pipeline.ingest.sandbox import Sandbox

        self.check_secrets()
        lim = self.config.settings.limits
        return Sandbox(workers=lim.workers, seconds=lim.parse_seconds,
                       memory_mb=lim.parse_memory_mb,
                       max_attachment_bytes=lim.max_attachment_bytes)


def out_console() -> Console:
    """A console for stdout: on a pipe, wide enough that tables are not cut (and no colour)."""
    return Console() if sys.stdout.isatty() else Console(width=200)


def emit(obj: dict[str, Any]) -> None:
    """One JSON object on its own line of stdout (the `--json` listings)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


config_option = click.option("--config", "config_path", metavar="FILE",
                             envvar="CONFERE_CONFIG",
                             help="Configuration file (default: $CONFERE_CONFIG, ./confere.toml).")
