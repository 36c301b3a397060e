"""Configuration that fails at load with the fix, errors printed as written (no markup eaten),
and Ctrl-C on the daemon without a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from parsers.errors import ConfigError
from pipeline.config import settings as config_mod

from conftest import FIXTURES, ROOT, run_cli


def load_text(tmp_path: Path, text: str) -> config_mod.Config:
    path = tmp_path / "confere.toml"
    path.write_text(text, encoding="utf-8")
    return config_mod.load(path)


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text)
    return str(info.value)


@pytest.mark.parametrize(("text", "expected"), [
    ('[[contracts]]\nvendor = "serpro"\nnumber = "1"\ntolerence = "0.50"\n',
     "contracts[1].tolerence: unknown key: did you mean `tolerance`?"),
    ('[[contracts]]\nvendor = "serpro"\nnumber = "1"\ntolerance = "0,50"\n',
     "contracts[1].tolerance: '0,50': use a point for decimals: 0.50"),
    ('[[contracts]]\nvendor = "serpro"\nnumber = "1"\ntolerance = 0,50\n',
     "use a point for decimals: 0.50"),
    ('[alerts]\nsmtp_host = "smtp.example.com.br"\nto = ["financeiro"]\n',
     "alerts.to: 'financeiro' is not an email address"),
    ('[alerts]\nto = ["financeiro@example.com.br"]\n',
     "alerts.to is set but smtp_host is not"),
    ('[alerts]\nsmtp_host = "smtp.example.com.br"\nsecurity = "plain"\nusername = "a"\n'
     'password_env = "X"\nto = ["a@example.com.br"]\n',
     'security = "plain" would send the SMTP password unencrypted to smtp.example.com.br'),
    ('[limits]\nparse_seconds = 0\n', "limits.parse_seconds: 0: input should be greater than 0"),
    ('[[mailboxes]]\nname = "m"\nhost = "imap.example.com.br"\nusername = "u"\n'
     'password_env = "P"\npath = "mail"\n', "give either path"),
    ('[[mailboxes]]\nname = "m"\nhost = "imap.example.com.br"\nusername = "u"\n'
     'password_env = "P"\nsecurity = "plain"\n', "password unencrypted to imap.example.com.br"),
    ('[database]\nurl = "confere.db"\n', "'confere.db' has no scheme"),
    ('[database]\nurl = "sqlite:///nowhere/confere.db"\n',
     "nowhere does not exist: create it"),
    ('[authenticity]\npkcs12 = "empresa.pfx"\n',
     "authenticity.pkcs12: "),
])
def test_configuration_fails_at_load_with_the_fix(tmp_path, text, expected):
    assert expected in refused(tmp_path, text)


def test_plain_to_this_machine_and_a_good_config_still_load(tmp_path):
    config = load_text(tmp_path, '[alerts]\nsmtp_host = "127.0.0.1"\nsecurity = "plain"\n'
                                 'to = ["financeiro@example.com.br"]\n[[contracts]]\n'
                                 'vendor = "serpro"\nnumber = "1"\ntolerance = "0.50"\n')
    assert config.settings.alerts.to == ["financeiro@example.com.br"]


@pytest.mark.slow
def test_an_unset_certificate_password_is_named_before_the_issuer_is_asked(tmp_path):
    (tmp_path / "empresa.pfx").write_bytes(b"not used")
    cfg = tmp_path / "confere.toml"
    cfg.write_text('[authenticity]\npkcs12 = "empresa.pfx"\npassword_env = "CONFERE_T_NOPE"\n',
                   encoding="utf-8")
    proc = run_cli("verify", "--pending", "--config", str(cfg), check=False)
    assert proc.returncode == 2
    assert "$CONFERE_T_NOPE is not set: export it" in proc.stderr
    assert "Traceback" not in proc.stderr
    # One line, however long the path: a log or a pipe gets it whole (no wrap at 80 columns).
    assert proc.stderr.count("\n") == 1 and f"confere: {cfg}:" in proc.stderr
    # A listing asks no issuer: it runs without the password.
    assert run_cli("invoices", "--config", str(cfg)).returncode == 0


@pytest.mark.slow
def test_errors_keep_their_brackets_and_are_printed_once(tmp_path):
    cfg = tmp_path / "confere.toml"
    cfg.write_text('[vendors.totvs]\nbanks = ["1234"]\n', encoding="utf-8")
    proc = run_cli("invoices", "--config", str(cfg), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "vendors.totvs.banks: '1234' is not a bank code" in proc.stderr
    assert proc.stderr.count("is not a bank code") == 1
    bad_url = tmp_path / "url.toml"
    bad_url.write_text('[database]\nurl = "postgres//x"\n', encoding="utf-8")
    proc = run_cli("invoices", "--config", str(bad_url), check=False)
    assert proc.returncode == 2 and "has no scheme" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("wait_for", ["watching", "messages"])
def test_ctrl_c_stops_the_daemon_without_a_traceback(tmp_path, wait_for):
    mail = tmp_path / "mail"
    mail.mkdir()
    cfg = tmp_path / "confere.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/c.db"\n[storage]\n'
                   f'blobs = "{tmp_path}/blobs"\n[[mailboxes]]\nname = "local"\n'
                   f'path = "{mail}"\n', encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from pipeline.cli.main import run; run()", "run", "--config",
         str(cfg)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,  # its own process group, as a terminal gives it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        seen = ""
        while "watching" not in seen and time.monotonic() < deadline:
            seen += proc.stderr.readline()
        if wait_for == "messages":  # mail arrives: Ctrl-C while it is being read
            for src in sorted((FIXTURES / "mailbox").glob("genuine-0*.eml")):
                (mail / src.name).write_bytes(src.read_bytes())
            time.sleep(3)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole group, workers too
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert proc.returncode in (0, 130)
