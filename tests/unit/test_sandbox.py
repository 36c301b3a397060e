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


def test_warm_starts_the_workers_once_and_they_take_the_work():
    with Sandbox(workers=2, seconds=20, memory_mb=512, work=hang_on_marker) as box:
        box.warm()  # new mail is being downloaded: the workers start meanwhile
        started = set(box._pool._processes)  # type: ignore[union-attr]
        assert len(started) == 2
        box.warm()  # a second batch of mail: nothing more is started
        out = dict(box.map([(1, GOOD), (2, GOOD)]))
        assert set(box._pool._processes) == started  # type: ignore[union-attr]
    assert not any(isinstance(v, Failed) for v in out.values())


def test_workers_end_when_the_daemon_is_killed():
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    code = ("import sys, time\n"
            "from pipeline.ingest.sandbox import Sandbox\n"
            "box = Sandbox(workers=2)\n"
            "box.warm()\n"
            "print(*box._pool._processes, flush=True)\n"
            "time.sleep(600)\n")
    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    workers = [int(p) for p in owner.stdout.readline().split()]
    assert len(workers) == 2
    owner.send_signal(signal.SIGKILL)  # no chance to stop its pool
    owner.wait()

    def alive(pid):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state != "Z"

    deadline = time.monotonic() + 30  # they look every 2 s; a loaded machine may be slow
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [p for p in workers if alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert left == [], "parse workers outlived the killed daemon"
