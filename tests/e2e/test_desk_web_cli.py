"""`confere demo` says how to open the desk, and `confere web` serves the demo's store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from conftest import ROOT, run_cli
from harness.desk import free_port

pytestmark = pytest.mark.slow


def lan_address() -> str | None:
    """This machine's address on its network (no packet is sent), None when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 1))
        except OSError:
            return None
        address = sock.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_the_demo_ends_with_the_desk_and_the_desk_serves_it(tmp_path):
    work = tmp_path / "demo"
    out = run_cli("demo", "--workdir", str(work)).stdout
    config = work / "confere.toml"
    assert config.is_file()
    assert f"confere users add admin --role admin --config {config}" in out
    assert f"confere web --config {config}" in out
    env = {"DESK_PASSWORD": "demo-password-123"}
    run_cli("users", "add", "admin", "--role", "admin", "--password-env", "DESK_PASSWORD",
            "--config", str(config), env=env)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from pipeline.cli.main import run; run()", "web", "--config",
         str(config), "--port", str(port)],
        cwd=ROOT, env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                login = httpx.get(f"{url}/login")
                break
            except httpx.ConnectError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "confere web did not start"
                time.sleep(0.2)
        with httpx.Client(base_url=url) as client:
            login = client.get("/login")
            csrf = login.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            r = client.post("/login", data={"name": "admin", "password": env["DESK_PASSWORD"],
                                            "csrf": csrf})
            assert r.status_code == 303
            page = client.get("/a-pagar?pagas=0")
            assert page.status_code == 200
            # The demo's genuine bills are ok; its tampered ones say do not pay.
            assert "ok para pagar" in page.text and "NÃO PAGAR" in page.text
        # Loopback only by default: the desk is not reachable on the machine's other address.
        other = lan_address()
        if other:
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://{other}:{port}/login", timeout=2)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
