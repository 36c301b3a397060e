"""A disk that is full for a moment is the machine's fault, not the bill's: the bill stays
pending, comes back by itself, and bills a fault quarantined before can be retried."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlmodel import Session, select

from storage import Message

from conftest import ROOT, json_lines, run_cli
from harness.dovecot import write_config

GENUINE = ROOT / "fixtures" / "mailbox" / "genuine-01-abrasf-bare.eml"
OLD_REASON = ("could not be judged (OSError: [Errno 28] No space left on device); the raw message "
              "is kept")


@contextlib.contextmanager
def nearly_full(path: Path, room: int) -> Iterator[Path]:
    """A 2 MB tmpfs at path, filled up to leave about `room` bytes (root only)."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")
    try:
        filler = path / "filler"
        free = os.statvfs(path).f_bavail * os.statvfs(path).f_frsize
        filler.write_bytes(b"\0" * (free - room))
        yield filler
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _messages(tmp_path: Path) -> list[Message]:
    engine = create_engine(f"sqlite:///{tmp_path / 'confere.db'}")
    with Session(engine) as s:
        rows = list(s.exec(select(Message)).all())
    engine.dispose()
    return rows


@pytest.mark.slow
def test_disk_full_while_writing_a_bills_documents_leaves_it_pending(tmp_path):
    cfg = write_config(tmp_path, "")
    raw_room = -(-GENUINE.stat().st_size // 4096) * 4096 + 4096  # the raw message fits, no more
    with nearly_full(tmp_path / "blobs", raw_room) as filler:
        failed = run_cli("ingest", "--config", str(cfg), str(GENUINE), check=False)
        assert failed.returncode == 2, failed.stdout + failed.stderr
        assert "retried later" in failed.stderr and "No space left" in failed.stderr
        assert "Traceback" not in failed.stderr
        [msg] = _messages(tmp_path)
        assert msg.status == "pending" and msg.reason is None  # not judged, not quarantined
        assert json_lines(run_cli("quarantine", "list", "--json", "--config", str(cfg))
                          .stdout) == []
        filler.unlink()  # space again
        [line] = json_lines(run_cli("ingest", "--json", "--config", str(cfg),
                                    str(GENUINE)).stdout)
    assert line["status"] == "invoice", line
    [msg] = _messages(tmp_path)
    assert msg.status == "invoice"


@pytest.mark.slow
def test_a_bill_a_fault_quarantined_before_is_retried(tmp_path):
    from pipeline.config import settings as config_mod
    from pipeline.ingest.ingestor import Ingestor
    from storage import open_store

    cfg = write_config(tmp_path, "")
    config = config_mod.load(cfg)
    engine = open_store(config.database_url)
    store = Ingestor(config, engine, sandbox=None)  # type: ignore[arg-type]
    other = ROOT / "fixtures" / "mailbox" / "genuine-02-abrasf-namespaced.eml"
    first, _ = store.store_raw(GENUINE.read_bytes(), source="file", path=str(GENUINE))
    second, _ = store.store_raw(other.read_bytes(), source="file", path=str(other))
    with Session(engine) as s:  # what confere before this change left after a full disk
        for msg, reason in ((first, OLD_REASON), (second, "unreadable message: not an email")):
            row = s.get(Message, msg.id)
            row.status, row.reason = "quarantined", reason
            s.add(row)
        s.commit()
    first_id, second_id = first.id, second.id
    engine.dispose()
    listed = {r["id"]: r for r in json_lines(run_cli("quarantine", "list", "--json",
                                                     "--config", str(cfg)).stdout)}
    assert listed[first_id]["retryable"] and not listed[second_id]["retryable"]
    [res] = json_lines(run_cli("quarantine", "retry", "--all", "--json", "--config",
                               str(cfg)).stdout)
    assert (res["message_id"], res["status"]) == (first_id, "invoice"), res
    by_id = {m.id: m for m in _messages(tmp_path)}
    assert by_id[first_id].status == "invoice"
    assert by_id[second_id].status == "quarantined"  # content trouble is not retried by --all
    [res] = json_lines(run_cli("quarantine", "retry", str(second_id), "--json", "--config",
                               str(cfg)).stdout)
    assert res["status"] == "invoice"  # a person may retry any of them by id
    again = run_cli("quarantine", "retry", str(first_id), "--config", str(cfg), check=False)
    assert again.returncode == 1 and "not in quarantine" in again.stderr
