"""Alerts a finance person can act on: a desk link instead of a command, what to do next, an
overdue alert, no news of old bills on a first import, the calendar waiting for pending mail, a
vendor email that could not be read, and headers that read right."""

from __future__ import annotations

import re
from datetime import date, datetime
from email import message_from_bytes, policy
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from pipeline.config import settings as config_mod
from pipeline.notify.delivery import build_message
from pipeline.notify.rules import evaluate_time_rules
from pipeline.reports.report import build, to_csv
from storage import BlobStore, Message, open_store
from storage.alert_models import Alert

from conftest import FIXTURES, run_cli
from harness.smtp_server import write_config

MAILBOX = FIXTURES / "mailbox"
GENUINE_03 = MAILBOX / "genuine-01-abrasf-bare.eml"  # 03/2026, due 2026-04-20
BROKEN = MAILBOX / "hostile-broken-mime.eml"  # from SERPRO's domain, unreadable
DESK = "https://mesa.example.com.br/"


def setup(tmp: Path, *files: Path, max_age: int = 0, desk: bool = False):
    cfg = write_config(tmp, 9, max_age=max_age)  # the outbox is read, nothing is sent
    if desk:
        cfg.write_text(cfg.read_text("utf-8") + f'\n[web]\nbase_url = "{DESK}"\n', "utf-8")
    if files:
        run_cli("ingest", "--config", str(cfg), *map(str, files))
    config = config_mod.load(cfg)
    return cfg, config, open_store(config.database_url)


def outbox(engine) -> list[Alert]:
    with Session(engine) as s:
        return list(s.exec(select(Alert).order_by(Alert.id)).all())


@pytest.mark.slow
def test_the_email_links_to_the_desk_and_says_what_to_do(tmp_path):
    _cfg, _config, engine = setup(tmp_path, GENUINE_03, desk=True)
    [new] = outbox(engine)
    assert f"{DESK}faturas/1" in new.body_text and f'href="{DESK}faturas/1"' in new.body_html
    assert "confere show" not in new.body_text and "O que fazer:" in new.body_text
    assert new.subject.endswith("ok, mas não conferida na prefeitura / e-mail não autenticado")


@pytest.mark.slow
def test_a_first_import_of_old_bills_announces_none(tmp_path):
    # The bill is from March 2026 and was due on 20/04/2026: long past today.
    _cfg, _config, engine = setup(tmp_path, GENUINE_03, max_age=20)
    assert outbox(engine) == []


@pytest.mark.slow
def test_an_unpaid_bill_past_its_due_date_gets_one_overdue_alert(tmp_path):
    _cfg, config, engine = setup(tmp_path, GENUINE_03)
    with Session(engine) as s:
        assert not any(k.startswith("overdue") for k in evaluate_time_rules(
            s, config, date(2026, 4, 20)))  # due today: not late
        keys = evaluate_time_rules(s, config, date(2026, 4, 23))
        again = evaluate_time_rules(s, config, date(2026, 4, 24))
        s.commit()
    assert "overdue:1:2026-04-20" in keys and not any(k.startswith("overdue") for k in again)
    overdue = next(a for a in outbox(engine) if a.kind == "overdue")
    assert overdue.subject.startswith("Vencida em 20/04/2026: fatura SERPRO contrato 261074")
    assert "venceu em 20/04/2026 (há 3 dias)" in overdue.body_text
    assert "O que fazer: pague o quanto antes" in overdue.body_text


def test_the_missing_rule_waits_for_pending_mail(tmp_path):
    _cfg, config, engine = setup(tmp_path)
    with Session(engine) as s:  # March's bill is stored but not read yet (a daemon's start)
        s.add(Message(sha256="a" * 64, source="file", size=1, path=str(GENUINE_03)))
        s.commit()
        keys = evaluate_time_rules(s, config, date(2026, 4, 15))
        assert not any(k.startswith("missing") for k in keys)
        for row in s.exec(select(Message)).all():  # read: it was not the bill after all
            row.status = "ignored"
        s.commit()
        keys = evaluate_time_rules(s, config, date(2026, 4, 15))
        s.commit()
    assert "missing:serpro:261074:2026-03" in keys


@pytest.mark.slow
def test_a_vendor_email_that_could_not_be_read_is_its_own_alert_and_not_missing(tmp_path):
    _cfg, config, engine = setup(tmp_path, BROKEN)
    with Session(engine) as s:
        msg = s.exec(select(Message)).one()
        assert msg.status == "quarantined"
        sent = msg.sent_at
        keys = evaluate_time_rules(s, config, date(2026, 12, 11))
        s.commit()
        report = build(s, config, f"{sent.year}", today=date(2027, 1, 1))
    assert f"unread:{msg.id}" in keys
    unread = next(a for a in outbox(engine) if a.kind == "unread")
    assert unread.subject.startswith("E-mail de SERPRO recebido, mas não lido")
    assert "a estrutura do e-mail está quebrada" in unread.body_text
    # The month whose bill it probably carried reads "recebida, não lida", not "não recebida".
    month = f"{sent.year - (sent.month == 1)}-{(sent.month - 2) % 12 + 1:02d}"
    row = next(r for r in report.rows if r.month == month)
    assert row.payment == "unread"
    assert "recebida, não lida" in to_csv(report).decode("utf-8-sig")


@pytest.mark.slow
def test_subject_unfolded_date_with_a_real_offset_and_the_line_in_groups(tmp_path):
    _cfg, config, engine = setup(tmp_path, GENUINE_03)
    [new] = outbox(engine)
    raw = build_message(new, config.settings.alerts, BlobStore(tmp_path / "blobs")).as_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"Subject: =?utf-8?" in head or b"Subject: Nova" in head
    assert b"\r\n Nova" not in head and b"Subject:\r\n" not in head  # one line
    parsed = message_from_bytes(raw, policy=policy.default)
    assert str(parsed["Subject"]) == new.subject and not str(parsed["Subject"]).startswith(" ")
    when = parsedate_to_datetime(str(parsed["Date"]))
    assert when.utcoffset() is not None and "-0300" in str(parsed["Date"])
    assert abs((datetime.now(when.tzinfo) - when).total_seconds()) < 600
    assert "00190.00009 02934.471828 86954.453170 4 14220001073804" in new.body_text


@pytest.mark.slow
def test_the_outbox_listing_speaks_portuguese(tmp_path):
    cfg, _config, _engine = setup(tmp_path, GENUINE_03)
    listing = run_cli("alerts", "list", "--config", str(cfg), env={"COLUMNS": "250"}).stdout
    assert "Nova fatura" in listing and "pendente" in listing
    assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d \(horário de Brasília\)", listing)
    assert "pending" not in listing


@pytest.mark.slow
def test_an_old_unreadable_vendor_email_found_on_a_first_import_is_not_news(tmp_path):
    _cfg, config, engine = setup(tmp_path, BROKEN, max_age=20)
    with Session(engine) as s:
        sent = s.exec(select(Message)).one().sent_at
        later = date(sent.year + 1, 1, 15)
        keys = evaluate_time_rules(s, config, later)
    assert not any(k.startswith("unread") for k in keys)
