"""`confere web`: serve the finance desk (pages and /api/v1) with uvicorn."""

from __future__ import annotations

import click

from pipeline.cli.app import App, config_option, err

LOOPBACK = ("127.0.0.1", "::1", "localhost")


@click.command("web")
@config_option
@click.option("--host", default=None, help="Address to listen on (default: [web].host, "
              "127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: [web].port, 8765).")
def web(config_path: str | None, host: str | None, port: int | None) -> None:
    """Serve the finance desk until Ctrl-C."""
    import uvicorn

    from pipeline.web.app import create_app

    app = App(config_path)
    settings = app.config.settings.web
    host = host or settings.host
    port = port or settings.port
    if host not in LOOPBACK:
        err.print(f"confere web: listening on {host}, beyond this machine: put it behind a TLS "
                  "proxy and set [web].base_url to its https:// address", highlight=False)
    desk = create_app(app.config, app.engine())
    shown = "localhost" if host in LOOPBACK else host
    err.print(f"confere web: the desk is at http://{shown}:{port}/ (Ctrl-C stops it)",
              highlight=False)
    uvicorn.run(desk, host=host, port=port, log_level="warning", proxy_headers=False,
                server_header=False)
