"""SMTP delivery: retries with backoff, a server down then up, leases, never sent twice."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from parsers.errors import ConfigError
from pipeline.config import settings as config_mod
from pipeline.notify.delivery import _claim, build_message, connect, deliver_pending, retry_failed
from storage import BlobStore, open_store
from storage.alert_models import Alert
from storage.types import utcnow

from conftest import FIXTURES, json_lines, run_cli
from harness.smtp_server import ENV, PASSWORD, SmtpServer, free_port, self_signed, write_config

GENUINE = FIXTURES / "mailbox" / "genuine-01-abrasf-bare.eml"


@pytest.fixture(autouse=True)
def _smtp_password(monkeypatch):
    monkeypatch.setenv("CONFERE_TEST_SMTP_PASSWORD", PASSWORD)


def one_alert(tmp_path: Path, port: int, alerts_extra: str = "", backoff: float = 0,
              security: str = "plain") -> tuple[object, object]:
    """A store holding one pending alert (a new bill), its config pointing at `port`."""
    cfg = write_config(tmp_path, port, alerts_extra=alerts_extra + "\nkinds = ['new']",
                       backoff=backoff, security=security)
    run_cli("ingest", "--config", str(cfg), str(GENUINE))
    config = config_mod.load(cfg)
    return config, open_store(config.database_url)


def outbox(engine) -> list[Alert]:
    with Session(engine) as s:
        return list(s.exec(select(Alert).order_by(Alert.id)).all())


@pytest.mark.slow
def test_smtp_down_then_up_delivers_exactly_once(tmp_path):
    port = free_port()  # nothing listens here yet
    cfg = write_config(tmp_path, port, alerts_extra="kinds = ['new']")
    run_cli("ingest", "--config", str(cfg), str(GENUINE))

    down = run_cli("alerts", "send", "--config", str(cfg), env=ENV, check=False)
    assert down.returncode == 1
    assert f"cannot reach 127.0.0.1:{port}" in down.stderr
    [row] = json_lines(run_cli("alerts", "list", "--json", "--config", str(cfg)).stdout)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "cannot reach" in row["last_error"]

    server = SmtpServer(port).start()
    try:
        up = run_cli("alerts", "send", "--config", str(cfg), env=ENV)
        assert "sent 1, failed 0" in up.stdout
        again = run_cli("alerts", "send", "--config", str(cfg), env=ENV)
        assert "sent 0, failed 0" in again.stdout
        [msg] = server.messages()
        assert msg["X-Confere-Alert"] == "bill:1:new"
    finally:
        server.stop()
    [row] = json_lines(run_cli("alerts", "list", "--json", "--config", str(cfg)).stdout)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 2, None)
    assert row["sent_at"] is not None


@pytest.mark.slow
def test_a_failed_try_waits_its_backoff_then_gives_up_after_max_attempts(tmp_path):
    config, engine = one_alert(tmp_path, free_port(), "backoff_max = 120", backoff=60)
    now = utcnow()
    assert len(deliver_pending(engine, config, now=now).failed) == 1
    [row] = outbox(engine)
    assert row.attempts == 1 and row.next_attempt_at == now + timedelta(seconds=60)
    assert deliver_pending(engine, config, now=now + timedelta(seconds=59)).failed == []
    report = deliver_pending(engine, config, now=now + timedelta(seconds=61))
    assert len(report.failed) == 1 and report.gave_up == []
    [row] = outbox(engine)
    assert row.attempts == 2 and row.next_attempt_at == now + timedelta(seconds=61 + 120)
    report = deliver_pending(engine, config, now=now + timedelta(hours=1))
    assert report.gave_up == ["bill:1:new"]  # max_attempts = 3
    [row] = outbox(engine)
    assert (row.status, row.attempts) == ("failed", 3)
    assert deliver_pending(engine, config, now=now + timedelta(days=1)).failed == []
    assert retry_failed(engine) == 1
    [row] = outbox(engine)
    assert (row.status, row.attempts) == ("pending", 0)


@pytest.mark.slow
def test_a_row_is_claimed_by_one_sender_only(tmp_path):
    _config, engine = one_alert(tmp_path, free_port())
    [row] = outbox(engine)
    now = utcnow()
    assert _claim(engine, row.id, now) is not None
    assert _claim(engine, row.id, now) is None  # leased to the first sender


@pytest.mark.slow
def test_a_crash_after_the_server_accepted_resends_with_the_same_message_id(tmp_path,
                                                                            smtp_server):
    config, engine = one_alert(tmp_path, smtp_server.port)
    [row] = outbox(engine)
    now = utcnow()
    claimed = _claim(engine, row.id, now)
    cfg = config.settings.alerts
    smtp = connect(cfg, PASSWORD)
    smtp.send_message(build_message(claimed, cfg, BlobStore(config.blob_dir)))
    smtp.quit()  # ... and the process dies before marking the row sent
    assert deliver_pending(engine, config, now=now + timedelta(minutes=1)).sent == []
    report = deliver_pending(engine, config, now=now + timedelta(minutes=16))  # lease over
    assert report.sent == ["bill:1:new"]
    first, second = smtp_server.messages()
    assert first["Message-ID"] == second["Message-ID"] == row.message_id
    [row] = outbox(engine)
    assert row.status == "sent"


@pytest.mark.slow
def test_a_missing_password_variable_is_named_and_nothing_is_tried(tmp_path, monkeypatch,
                                                                   smtp_server):
    config, engine = one_alert(tmp_path, smtp_server.port)
    monkeypatch.delenv("CONFERE_TEST_SMTP_PASSWORD")
    with pytest.raises(ConfigError, match="CONFERE_TEST_SMTP_PASSWORD is not set"):
        deliver_pending(engine, config)
    [row] = outbox(engine)
    assert (row.status, row.attempts) == ("pending", 0)
    assert smtp_server.messages() == []


@pytest.mark.slow
def test_no_recipients_keeps_alerts_queued(tmp_path):
    config, engine = one_alert(tmp_path, free_port())
    bare = config_mod.from_dict({**config.settings.model_dump(mode="json"),
                                 "alerts": {"to": []}}, config.base_dir)
    with pytest.raises(ConfigError, match=r"alerts\.to"):
        deliver_pending(engine, bare)
    assert outbox(engine)[0].status == "pending"


@pytest.mark.slow
def test_outbox_on_postgresql_writes_once_and_delivers_once(postgres_url, smtp_server, tmp_path):
    from datetime import date

    from pipeline.notify.rules import evaluate_time_rules

    config = config_mod.from_dict({
        "database": {"url": postgres_url}, "storage": {"blobs": str(tmp_path / "blobs")},
        "contracts": [{"vendor": "serpro", "number": "990001"}],
        "alerts": {"smtp_host": "127.0.0.1", "smtp_port": smtp_server.port,
                   "security": "plain", "to": ["financeiro@example.com.br"],
                   "kinds": ["missing"]}}, tmp_path)
    engine = open_store(postgres_url)
    try:
        for _ in range(2):
            with Session(engine) as s:
                keys = evaluate_time_rules(s, config, date(2026, 5, 12))
                s.commit()
            assert keys in (["missing:serpro:990001:2026-04"], [])
        assert [a.dedupe_key for a in outbox(engine)] == ["missing:serpro:990001:2026-04"]
        assert deliver_pending(engine, config).sent == ["missing:serpro:990001:2026-04"]
        assert deliver_pending(engine, config).sent == []
        [msg] = smtp_server.messages()
        assert "990001" in str(msg["Subject"])
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM alerts")


@pytest.mark.slow
@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_delivery_over_starttls_and_implicit_tls(tmp_path, security):
    context, cert = self_signed(tmp_path)
    server = SmtpServer(**{security: context}).start()
    try:
        config, engine = one_alert(tmp_path, server.port, f'ca_bundle = "{cert}"',
                                   security=security)
        assert deliver_pending(engine, config).sent == ["bill:1:new"]
        [received] = server.received
        assert received.login is not None
    finally:
        server.stop()


@pytest.mark.slow
def test_an_untrusted_certificate_is_refused(tmp_path):
    context, _cert = self_signed(tmp_path)
    server = SmtpServer(starttls=context).start()
    try:
        config, engine = one_alert(tmp_path, server.port, security="starttls")
        report = deliver_pending(engine, config)
        assert report.sent == [] and "CERTIFICATE_VERIFY_FAILED" in report.failed[0][1]
        assert server.messages() == []
    finally:
        server.stop()
