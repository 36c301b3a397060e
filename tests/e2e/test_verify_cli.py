"""`confere verify [INVOICE | --pending]` as a user runs it, against the stand-ins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import DEMO_CONFIG, FIXTURES, json_lines, run_cli
from harness.standin import P12_PASSWORD, PASSWORD_ENV, Pki, StandIn, authenticity_toml

EML = FIXTURES / "mailbox" / "genuine-01-abrasf-bare.eml"
NATIONAL = FIXTURES / "mailbox" / "genuine-06-nacional-100.eml"
ENV = {**os.environ, PASSWORD_ENV: P12_PASSWORD}


def _configs(tmp_path: Path, pki: Pki, server: StandIn) -> tuple[str, str]:
    base = DEMO_CONFIG.format(db=f"sqlite:///{tmp_path / 'db.sqlite'}", blobs=tmp_path / "blobs")
    plain, with_cert = tmp_path / "plain.toml", tmp_path / "cert.toml"
    plain.write_text(base, encoding="utf-8")
    with_cert.write_text(base + authenticity_toml(pki, server), encoding="utf-8")
    return str(plain), str(with_cert)


@pytest.mark.slow
def test_usage_errors(tmp_path: Path, pki: Pki, server: StandIn) -> None:
    plain, _cert = _configs(tmp_path, pki, server)
    proc = run_cli("verify", "--config", plain, check=False)
    assert proc.returncode == 2 and "give an INVOICE_ID or --pending" in proc.stderr
    proc = run_cli("verify", "--config", plain, "7", check=False)
    assert proc.returncode != 0 and "no invoice #7" in proc.stderr


@pytest.mark.slow
def test_skipped_then_verified_once_a_certificate_is_configured(tmp_path: Path, pki: Pki,
                                                                 server: StandIn) -> None:
    plain, cert = _configs(tmp_path, pki, server)
    run_cli("ingest", "--config", plain, str(EML), str(NATIONAL))
    shown = run_cli("verify", "--config", plain, "1").stdout
    assert "skipped  authenticity.issnet: no certificate configured" in shown
    assert "link: https://df.issnetonline.com.br/online/NotaDigital/" in shown
    assert server.state.requests == []
    lines = json_lines(run_cli("verify", "--config", cert, "--pending", "--json", env=ENV).stdout)
    assert [line["id"] for line in lines] == [1, 2]
    for line in lines:
        auth = [c for c in line["checks"] if c["name"].startswith("authenticity.")]
        assert [c["outcome"] for c in auth] == ["pass"], auth
        assert line["verdict"] == "ok" and line["verification_link"].startswith("https://")
    assert len(server.state.requests) == 2
    again = run_cli("verify", "--config", cert, "--pending", env=ENV).stdout
    assert "nothing to verify" in again and len(server.state.requests) == 2


@pytest.mark.slow
def test_issuer_down_then_back(tmp_path: Path, pki: Pki, server: StandIn) -> None:
    _plain, cert = _configs(tmp_path, pki, server)
    server.state.mode = "503"
    line = json_lines(run_cli("ingest", "--config", cert, str(EML), "--json", env=ENV).stdout)[0]
    issnet = next(c for c in line["invoice"]["checks"] if c["name"] == "authenticity.issnet")
    assert issnet["outcome"] == "unknown" and line["invoice"]["verdict"] == "review"
    assert len(server.state.requests) == 2  # retries = 2 in the stand-in config
    server.state.mode = "normal"
    shown = run_cli("verify", "--config", cert, "--pending", env=ENV).stdout
    assert "pass  authenticity.issnet" in shown and "verdict ok" in shown


# slow: three CLI runs; the fast subset keeps verify's e2e path in test_issuer_down_then_back.
@pytest.mark.slow
def test_explicit_verify_asks_again(tmp_path: Path, pki: Pki, server: StandIn) -> None:
    _plain, cert = _configs(tmp_path, pki, server)
    run_cli("ingest", "--config", cert, str(EML), env=ENV)
    assert len(server.state.requests) == 1
    server.state.mode = "different_amount"
    shown = run_cli("verify", "--config", cert, "1", env=ENV).stdout
    assert "fail  authenticity.issnet" in shown and "verdict block" in shown
    assert len(server.state.requests) == 2
    listed = json_lines(run_cli("invoices", "--config", cert, "--json").stdout)[0]
    assert listed["verdict"] == "block"


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[authenticity]\ndkim = "yes"\npkcs12_path = "a.pfx"\n', encoding="utf-8")
    proc = run_cli("verify", "--config", str(path), "--pending", check=False)
    assert proc.returncode == 2
    assert "authenticity.dkim" in proc.stderr and "authenticity.pkcs12_path: unknown key" \
        in proc.stderr
