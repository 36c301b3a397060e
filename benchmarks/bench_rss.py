"""Peak memory while ingesting 1k and 10k messages: `confere poll` and its parse workers.

Run: python -m benchmarks.bench_rss [--quick]   (--quick: 1k only)

Each mailbox holds SERPRO mail only: one bill in ten (the generated bills of bench_ingest) and
nine small notices; `confere poll` fetches, stores and judges all of it in a subprocess. RSS is
sampled every 20 ms over the whole process tree (the CLI, the forkserver and the pool's workers,
read from /proc) and also taken from getrusage(RUSAGE_CHILDREN).ru_maxrss, which is the largest
single process waited for. psutil is not needed.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from benchmarks.bench_ingest import bills  # noqa: E402

from harness.dovecot import dovecot_server, mailbox_toml, message, write_config  # noqa: E402

SIZES = (1_000, 10_000)
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _tree(root: int) -> dict[int, int]:
    """pid -> RSS KB of root and every process under it."""
    parents, rss = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        rss[pid] = int(fields[21]) * PAGE_KB
    tree, grew = {root}, True
    while grew:
        more = {p for p, pp in parents.items() if pp in tree} - tree
        tree |= more
        grew = bool(more)
    return {p: rss.get(p, 0) for p in tree}


def measure(config: Path) -> tuple[float, int, int, int]:
    """(seconds, peak tree RSS KB, peak CLI RSS KB, ru_maxrss KB of children) for one poll."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", "from pipeline.cli.main import run; run()",
                             "poll", "--config", str(config)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = {"tree": 0, "cli": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            tree = _tree(proc.pid)
            peak["tree"] = max(peak["tree"], sum(tree.values()))
            peak["cli"] = max(peak["cli"], tree.get(proc.pid, 0))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _out, err = proc.communicate(timeout=1800)
    done.set()
    sampler.join()
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"confere poll failed: {err.decode()[-2000:]}")
    maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return took, peak["tree"], peak["cli"], max(maxrss, before)


def main() -> None:
    """One mailbox per size, one `confere poll` each, peaks side by side."""
    sizes = SIZES[:1] if "--quick" in sys.argv else SIZES
    mail = bills(max(sizes) // 10)
    rows = []
    with tempfile.TemporaryDirectory(prefix="confere-bench-") as tmp_dir, \
            dovecot_server() as server:
        for n in sizes:
            user = server.add_user(f"rss-{n}")
            server.seed(user, [mail[i // 10] if i % 10 == 0 else message(i, size=2000)
                               for i in range(n)])
            tmp = Path(tmp_dir) / user
            tmp.mkdir()
            cfg = write_config(tmp, mailbox_toml(server, user, after="none", timeout=120))
            cfg.write_text(cfg.read_text().replace("workers = 1",
                                                   f"workers = {os.cpu_count() or 1}"))
            rows.append((n, *measure(cfg)))
    print(f"{'messages':>9} {'wall s':>7} {'msg/s':>6} {'peak tree MB':>12} "
          f"{'peak CLI MB':>11} {'max child MB':>12}")
    for n, took, tree, cli, child in rows:
        print(f"{n:9,} {took:7.1f} {n / took:6.0f} {tree / 1024:12.0f} {cli / 1024:11.0f} "
              f"{child / 1024:12.0f}")
    if len(rows) > 1:
        print(f"peak tree RSS at {rows[-1][0]:,} vs {rows[0][0]:,} messages: "
              f"{rows[-1][2] / rows[0][2]:.2f}x (flat = about 1x)")
    print("tree = the poll process + forkserver + parse workers, summed; shared pages are "
          "counted once per process, so the sum over-states the real footprint; max child = "
          "ru_maxrss of this process's children, which under `python -m benchmarks` includes "
          "the earlier benchmarks' pool workers")


if __name__ == "__main__":
    main()
