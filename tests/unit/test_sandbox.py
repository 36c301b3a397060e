"""The parse sandbox: a hang, a memory hog or a crash costs one message, never the run."""

import pytest

from pipeline.ingest.sandbox import Failed, Sandbox

from harness.sandbox_work import hang_on_marker

GOOD = b"From: a@b.c\r\nSubject: hi\r\n\r\nhello\r\n"


def _run(items, seconds: float = 2, **kw):
    with Sandbox(workers=2, seconds=seconds, memory_mb=512, work=hang_on_marker, **kw) as box:
        return dict(box.map(items))


@pytest.mark.slow
def test_hang_is_cut_at_the_limit_and_the_rest_go_on():
    out = _run([(1, GOOD), (2, b"HANG"), (3, GOOD), (4, GOOD)])
    assert isinstance(out[2], Failed) and "limit" in out[2].reason
    assert all(not isinstance(out[k], Failed) for k in (1, 3, 4))


@pytest.mark.slow
def test_memory_hog_fails_alone():
    # a generous time limit: on a loaded machine the hog must meet the memory limit first
    out = _run([(1, b"MEM"), (2, GOOD)], seconds=30)
    assert isinstance(out[1], Failed) and "memory" in out[1].reason
    assert not isinstance(out[2], Failed)


@pytest.mark.slow
def test_crashing_worker_is_attributed_to_its_message():
    out = _run([(1, GOOD), (2, b"DIE"), (3, GOOD)])
    assert isinstance(out[2], Failed) and "crashed" in out[2].reason
    assert not isinstance(out[1], Failed) and not isinstance(out[3], Failed)
