"""The harness shows a running server's log in the report of a test that fails (and only then)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_a_failing_test_reports_each_running_servers_log(tmp_path):
    (tmp_path / "test_server.py").write_text(textwrap.dedent("""
        from harness import logs

        def test_fails_while_the_server_runs():
            logs.register("fake imap", lambda: "auth failed: user bob")
            try:
                assert 1 == 2
            finally:
                pass  # still registered when the report is made

        def test_passes():
            assert True

        def test_fails_after_it_stopped():
            logs.unregister("fake imap")
            assert 3 == 4
    """))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "harness.logs", "-p", "no:cacheprovider",
         "-q", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
        env={"PYTHONPATH": str(TESTS), "PATH": "/usr/bin:/bin"}, timeout=120)
    out = done.stdout
    assert "2 failed, 1 passed" in out, out
    first = out.split("_ test_fails_while_the_server_runs _")[1].split("_ test_fails_after")[0]
    assert "server log: fake imap" in first and "auth failed: user bob" in first, out
    last = out.split("_ test_fails_after_it_stopped _")[1].split("short test summary")[0]
    assert "server log" not in last, out
