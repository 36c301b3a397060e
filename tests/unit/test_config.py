"""Configuration: defaults that run, errors that name the key and the fix, `confere init`."""

from pathlib import Path

import pytest

from parsers.errors import ConfigError
from pipeline.config import settings as config

from conftest import run_cli


def test_defaults_work_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONFERE_CONFIG", raising=False)
    cfg = config.load()
    assert cfg.database_url == f"sqlite:///{tmp_path / 'confere.db'}"
    assert "serpro" in cfg.vendors


@pytest.mark.parametrize(("toml", "names"), [
    ("[company]\ncnpjs = ['123']\n", ["company.cnpjs", "not a valid CNPJ"]),
    ("[databse]\nurl = 'x'\n", ["databse", "unknown key"]),
    ("[vendors.serpro]\nbanks = ['Itau']\n", ["vendors.serpro.banks", "3-digit"]),
    ("[vendors.serpro.body]\ndue_date = ['vencimento (']\n", ["due_date", "regular expression"]),
    ("[[contracts]]\nvendor = 'acme'\nnumber = '1'\n", ["vendor 'acme'", "[vendors.acme]"]),
    ("[database\n", ["not valid TOML"]),
])
def test_errors_name_the_key_and_the_problem(tmp_path, toml, names):
    path = tmp_path / "confere.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    message = str(info.value)
    assert str(path) in message
    for part in names:
        assert part in message


def test_user_lists_extend_builtin_profile_and_replace_replaces(tmp_path):
    cfg = config.from_dict({"vendors": {"serpro": {"pix_names": ["SERPRO DF"]}}}, tmp_path)
    assert {"SERPRO DF", "SERPRO"} <= set(cfg.vendors["serpro"].pix_names)
    cfg = config.from_dict({"vendors": {"serpro": {"pix_names": ["X"], "replace": ["pix_names"]}}},
                           tmp_path)
    assert cfg.vendors["serpro"].pix_names == ("X",)


def test_a_new_vendor_from_config_alone(tmp_path):
    cfg = config.from_dict({"vendors": {"acme": {"sender_domains": ["acme.com.br"],
                                                 "cnpj_roots": ["12345678"]}}}, tmp_path)
    assert cfg.vendors["acme"].sender_matches("faturas.acme.com.br")
    assert not cfg.vendors["acme"].sender_matches("acme.com.br.evil.example")


@pytest.mark.slow
def test_init_writes_a_starter_that_loads(tmp_path):
    target = tmp_path / "confere.toml"
    run_cli("init", "--config", str(target))
    assert "password_env" in target.read_text()
    config.load(target)
    again = run_cli("init", "--config", str(target), check=False)
    assert again.returncode != 0 and "--force" in again.stderr


def test_cli_reports_a_config_error_on_stderr(tmp_path):
    path = Path(tmp_path) / "bad.toml"
    path.write_text("[company]\ncnpjs = ['1']\n")
    proc = run_cli("invoices", "--config", str(path), check=False)
    assert proc.returncode == 2
    assert "company.cnpjs" in proc.stderr and proc.stdout == ""


def test_contract_numbers_with_punctuation_are_the_body_digits(tmp_path):
    cfg = config.from_dict({"contracts": [{"vendor": "serpro", "number": "261.074"}]}, tmp_path)
    assert cfg.settings.contracts[0].number == "261074"
    assert [c.number for c in cfg.contracts_for("serpro")] == ["261074"]
