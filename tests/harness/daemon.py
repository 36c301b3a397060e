"""`confere run` as a subprocess for the tests: start it, wait on the store, stop it.

On a wait that fails, the daemon's log is in the assertion message (its stderr is the log).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlmodel import Session, func, select

ROOT = Path(__file__).resolve().parents[2]


def start_daemon(config: Path, log: Path) -> subprocess.Popen:
    """`confere run --config FILE` as a subprocess, its log in a file."""
    with log.open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-c", "from pipeline.cli.main import run; run()", "run", "--config",
             str(config)], cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)


def wait_for(what: Callable[[], bool], timeout: float = 60, proc: subprocess.Popen | None = None,
             log: Path | None = None) -> None:
    """Wait until `what()` holds (a bound, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not what():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"daemon exited {proc.returncode}:\n"
                                 f"{log.read_text() if log else ''}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out:\n{log.read_text()[-3000:] if log else ''}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen) -> int:
    """SIGTERM and wait."""
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60)


def count_rows(engine, model, *where) -> int:
    """Rows of `model` matching `where`; 0 while the daemon has not created the schema yet."""
    try:
        with Session(engine) as s:
            return s.exec(select(func.count()).select_from(model).where(*where)).one()
    except Exception:
        return 0
