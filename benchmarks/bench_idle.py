"""The idle poll (nothing new) on mailboxes of 1k, 10k and 100k messages: flat in their size.

Run: python -m benchmarks.bench_idle [--quick]   (wall-clock, median of 30 polls each;
--quick stops at 10k messages)

Each mailbox is seeded straight into a throwaway Dovecot's maildir (1% SERPRO notices, the
rest other senders), polled once by confere to bring its cursor up, then polled idle: one STATUS.
The floor is a bare STATUS over an already logged-in imapclient connection.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pipeline.config import settings as config_mod  # noqa: E402
from pipeline.ingest.sandbox import Sandbox  # noqa: E402
from pipeline.mail.cursors import FolderState  # noqa: E402
from pipeline.mail.sources import make_source  # noqa: E402
from pipeline.mail.watcher import Watcher  # noqa: E402
from storage import open_store  # noqa: E402

from harness.dovecot import Dovecot, dovecot_server, imap, mailbox_toml, message, write_config  # noqa: E402

SIZES = (1_000, 10_000, 100_000)
POLLS = 30


def seed(server: Dovecot, user: str, n: int) -> None:
    """n small messages, 1 in 100 from SERPRO."""
    server.add_user(user)
    server.seed(user, [message(i) if i % 100 == 0 else message(i, sender="news@loja.com.br")
                       for i in range(n)])


def status_floor(server: Dovecot, user: str) -> float:
    """Median seconds of a bare STATUS on a logged-in connection."""
    c = imap(server, user)
    c.select_folder("INBOX", readonly=True)  # warm: Dovecot builds its index once
    c.unselect_folder()
    c.folder_status("INBOX", ["MESSAGES"])
    times = []
    for _ in range(POLLS):
        start = time.perf_counter()
        c.folder_status("INBOX", ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "HIGHESTMODSEQ"])
        times.append(time.perf_counter() - start)
    c.logout()
    return statistics.median(times)


def idle_polls(server: Dovecot, user: str, tmp: Path) -> tuple[float, float, float]:
    """(first poll s, median idle poll s, median idle poll with login s) for one mailbox."""
    tmp.mkdir()
    cfg = config_mod.load(write_config(tmp, mailbox_toml(server, user, after="none",
                                                         timeout=120)))
    engine = open_store(cfg.database_url)
    with Sandbox(workers=1) as sandbox:
        watcher = Watcher(cfg, engine, sandbox)
        watcher.prepare()
        start = time.perf_counter()
        [first] = watcher.poll_due(force=True)
        first_s = time.perf_counter() - start
        assert first.error is None and first.stored == -(-int(user.split("-")[1]) // 100), first
        with_login = []
        for _ in range(POLLS):  # what the daemon does: a new connection, login, STATUS, logout
            start = time.perf_counter()
            [r] = watcher.poll_due(force=True)
            with_login.append(time.perf_counter() - start)
            assert r.idle and r.fetch_commands == 0 and r.selects == 0, r
        # the IMAP part alone: STATUS over the open connection, plus the cursor's write
        source = make_source(cfg, cfg.settings.mailboxes[0])
        claimed = watcher.leases.claim_cursors(watcher.mailboxes, limit=10, force=True)
        state = FolderState(engine, watcher.blobs, claimed[0], watcher.owner,
                            watcher.lease_seconds)
        stop = threading.Event()
        source.poll_folder(state, stop)  # logs in
        warm = []
        for _ in range(POLLS):
            start = time.perf_counter()
            r = source.poll_folder(state, stop)
            warm.append(time.perf_counter() - start)
            assert r.idle, r
        source.close()
        watcher.leases.release_cursor(claimed[0].id, 60, None)
    engine.dispose()
    return first_s, statistics.median(warm), statistics.median(with_login)


def main() -> None:
    """Seed, bring the cursor up, then time idle polls per mailbox size."""
    sizes = SIZES[:2] if "--quick" in sys.argv else SIZES
    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="confere-bench-") as tmp_dir, \
            dovecot_server() as server:
        for n in sizes:
            user = f"idle-{n}"
            start = time.perf_counter()
            seed(server, user, n)
            seeded = time.perf_counter() - start
            first, warm, cold = idle_polls(server, user, Path(tmp_dir) / user)
            floor = status_floor(server, user)  # after confere's first poll: both warm
            rows.append((n, seeded, first, floor, warm, cold))
    print(f"load average before: {load:.2f} (2 cores); median of {POLLS} polls each")
    print(f"{'messages':>9} {'seed s':>7} {'1st poll s':>10} {'STATUS ms':>10} "
          f"{'idle ms':>8} {'x STATUS':>8} {'idle+login ms':>13}")
    for n, seeded, first, floor, warm, cold in rows:
        print(f"{n:9,} {seeded:7.1f} {first:10.2f} {floor * 1000:10.2f} {warm * 1000:8.2f} "
              f"{warm / floor:7.1f}x {cold * 1000:13.2f}")
    base = rows[0][4]
    print("idle poll vs the smallest mailbox: "
          + ", ".join(f"{n:,}: {warm / base:.2f}x" for n, _s, _f, _fl, warm, _c in rows))
    print("idle = STATUS on the open connection + the cursor's write in the store; idle+login "
          "= what one daemon tick does (connect, LOGIN, STATUS, LOGOUT, cursor lease in and out)")


if __name__ == "__main__":
    main()
