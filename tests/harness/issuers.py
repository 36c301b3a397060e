"""The issuers' stand-in as pytest fixtures: a PKI, both servers, a store of sample bills."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select

from pipeline.checks.issuer import verify_authenticity
from pipeline.config import settings as config_mod
from storage import CheckRow, Invoice, open_store

from conftest import DEMO_CONFIG, FIXTURES, run_cli
from harness.standin import (
    P12_PASSWORD,
    PASSWORD_ENV,
    Pki,
    StandIn,
    State,
    authenticity_toml,
    load_fixture_notes,
    make_pki,
)

ABRASF_EML = FIXTURES / "mailbox" / "genuine-01-abrasf-bare.eml"
NATIONAL_EML = FIXTURES / "mailbox" / "genuine-06-nacional-100.eml"
ENV = {PASSWORD_ENV: P12_PASSWORD}


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """The stand-ins' throwaway PKI, made once per test session."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def server(pki: Pki):
    """Both stand-ins, holding every genuine sample note."""
    with StandIn(pki, load_fixture_notes(State())) as s:
        yield s


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the ABRASF and the national sample bills, ingested with no certificate."""
    folder = tmp_path_factory.mktemp("store")
    base = DEMO_CONFIG.format(db=f"sqlite:///{folder / 'confere.db'}", blobs=folder / "blobs")
    (folder / "base.toml").write_text(base, encoding="utf-8")
    run_cli("ingest", "--config", str(folder / "base.toml"), str(ABRASF_EML), str(NATIONAL_EML))
    return folder


@pytest.fixture
def p12_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client certificate's password in its environment variable, as a user sets it."""
    monkeypatch.setenv(PASSWORD_ENV, P12_PASSWORD)


def write_config(folder: Path, pki: Pki, server: StandIn | None, name: str = "c.toml",
                 **extra: object) -> config_mod.Config:
    """The stored bills' config plus an [authenticity] section; loaded."""
    path = folder / name
    base = (folder / "base.toml").read_text("utf-8")
    path.write_text(base + authenticity_toml(pki, server, **extra), encoding="utf-8")
    return config_mod.load(path)


def verify(config: config_mod.Config, layout: str = "abrasf", force: bool = True
           ) -> tuple[dict[str, str], str, Invoice]:
    """Verify the stored bill of one layout in-process; its checks by name and its verdict."""
    engine = open_store(config.database_url)
    with Session(engine, expire_on_commit=False) as s:
        inv = next(i for i in s.exec(select(Invoice)).all()
                   if (i.nfse_layout or "").startswith(layout))
        verify_authenticity(s, inv, None, config, force=force)
        s.commit()
        checks = {c.name: f"{c.outcome}: {c.detail}" for c in s.exec(
            select(CheckRow).where(CheckRow.invoice_id == inv.id)).all()}
        return checks, inv.verdict, inv
