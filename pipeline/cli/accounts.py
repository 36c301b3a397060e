"""`confere users` and `confere tokens`: who may log in to the desk and call its API."""

from __future__ import annotations

import os

import click
from rich.table import Table
from sqlmodel import Session

from pipeline.cli.app import App, config_option, emit, out_console
from pipeline.desk import users as accounts
from pipeline.desk.roles import Role, cli_actor
from pipeline.templates import data

role_option = click.option("--role", required=True, type=click.Choice([str(r) for r in Role]),
                           help="viewer reads; approver decides and pays; admin does all.")


def _password(password_env: str | None) -> str:
    """The password from the named environment variable, else asked twice (hidden)."""
    if password_env:
        value = os.environ.get(password_env)
        if not value:
            raise click.ClickException(f"the environment variable ${password_env} is not set")
        return value
    return click.prompt("Senha", hide_input=True, confirmation_prompt="Repita a senha",
                        err=True)


@click.group()
def users() -> None:
    """People who log in to the desk."""


@users.command("add")
@config_option
@click.argument("name")
@role_option
@click.option("--password-env", metavar="VAR", default=None,
              help="Read the password from this environment variable instead of asking.")
def add_user(config_path: str | None, name: str, role: str, password_env: str | None) -> None:
    """Add a person with a role; the password is asked twice (or read from --password-env)."""
    app = App(config_path)
    password = _password(password_env)
    with Session(app.engine()) as s:
        accounts.add_user(s, name, role, password, actor=cli_actor())
        s.commit()
    click.echo(f"usuário {name} criado ({role})")


@users.command("passwd")
@config_option
@click.argument("name")
@click.option("--password-env", metavar="VAR", default=None,
              help="Read the new password from this environment variable instead of asking.")
def passwd(config_path: str | None, name: str, password_env: str | None) -> None:
    """Set a person's password."""
    app = App(config_path)
    password = _password(password_env)
    with Session(app.engine()) as s:
        accounts.set_password(s, name, password, actor=cli_actor())
        s.commit()
    click.echo(f"senha de {name} trocada")


@users.command("disable")
@config_option
@click.argument("name")
@click.option("--enable", is_flag=True, help="Enable the login again.")
def disable(config_path: str | None, name: str, enable: bool) -> None:
    """Disable a person's login (or enable it again)."""
    app = App(config_path)
    with Session(app.engine()) as s:
        accounts.set_disabled(s, name, not enable, actor=cli_actor())
        s.commit()
    click.echo(f"usuário {name} {'reativado' if enable else 'desativado'}")


@users.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One object per user.")
def list_users(config_path: str | None, as_json: bool) -> None:
    """Every user with its role."""
    app = App(config_path)
    with Session(app.engine()) as s:
        rows = accounts.list_users(s)
    if as_json:
        for u in rows:
            emit({"name": u.name, "role": u.role, "disabled": u.disabled,
                  "created_at": u.created_at.isoformat()})
        return
    table = Table(title="confere: usuários")
    for col in ("nome", "papel", "situação", "criado em"):
        table.add_column(col)
    for u in rows:
        table.add_row(u.name, u.role, "desativado" if u.disabled else "ativo", data(u.created_at))
    out_console().print(table)


@click.group()
def tokens() -> None:
    """Bearer tokens for the desk's JSON API."""


@tokens.command("add")
@config_option
@click.argument("name")
@role_option
def add_token(config_path: str | None, name: str, role: str) -> None:
    """Create a token and print it once: it is stored only as a hash."""
    app = App(config_path)
    with Session(app.engine()) as s:
        token = accounts.add_token(s, name, role, actor=cli_actor())
        s.commit()
    click.echo(token)
    click.echo(f"token {name} ({role}) criado: guarde-o agora, ele não será mostrado de novo",
               err=True)


@tokens.command("revoke")
@config_option
@click.argument("name")
def revoke(config_path: str | None, name: str) -> None:
    """Revoke every active token of that name."""
    app = App(config_path)
    with Session(app.engine()) as s:
        count = accounts.revoke_token(s, name, actor=cli_actor())
        s.commit()
    if not count:
        raise click.ClickException(f"no active token named {name}")
    click.echo(f"{count} token(s) {name} revogado(s)")


@tokens.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One object per token (never the secret).")
def list_tokens(config_path: str | None, as_json: bool) -> None:
    """Every token: name, role, created, revoked."""
    app = App(config_path)
    with Session(app.engine()) as s:
        rows = accounts.list_tokens(s)
    if as_json:
        for t in rows:
            emit({"name": t.name, "role": t.role, "created_at": t.created_at.isoformat(),
                  "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None})
        return
    table = Table(title="confere: tokens")
    for col in ("nome", "papel", "criado em", "revogado em"):
        table.add_column(col)
    for t in rows:
        table.add_row(t.name, t.role, data(t.created_at), data(t.revoked_at) if t.revoked_at
                      else "-")
    out_console().print(table)
