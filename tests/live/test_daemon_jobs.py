"""The daemon's scheduled jobs: alerts (time rules + delivery) and issuer look-ups."""

from __future__ import annotations

import logging

import pytest

from pipeline.config import settings as config_mod
from scheduler.daemon import SINGLETON_JOBS
from storage import open_store

from conftest import FIXTURES, run_cli
from harness.smtp_server import ENV, PASSWORD, write_config

GENUINE = FIXTURES / "mailbox" / "genuine-01-abrasf-bare.eml"


def _job(name: str):
    return dict(SINGLETON_JOBS)[name]


@pytest.mark.slow
def test_alert_job_delivers_the_new_bill_alert(tmp_path, smtp_server, monkeypatch):
    monkeypatch.setenv("CONFERE_TEST_SMTP_PASSWORD", PASSWORD)
    cfg = write_config(tmp_path, smtp_server.port)
    run_cli("ingest", "--config", str(cfg), str(GENUINE), env=ENV)
    config = config_mod.load(cfg)
    engine = open_store(config.database_url)
    _job("alerts")(config, engine)
    keys = [m["X-Confere-Alert"] for m in smtp_server.messages()]
    assert "bill:1:new" in keys  # plus what today's calendar rules find (missing bill...)
    _job("alerts")(config, engine)  # the next tick sends nothing again
    assert [m["X-Confere-Alert"] for m in smtp_server.messages()] == keys


@pytest.mark.slow
def test_alert_job_without_the_smtp_password_logs_and_goes_on(tmp_path, smtp_server,
                                                               monkeypatch, caplog):
    monkeypatch.delenv("CONFERE_TEST_SMTP_PASSWORD", raising=False)
    cfg = write_config(tmp_path, smtp_server.port)
    run_cli("ingest", "--config", str(cfg), str(GENUINE), env=ENV)
    config = config_mod.load(cfg)
    with caplog.at_level(logging.ERROR, logger="confere.daemon"):
        _job("alerts")(config, open_store(config.database_url))
    assert smtp_server.received == []
    assert "CONFERE_TEST_SMTP_PASSWORD" in caplog.text


@pytest.mark.slow
def test_issuer_job_without_a_certificate_asks_nobody(tmp_path, smtp_server):
    cfg = write_config(tmp_path, smtp_server.port)
    run_cli("ingest", "--config", str(cfg), str(GENUINE), env=ENV)
    config = config_mod.load(cfg)
    _job("issuers")(config, open_store(config.database_url))  # no network: only skipped checks
    out = run_cli("show", "1", "--json", "--config", str(cfg), env=ENV).stdout
    assert '"authenticity.issnet", "outcome": "skipped"' in out


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _genuine_bill_waiting(tmp_path, smtp_server, monkeypatch):
    """A config whose local mailbox holds one genuine bill, alerts to the SMTP stand-in."""
    monkeypatch.setenv("CONFERE_TEST_SMTP_PASSWORD", PASSWORD)
    mail = tmp_path / "mail"
    mail.mkdir()
    (mail / GENUINE.name).write_bytes(GENUINE.read_bytes())
    cfg = write_config(tmp_path, smtp_server.port)
    cfg.write_text(cfg.read_text("utf-8").replace(
        "[alerts]", f'[[mailboxes]]\nname = "local"\npath = "{mail}"\n\n[alerts]'), "utf-8")
    config = config_mod.load(cfg)
    return config


def test_the_daemon_sends_calendar_alerts_only_after_reading_the_mailbox(tmp_path, smtp_server,
                                                                        monkeypatch):
    """A first start must not say 'Fatura não recebida' for a bill waiting in the mailbox."""
    from pipeline.ingest.sandbox import Sandbox
    from scheduler.daemon import Daemon

    config = _genuine_bill_waiting(tmp_path, smtp_server, monkeypatch)
    with Sandbox(workers=1) as sandbox:
        daemon = Daemon(config, open_store(config.database_url), sandbox)
        daemon.watcher.prepare()
        daemon.housekeeping()  # the housekeeping job may run first: it waits (else today's
        assert smtp_server.messages() == []  # 'not received' would go out before the read)
        daemon.mail_tick()  # the bill is read...
        daemon.housekeeping()  # ...then the calendar is asked
    keys = [m["X-Confere-Alert"] for m in smtp_server.messages()]
    assert "bill:1:new" in keys


def test_the_first_catch_up_sends_the_held_alerts_at_once(tmp_path, smtp_server, monkeypatch,
                                                          caplog):
    """The alerts held back for the catch-up go out with it, not at the next housekeeping
    (a minute later); later ticks leave them to the housekeeping; a stop skips them."""
    from pipeline.ingest.sandbox import Sandbox
    from scheduler.daemon import Daemon

    config = _genuine_bill_waiting(tmp_path, smtp_server, monkeypatch)
    with Sandbox(workers=1) as sandbox:
        stopped = Daemon(config, open_store(config.database_url), sandbox)
        stopped.watcher.prepare()
        stopped.stop.set()  # told to stop: the catch-up's alerts wait for the next start
        stopped.mail_tick()
        assert stopped.caught_up.is_set() and smtp_server.messages() == []
    with Sandbox(workers=1) as sandbox:
        daemon = Daemon(config, open_store(config.database_url), sandbox)
        daemon.watcher.prepare()
        with caplog.at_level(logging.INFO, logger="confere.daemon"):
            daemon.mail_tick()  # the bill is read, then the alerts run: no housekeeping
            keys = [m["X-Confere-Alert"] for m in smtp_server.messages()]
            assert "bill:1:new" in keys
            assert caplog.text.count("first catch-up done") == 1
            daemon._last_process = 0.0  # a later tick that processes again (on time)...
            daemon.mail_tick()
            assert caplog.text.count("first catch-up done") == 1  # ...leaves the alerts be
            daemon.housekeeping()  # the next housekeeping sends nothing again
    assert [m["X-Confere-Alert"] for m in smtp_server.messages()] == keys
