"""Usage import and reconciliation at a million events (issue targets: import <= 10 s,
reconcile <= 2 s on the 2-core machine).

Run: python -m benchmarks.bench_reconcile [EVENTS]   (wall-clock time, SQLite in a temp dir;
set CONFERE_BENCH_DB to a PostgreSQL URL to measure there instead, on an empty store)
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pipeline.config import settings as config_mod
from pipeline.costs.reconcile import reconcile_month
from pipeline.costs.usage import import_file
from storage import open_store

EVENTS = 1_000_000
MONTH = "2026-10"
TARGETS = {"import": 10.0, "reconcile": 2.0}
PATHS = ["Consultar"] * 6 + ["Emitir"] * 3 + ["Declarar", "Apoiar", "Monitorar"]


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the import's second process)."""
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def write_usage(path: Path, events: int) -> None:
    """A deterministic month of usage: every 2.5 s, 2% answered 500, all in October 2026."""
    brt = timezone(timedelta(hours=-3))
    start = datetime(2026, 10, 1, tzinfo=brt)
    step = timedelta(seconds=(31 * 86400 - 60) / events)
    with path.open("w", encoding="utf-8") as f:
        f.write("timestamp,contract,path,id_sistema,id_servico,status,request_id\n")
        for i in range(events):
            when = (start + i * step).isoformat()
            status = 500 if i % 50 == 0 else 200
            f.write(f"{when},261074,/integra-contador/v1/{PATHS[i % 12]},PGDASD,"
                    f"CONSEXTRATO16,{status},bench-{i:08d}\n")


def main() -> None:
    """Import EVENTS events, import them again (all duplicates), reconcile the month."""
    load = os.getloadavg()
    events = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else EVENTS
    with tempfile.TemporaryDirectory(prefix="confere-bench-") as tmp:
        url = os.environ.get("CONFERE_BENCH_DB") or f"sqlite:///{Path(tmp) / 'bench.db'}"
        cfg = config_mod.from_dict({"database": {"url": url}, "contracts": [
            {"vendor": "serpro", "number": "261074"}]}, Path(tmp), "<bench>")
        usage = Path(tmp) / "usage.csv"
        write_usage(usage, events)
        size = usage.stat().st_size
        engine = open_store(cfg.database_url)
        rows = []
        start, cpu = time.perf_counter(), cpu_seconds()
        report = import_file(engine, cfg, usage, progress=False)
        rows.append(("import", time.perf_counter() - start, cpu_seconds() - cpu))
        assert report.imported == events, report
        start, cpu = time.perf_counter(), cpu_seconds()
        again = import_file(engine, cfg, usage, progress=False)
        rows.append(("re-import", time.perf_counter() - start, cpu_seconds() - cpu))
        assert again.duplicates == events, again
        start, cpu = time.perf_counter(), cpu_seconds()
        [result] = reconcile_month(engine, cfg, MONTH)
        rows.append(("reconcile", time.perf_counter() - start, cpu_seconds() - cpu))
        engine.dispose()
    print(f"{events:,} events, {size / 1e6:.0f} MB, "
          f"{engine.dialect.name}; expected {result.to_json()['expected_amount']}")
    print(f"load average before: {load[0]:.2f} (2 cores; above ~0.5 the wall times are shared)")
    print(f"{'what':<10} {'wall s':>7} {'cpu s':>6} {'events/s':>10} {'target s':>9} {'ok':>3}")
    for name, seconds, cpu in rows:
        target = TARGETS.get(name)
        verdict = ("yes" if seconds <= target else "NO") if target else ""
        print(f"{name:<10} {seconds:7.2f} {cpu:6.2f} {events / seconds:10,.0f} "
              f"{target or 0:9.1f} {verdict:>3}")


if __name__ == "__main__":
    main()
