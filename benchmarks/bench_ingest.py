"""End to end: 2,000 generated SERPRO bills from a local Dovecot into SQLite and PostgreSQL.

Run: python -m benchmarks.bench_ingest [COUNT]   (wall-clock; issue target >= 80 bills/s on
2 cores into each store, parsing and offline judging in the process pool with its per-message
time and memory limit); CONFERE_BENCH_STORES=sqlite measures one store only.

Besides the rates it prints where the CPU goes, per bill: the poll (fetch and store the raw
message, this process), the pool's workers (parse and judge offline, split by a sample run in
this process), the writing process (judge against the store, write) and PostgreSQL's backends.

The bills are generated once (fixtures' generator, a seed of their own, unique NFS-e numbers)
and cached under $TMPDIR/confere-bench-cache; Dovecot and PostgreSQL are the tests' throwaway
servers. The floor is a plain imapclient fetch of the same messages (BODY.PEEK[], 500 a command).
"""

from __future__ import annotations

import hashlib
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
from sqlalchemy.engine import Engine  # noqa: E402

from parsers.text import only_digits  # noqa: E402
from pipeline.config import settings as config_mod  # noqa: E402
from pipeline.ingest.sandbox import Sandbox  # noqa: E402
from pipeline.mail.watcher import Watcher  # noqa: E402
from storage import open_store  # noqa: E402

from harness.dovecot import Dovecot, dovecot_server, mailbox_toml, write_config  # noqa: E402
from harness.pgcluster import postgres_cluster  # noqa: E402

COUNT = 2000
SEED = 20261123
TARGET = 80.0  # bills/s
SAMPLE = 60  # bills parsed and judged in this process to split the workers' CPU
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


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _workers_cpu(sandbox: Sandbox) -> float:
    pool = getattr(sandbox, "_pool", None)
    return sum(_proc_cpu(pid) for pid in getattr(pool, "_processes", {}) or {})


def _db_cpu(engine: Engine) -> float:
    """CPU of the PostgreSQL backends serving the confere database (0 for SQLite)."""
    if engine.dialect.name != "postgresql":
        return 0.0
    from sqlalchemy import text
    with engine.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = "
                                 "current_database()")).scalars()
        return sum(_proc_cpu(p) for p in pids)


def stage_sample(mail: list[bytes], url_dir: Path) -> dict[str, float]:
    """CPU ms per bill to parse and to judge offline, on a sample, in this process."""
    from parsers.message import parse_message
    from pipeline.checks.offline import BillContext, offline_checks
    from pipeline.ingest.ingestor import find_fields, identify_vendor

    url_dir.mkdir(parents=True, exist_ok=True)
    cfg = config_mod.load(write_config(url_dir, "", db=f"sqlite:///{url_dir / 's.db'}"))
    company = cfg.settings.company
    parse = judge = 0.0
    for raw in mail[:SAMPLE]:
        t0 = time.process_time()
        m = parse_message(raw, cfg.settings.limits.max_attachment_bytes)
        t1 = time.process_time()
        vendor = identify_vendor(m, cfg.vendors.values())
        if vendor is not None:
            ctx = BillContext(vendor=vendor, company_cnpjs=tuple(company.cnpjs),
                              company_domains=tuple(d.lower() for d in company.email_domains),
                              contracts=tuple(only_digits(c.number)
                                              for c in cfg.contracts_for(vendor.key)),
                              trust=cfg.signature_trust)
            offline_checks(m, find_fields(m, vendor), ctx)
        t2 = time.process_time()
        parse, judge = parse + t1 - t0, judge + t2 - t1
    n = min(SAMPLE, len(mail))
    return {"parse": parse / n * 1000, "judge": judge / n * 1000}


def _cpu_ticks() -> tuple[int, int, int]:
    """(busy, steal, all) clock ticks of the machine since boot, from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0, 0
    idle, steal = fields[3] + fields[4], fields[7] if len(fields) > 7 else 0
    return sum(fields[:8]) - idle - steal, steal, sum(fields[:8])


def verdicts(engine: Engine) -> tuple[Counter[str], str]:
    """The bills' verdicts counted, and a digest of every bill's note, verdict and check
    outcomes: the same digest is the same judgement (across stores, and code versions)."""
    from sqlmodel import Session, select

    from storage import CheckRow, Invoice

    with Session(engine) as s:
        checks: dict[int, list[tuple[str, str]]] = {}
        for c in s.exec(select(CheckRow)):
            checks.setdefault(c.invoice_id, []).append((c.name, c.outcome))
        bills = sorted((i.provider_cnpj or "", i.nfse_number or "", i.verdict,
                        sorted(checks.get(i.id or 0, []))) for i in s.exec(select(Invoice)))
    digest = hashlib.sha256(repr(bills).encode()).hexdigest()[:12]
    return Counter(b[2] for b in bills), digest


def confere_ingest(server: Dovecot, user: str, url: str, tmp: Path) -> dict[str, float]:
    """Poll (fetch + store, in a thread) while processing (parse in the pool, judge, store);
    seconds until the poll ended and in all, CPU seconds of the poll's thread, of the rest of
    this process (writing), of the pool's workers and of the database."""
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
        poll_due = watcher.poll_due
        polled: dict[str, float] = {}

        def timed_poll(**kw: object) -> list:
            """The poll, in its own thread: its CPU and when it ended."""
            cpu = time.thread_time()
            try:
                return poll_due(**kw)  # type: ignore[arg-type]
            finally:
                polled.update(cpu=time.thread_time() - cpu, at=time.perf_counter())

        watcher.poll_due = timed_poll  # type: ignore[method-assign]
        db0 = _db_cpu(engine)
        ticks0 = _cpu_ticks()
        start, cpu0 = time.perf_counter(), time.process_time()
        # As `confere poll` and the daemon do: bills are judged while the download goes on.
        if os.environ.get("CONFERE_BENCH_SEQUENTIAL"):  # the download, then the judging
            [report] = watcher.poll_due(force=True)
            judged = watcher.process_pending()
        else:
            [report], judged = watcher.poll_and_process(force=True)
        done, cpu1 = time.perf_counter(), time.process_time()
        busy, steal, every = (b - a for a, b in zip(ticks0, _cpu_ticks(), strict=True))
        workers = _workers_cpu(sandbox)
        db = _db_cpu(engine) - db0
    judged_as = verdicts(engine)
    engine.dispose()
    assert report.error is None, report.error
    statuses = Counter(r.status for r in judged or [])
    return {"poll": polled["at"] - start, "process": done - polled["at"], "total": done - start,
            "poll_cpu": polled["cpu"], "write_cpu": cpu1 - cpu0 - polled["cpu"],
            "workers_cpu": workers, "db_cpu": db, "stored": report.stored,
            "statuses": statuses, "verdicts": judged_as,
            "busy": busy / every if every else 0.0, "steal": steal / every if every else 0.0}  # type: ignore[dict-item]


def machine_speed() -> float:
    """CPU ms of a fixed pure-Python loop (best of 3): runs compare only at like speeds."""
    best = float("inf")
    for _ in range(3):
        t0, total = time.process_time(), 0
        for i in range(1_000_000):
            total += i * i
        best = min(best, time.process_time() - t0)
    return best * 1000


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
        fetch_cpu = time.process_time()
        fetch_s, size = plain_fetch(server, user)
        fetch_cpu = time.process_time() - fetch_cpu
        print(f"{count} bills, {size / count / 1024:.0f} KB each; load average before "
              f"{load:.2f} (2 cores); machine speed: a fixed Python loop {machine_speed():.0f} "
              "ms of CPU")
        print(f"plain imapclient fetch: {fetch_s:.2f} s, {count / fetch_s:,.0f} msg/s")
        stores = os.environ.get("CONFERE_BENCH_STORES", "sqlite,postgresql").split(",")
        for name in stores:
            if name == "sqlite":
                got = confere_ingest(server, user, f"sqlite:///{tmp / 'bench.db'}", tmp / name)
            else:
                with postgres_cluster() as url:
                    got = confere_ingest(server, user, url, tmp / name)
            rows.append((name, got))
        sample = stage_sample(mail, tmp / "sample")
    print(f"{'store':<11} {'poll s':>7} {'+ rest s':>9} {'total s':>8} {'bills/s':>8} "
          f"{'x plain':>8} {'target':>6} {'ok':>3} {'busy':>5} {'steal':>5}  outcomes")
    for name, got in rows:
        rate = count / got["total"]
        ratio = got["total"] / fetch_s
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(got["statuses"].items()))
        print(f"{name:<11} {got['poll']:7.2f} {got['process']:9.2f} {got['total']:8.2f} "
              f"{rate:8.1f} {ratio:7.1f}x {TARGET:6.0f} {'yes' if rate >= TARGET else 'NO':>3}"
              f" {got['busy']:5.0%} {got['steal']:5.0%}  {outcomes}")
    print("poll s: until the download ended (bills are judged meanwhile); + rest s: the "
          "judging after it; x plain: confere's end-to-end time over the plain fetch; busy, "
          "steal: the machine's cores busy, and taken by the host, during the run")
    for name, got in rows:
        counted, digest = got["verdicts"]
        print(f"{name:<11} verdicts: {', '.join(f'{k} {v}' for k, v in sorted(counted.items()))}"
              f"; digest of every bill's verdict and check outcomes {digest}")
    print(f"\nCPU ms per bill (plain fetch: {fetch_cpu / count * 1000:.2f} ms in imapclient)")
    print(f"{'store':<11} {'poll':>6} {'workers':>8} {'= parse':>8} {'+ judge':>8} "
          f"{'write':>6} {'db':>6} {'sum':>6} {'sum/2 cores':>11}")
    # Code before issue 17 judged in the writing process: its workers only parse.
    in_workers = hasattr(Sandbox, "judge_with")
    per = sample["parse"] + (sample["judge"] if in_workers else 0.0)
    for name, got in rows:
        poll, workers, write, db = (got[k] / count * 1000 for k in
                                    ("poll_cpu", "workers_cpu", "write_cpu", "db_cpu"))
        share = workers / per if per else 0.0
        judge = f"{sample['judge'] * share:8.2f}" if in_workers else " (write)"
        total = poll + workers + write + db
        print(f"{name:<11} {poll:6.2f} {workers:8.2f} {sample['parse'] * share:8.2f} "
              f"{judge} {write:6.2f} {db:6.2f} {total:6.2f} "
              f"{2000 / total if total else 0:8.0f}/s")
    print("poll: fetch and store the raw message (its thread); workers: the parse pool, "
          "split into parse and offline judging by a sample of "
          f"{min(SAMPLE, count)} bills run here ({sample['parse']:.1f} + {sample['judge']:.1f} "
          "ms); write: the writing process (with the judging the workers do not do); db: "
          "PostgreSQL's backends; sum/2 cores: the rate the CPU alone would allow")


if __name__ == "__main__":
    main()
