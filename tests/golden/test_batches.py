"""Bills judged together in one transaction: one that fails costs the others nothing."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from pipeline.config import settings as config_mod
from pipeline.ingest import ingestor as ingestor_mod
from pipeline.ingest.ingestor import Ingestor
from pipeline.ingest.sandbox import Sandbox
from storage import CheckRow, Invoice, Message, open_store

from conftest import FIXTURES, cases


@pytest.fixture
def genuine_files():
    return [FIXTURES / c["file"] for c in cases("genuine")[:6]]


def _ingest(config_path, files, monkeypatch, fail_on: str | None = None,
            alone: int = 0) -> list:
    """ingest_paths with every bill in one batch and transaction (a long gather and hold,
    whatever the machine's load); fail_on: an NFS-e number
    whose judging raises, as a bug would; alone: how many bills end judged one by one (a
    batch rolled back)."""
    monkeypatch.setattr(ingestor_mod, "GATHER_SECONDS", 30.0)
    monkeypatch.setattr(ingestor_mod, "HOLD_SECONDS", 30.0)
    batches: list[int] = []
    singles: list[int] = []
    judge_batch, finish = Ingestor._judge_batch, Ingestor.finish

    def counted(self, batch):
        batches.append(len(batch))
        return judge_batch(self, batch)

    def single(self, msg, outcome):
        singles.append(msg.id)
        return finish(self, msg, outcome)

    monkeypatch.setattr(Ingestor, "_judge_batch", counted)
    monkeypatch.setattr(Ingestor, "finish", single)
    if fail_on is not None:
        reconcile = ingestor_mod.reconcile_check

        def failing(s, invoice, config):
            if invoice.nfse_number == fail_on:
                raise ZeroDivisionError("a bug in one bill's judging")
            return reconcile(s, invoice, config)

        monkeypatch.setattr(ingestor_mod, "reconcile_check", failing)
    config = config_mod.load(config_path)
    engine = open_store(config.database_url)
    with Sandbox(workers=2) as sandbox:
        results = [r for _path, r in Ingestor(config, engine, sandbox).ingest_paths(files)]
    assert batches[0] == len(files)  # the case under test: all of them in one batch
    assert len(singles) == alone
    with Session(engine) as s:
        checks: dict[int, list] = {}
        for c in s.exec(select(CheckRow).order_by(CheckRow.name)):
            checks.setdefault(c.invoice_id, []).append((c.name, c.outcome, c.detail))
        invoices = {i.message_id: (i.nfse_number, i.verdict, checks[i.id])
                    for i in s.exec(select(Invoice))}
        statuses = {m.id: m.status for m in s.exec(select(Message))}
    engine.dispose()
    return [(r.status, r.reason, invoices.get(r.message_id), statuses[r.message_id])
            for r in results]


@pytest.mark.slow
def test_a_bill_that_fails_in_a_batch_is_quarantined_and_the_others_are_judged_once(
        tmp_path, demo_config, genuine_files, monkeypatch):
    whole = _ingest(demo_config, genuine_files, monkeypatch)
    assert [status for status, *_ in whole] == ["invoice"] * len(genuine_files)
    victim = whole[2][2][0]  # the third bill's NFS-e number

    other = tmp_path / "other"
    other.mkdir()
    again = demo_config.read_text("utf-8").replace(str(tmp_path / "confere.db"),
                                                   str(other / "confere.db"))
    (other / "confere.toml").write_text(again, "utf-8")
    with monkeypatch.context() as m:
        failed = _ingest(other / "confere.toml", genuine_files, m, fail_on=victim,
                         alone=len(genuine_files))

    status, reason, invoice, stored = failed[2]
    assert (status, stored, invoice) == ("quarantined", "quarantined", None)
    assert "could not be judged (ZeroDivisionError" in reason
    # The rest: the same invoices as without the failure (judged one by one), each with the
    # same checks, once.
    assert failed[:2] + failed[3:] == whole[:2] + whole[3:]


@pytest.mark.slow
def test_a_note_resent_in_the_same_batch_or_stored_before_it_is_a_duplicate(
        tmp_path, demo_config, monkeypatch):
    [resent] = cases("duplicate")
    number = resent["facts"]["nfse"]["number"]
    original = next(FIXTURES / c["file"] for c in cases("genuine")
                    if c["facts"]["nfse"]["number"] == number)
    others = [FIXTURES / c["file"] for c in cases("genuine")[1:4]
              if c["facts"]["nfse"]["number"] != number]
    first = _ingest(demo_config, [original, *others, FIXTURES / resent["file"]], monkeypatch)
    assert [status for status, *_ in first] == ["invoice"] * (len(others) + 1) + ["duplicate"]
    assert f"NFS-e {number} of" in first[-1][1] and "already stored as invoice" in first[-1][1]
    # A later batch: another copy of the note, stored by the first batch, and a new bill.
    again = tmp_path / "again.eml"
    again.write_bytes(original.read_bytes().replace(b"Message-ID: <", b"Message-ID: <again-", 1))
    new = next(FIXTURES / c["file"] for c in cases("genuine")[4:]
               if c["facts"]["nfse"]["number"] != number)
    with monkeypatch.context() as m:
        later = _ingest(demo_config, [again, new], m)
    assert [status for status, *_ in later] == ["duplicate", "invoice"]
    assert f"NFS-e {number} of" in later[0][1]
