"""A throwaway PostgreSQL cluster for the session: initdb, pg_ctl on a free port, then stop."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from harness import logs


def _bindir() -> Path | None:
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if dirs:
        return Path(dirs[-1])
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def free_port() -> int:
    """A TCP port nobody listens on right now, on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database(url: str, prefix: str) -> str:
    """The URL of a new, empty database on the cluster at `url` (a test's own schema)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return url.rsplit("/", 1)[0] + "/" + name


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh cluster; as root, the cluster runs as user postgres."""
    bindir = _bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
    root = Path(tempfile.mkdtemp(prefix="confere-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    port = free_port()
    as_user: list[str] = []
    user = pwd.getpwuid(os.getuid()).pw_name
    if os.getuid() == 0:
        user = "postgres"
        shutil.chown(root, user)
        shutil.chown(sock, user)
        as_user = ["runuser", "-u", user, "--"]
    log = root / "log"

    def run(*cmd: str) -> None:
        done = subprocess.run([*as_user, *cmd], capture_output=True, text=True)
        if done.returncode != 0:  # say why: the command's stderr and the server's log
            raise RuntimeError(f"{Path(cmd[0]).name} exited {done.returncode}:\n"
                               f"{done.stderr}{done.stdout}\npostgres log:\n{logs.read_file(log)}")

    logs.register(f"postgres {root}", lambda: logs.read_file(log))
    try:
        run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", user, "--no-sync")
        run(str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(log), "-o",
            f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        run(str(bindir / "createdb"), "-h", str(sock), "-p", str(port), "-U", user, "confere")
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/confere"
    finally:
        logs.unregister(f"postgres {root}")
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
