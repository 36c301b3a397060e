"""A re-sent bill: the copy the mailbox received first is the invoice, the other a duplicate,
whatever order the UIDs give (a real Dovecot; INTERNALDATE set by APPEND)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from pipeline.config import settings as config_mod
from pipeline.ingest.sandbox import Sandbox
from pipeline.mail.watcher import Watcher
from storage import Invoice, Message, open_store

from harness.dovecot import imap, mailbox_toml, write_config

GENUINE = Path(__file__).resolve().parents[2] / "fixtures" / "mailbox" / \
    "genuine-01-abrasf-bare.eml"
FIRST = datetime(2026, 4, 1, 11, 10, tzinfo=UTC)
RESENT = datetime(2026, 4, 3, 9, 0, tzinfo=UTC)


def _copy(tag: str, date: str) -> bytes:
    """The genuine bill with its own Message-ID and Date (a re-send)."""
    raw = GENUINE.read_bytes()
    raw = raw.replace(b"Message-ID: <20260401081044.CF7BA89E2946@serpro.gov.br>",
                      f"Message-ID: <{tag}@serpro.gov.br>".encode(), 1)
    return raw.replace(b"Date: Wed, 01 Apr 2026 08:10:44 -0300", f"Date: {date}".encode(), 1)


@pytest.mark.parametrize("order", ["first-copy-first", "resent-copy-first"])
def test_the_earliest_received_copy_is_the_invoice(dovecot, tmp_path, order):
    user = dovecot.add_user(f"resent-{order}")
    original = (_copy(f"original-{order}", "Wed, 01 Apr 2026 08:10:44 -0300"), FIRST)
    resent = (_copy(f"resent-{order}", "Fri, 03 Apr 2026 06:00:00 -0300"), RESENT)
    copies = [original, resent] if order == "first-copy-first" else [resent, original]
    c = imap(dovecot, user)
    for raw, when in copies:  # UIDs in this order; INTERNALDATE as the server received them
        c.append("INBOX", raw, msg_time=when)
    c.logout()
    cfg = config_mod.load(write_config(tmp_path, mailbox_toml(dovecot, user, after="none")))
    w = Watcher(cfg, open_store(cfg.database_url), Sandbox(workers=1))
    w.prepare()
    [r] = w.poll_due(force=True)
    assert r.stored == 2
    results = w.process_pending()
    assert len(results) == 2
    with Session(w.engine) as s:
        [inv] = s.exec(select(Invoice)).all()
        msgs = {m.id: m for m in s.exec(select(Message)).all()}
    winner = msgs[inv.message_id]
    [other] = [m for m in msgs.values() if m.id != inv.message_id]
    assert winner.internal_date == FIRST and winner.status == "invoice"
    assert other.internal_date == RESENT and other.status == "duplicate"
    assert f"invoice #{inv.id}" in (other.reason or "")
    assert winner.uid == (1 if order == "first-copy-first" else 2)
