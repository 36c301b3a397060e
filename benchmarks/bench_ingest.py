"""End to end: 2,000 generated SERPRO bills from a local Dovecot into SQLite and PostgreSQL.

Run: python -m benchmarks.bench_ingest [COUNT]   (wall-clock; issue target >= 40 bills/s on
2 cores, parsing in the process pool with its per-message time and memory limit);
CONFERE_BENCH_STORES=sqlite measures one store only.

The bills are generated once (fixtures' generator, a seed of their own, unique NFS-e numbers)
and cached under $TMPDIR/confere-bench-cache; Dovecot and PostgreSQL are the tests' throwaway
servers. The floor is a plain imapclient fetch of the same messages (BODY.PEEK[], 500 a command).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from imapclient import IMAPClient  # noqa: E402

from pipeline.config import settings as config_mod  # noqa: E402
from pipeline.ingest.sandbox import Sandbox  # noqa: E402
from pipeline.mail.watcher import Watcher  # noqa: E402
from storage import open_store  # noqa: E402

from harness.dovecot import Dovecot, dovecot_server, mailbox_toml, write_config  # noqa: E402
from harness.pgcluster import postgres_cluster  # noqa: E402

COUNT = 2000
SEED = 20261123
TARGET = 40.0  # bills/s
CACHE = Path(tempfile.gettempdir()) / "confere-bench-cache"


def _make(indexes: list[int]) -> list[tuple[int, bytes]]:
    """Generate bills i in indexes (one PKI per worker process)."""
    from fixtures.bills import make_bill
    from fixtures.cases import GENUINE, docs_for
    from fixtures.generate import build_pki
    from fixtures.mailbox import bill_email

    pki = build_pki()
    out = []
    for i in indexes:
        _name, (y, m), layout, variant, qr, shape, style, ret = GENUINE[i % len(GENUINE)]
        bill = make_bill(SEED, f"bench-{i}", y, m, layout, str(400000 + i), qr,
                         retentions=ret, infnfse_id=ret)
        eml, _facts = bill_email(bill, docs_for(bill, pki, variant), shape, style, SEED)
        out.append((i, eml))
    return out


def bills(count: int) -> list[bytes]:
    """count distinct SERPRO bill emails (every MIME shape and NFS-e layout), cached on disk."""
    folder = CACHE / f"bills-{SEED}"
    folder.mkdir(parents=True, exist_ok=True)
    missing = [i for i in range(count) if not (folder / f"{i:05d}.eml").exists()]
    if missing:
        print(f"generating {len(missing)} bills into {folder} (once)...", flush=True)
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        workers = os.cpu_count() or 1
        parts = [missing[k::workers] for k in range(workers)]
        with multiprocessing.get_context("forkserver").Pool(workers) as pool:
            for done in pool.imap_unordered(_make, parts):
                for i, eml in done:
                    (folder / f"{i:05d}.eml").write_bytes(eml)
    return [(folder / f"{i:05d}.eml").read_bytes() for i in range(count)]


def plain_fetch(server: Dovecot, user: str) -> tuple[float, int]:
    """Seconds and bytes for a plain imapclient fetch of every message in the INBOX."""
    start = time.perf_counter()
    c = IMAPClient(server.host, server.port, ssl=False, timeout=60)
    c.login(user, "secret")
    c.select_folder("INBOX", readonly=True)
    uids = c.search("ALL")
    size = 0
    for k in range(0, len(uids), 500):
        for data in c.fetch(uids[k:k + 500], ["BODY.PEEK[]"]).values():
            size += len(data[b"BODY[]"])
    c.logout()
    return time.perf_counter() - start, size


@contextmanager
def sqlite_url(tmp: Path) -> Iterator[str]:
    """A fresh SQLite store in tmp."""
    yield f"sqlite:///{tmp / 'bench.db'}"


def confere_ingest(server: Dovecot, user: str, url: str, tmp: Path) -> dict[str, float]:
    """Poll (fetch + store) then process (parse in the pool, judge, store); seconds of each."""
    tmp.mkdir(parents=True, exist_ok=True)
    cfg_path = write_config(tmp, mailbox_toml(server, user, after="none", timeout=60), db=url)
    text = cfg_path.read_text().replace("workers = 1", f"workers = {os.cpu_count() or 1}")
    cfg_path.write_text(text.replace("parse_seconds = 30", "parse_seconds = 20"))
    cfg = config_mod.load(cfg_path)
    engine = open_store(cfg.database_url)
    lim = cfg.settings.limits
    sandbox = Sandbox(workers=lim.workers, seconds=lim.parse_seconds,
                      memory_mb=lim.parse_memory_mb, max_attachment_bytes=lim.max_attachment_bytes)
    with sandbox:
        watcher = Watcher(cfg, engine, sandbox)
        watcher.prepare()
        start = time.perf_counter()
        [report] = watcher.poll_due(force=True)
        polled = time.perf_counter()
        results = watcher.process_pending()
        done = time.perf_counter()
    engine.dispose()
    assert report.error is None, report.error
    statuses = Counter(r.status for r in results)
    return {"poll": polled - start, "process": done - polled, "total": done - start,
            "stored": report.stored, "statuses": statuses}  # type: ignore[dict-item]


def main() -> None:
    """Seed Dovecot with the bills, fetch them plainly, then ingest them into both stores."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else COUNT
    load = os.getloadavg()[0]
    mail = bills(count)
    rows = []
    with tempfile.TemporaryDirectory(prefix="confere-bench-") as tmp_dir, \
            dovecot_server() as server:
        tmp = Path(tmp_dir)
        user = server.add_user("bench")
        server.seed(user, mail)
        plain_fetch(server, user)  # warm: Dovecot builds its index and cache once
        fetch_s, size = plain_fetch(server, user)
        print(f"{count} bills, {size / count / 1024:.0f} KB each; load average before "
              f"{load:.2f} (2 cores)")
        print(f"plain imapclient fetch: {fetch_s:.2f} s, {count / fetch_s:,.0f} msg/s")
        stores = os.environ.get("CONFERE_BENCH_STORES", "sqlite,postgresql").split(",")
        for name in stores:
            if name == "sqlite":
                got = confere_ingest(server, user, f"sqlite:///{tmp / 'bench.db'}", tmp / name)
            else:
                with postgres_cluster() as url:
                    got = confere_ingest(server, user, url, tmp / name)
            rows.append((name, got))
    print(f"{'store':<11} {'poll s':>7} {'process s':>9} {'total s':>8} {'bills/s':>8} "
          f"{'x plain':>8} {'target':>6} {'ok':>3}  outcomes")
    for name, got in rows:
        rate = count / got["total"]
        ratio = got["total"] / fetch_s
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(got["statuses"].items()))
        print(f"{name:<11} {got['poll']:7.2f} {got['process']:9.2f} {got['total']:8.2f} "
              f"{rate:8.1f} {ratio:7.1f}x {TARGET:6.0f} {'yes' if rate >= TARGET else 'NO':>3}"
              f"  {outcomes}")
    print("x plain: confere's end-to-end time over the plain fetch of the same messages")


if __name__ == "__main__":
    main()
