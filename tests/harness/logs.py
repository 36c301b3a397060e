"""Servers' logs in failure reports: each harness registers how to read its log while it runs.

A pytest plugin (tests/conftest.py lists it): when a test fails, the tail of every running
server's log (Dovecot's log file, PostgreSQL's, aiosmtpd's, the HTTPS stand-ins' requests) is
added to the report as a section, so a failure shows what the server said at the time.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

TAIL = 4000  # characters of each log in a report
_SOURCES: dict[str, Callable[[], str]] = {}


def register(name: str, read: Callable[[], str]) -> None:
    """Show `read()` under `name` in the report of any test that fails while it is registered."""
    _SOURCES[name] = read


def unregister(name: str) -> None:
    """The server stopped: its log is no longer shown."""
    _SOURCES.pop(name, None)


def tail(text: str) -> str:
    """The last TAIL characters of a log."""
    return text[-TAIL:]


def read_file(path) -> str:
    """A log file's tail, or a note that it is missing (a server that never started)."""
    try:
        with open(path, errors="replace") as fh:
            return tail(fh.read())
    except OSError as exc:
        return f"(no log: {exc})"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Add each registered server's log to a failed test's report."""
    report = yield
    if report.failed:
        for name, read in list(_SOURCES.items()):
            try:
                text = read()
            except Exception as exc:  # a log we cannot read must not hide the failure
                text = f"(log not readable: {exc})"
            if text.strip():
                report.sections.append((f"server log: {name}", tail(text)))
    return report
