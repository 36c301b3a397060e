"""Mailbox errors in plain words, said once: a refused login (with the app-password hint) from
a real Dovecot, and a server name DNS cannot find."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from pipeline.config import settings as config_mod
from pipeline.mail.imap import ImapSource
from pipeline.mail.selection import Selector

from conftest import run_cli
from harness.dovecot import mailbox_toml, write_config


@pytest.mark.slow
def test_a_refused_login_is_said_once_in_plain_words(dovecot, tmp_path):
    user = dovecot.add_user("wrongpass")
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password\n")
    cfg = write_config(tmp_path, mailbox_toml(dovecot, user, password_file=str(wrong)))
    proc = run_cli("poll", "--config", str(cfg), check=False)
    assert proc.returncode == 1
    said = proc.stdout + proc.stderr
    assert f"the server refused the login of '{user}'" in proc.stderr
    assert "app password" in proc.stderr
    assert said.count("refused the login") == 1
    assert "Traceback" not in said and "LoginError" not in said


class _State:
    """The two things poll_folder reads of a folder before it connects."""

    mailbox, folder = "m", "INBOX"

    def reload(self) -> None:
        """Nothing stored to reload."""


def test_a_server_name_dns_cannot_find_is_named(tmp_path):
    # DNS itself is not reachable from the tests: the connector fails as getaddrinfo does.
    tries = []

    def no_dns(cfg, base):
        tries.append(1)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    cfg = config_mod.load(write_config(tmp_path, (
        '[[mailboxes]]\nname = "m"\nhost = "imap.exemplo.invalid"\nusername = "u"\n'
        'password_file = ""\n')))
    source = ImapSource(cfg.settings.mailboxes[0], Path(tmp_path),
                        Selector(cfg.vendors.values(), ["example.com.br"]), 10_000_000,
                        connector=no_dns)
    report = source.poll_folder(_State(), threading.Event())  # type: ignore[arg-type]
    assert report.error == ("cannot find the server 'imap.exemplo.invalid' (DNS: Name or service "
                            "not known): check host, or the machine's DNS")
    assert tries == [1] and report.reconnects == 0  # a retry cannot cure it: said once
