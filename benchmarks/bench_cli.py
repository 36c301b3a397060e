"""CLI start: `confere --help` and `confere --version` wall time against the 0.5 s budget.

Run: python -m benchmarks.bench_cli [--runs N]   (wall-clock of a fresh interpreter per run,
median of N runs, default 11; one unmeasured warm-up run first so the OS caches are hot)

Each run starts the console script the way a person's shell does: a new Python process that
imports pipeline.cli.main and runs the command. Commands load their stacks only when used, so
neither of these should import SQLAlchemy, lxml or the scheduler.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 0.5  # seconds (issue 11)
COMMANDS = (("--help",), ("--version",))
ENTRY = "from pipeline.cli.main import run; run()"


def once(args: tuple[str, ...]) -> float:
    """Seconds for one fresh process to run `confere ARGS` to completion."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", ENTRY, *args], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def floor(runs: int) -> float:
    """Median seconds of a bare interpreter start (what no CLI change can go below)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Print each command's median, its range, and its ratio to the budget."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    runs = parser.parse_args().runs
    print(f"python start (floor): {floor(runs):.3f} s median of {runs}")
    for args in COMMANDS:
        once(args)  # warm-up, not counted
        times = [once(args) for _ in range(runs)]
        median = statistics.median(times)
        verdict = "within" if median <= BUDGET else "OVER"
        print(f"confere {' '.join(args):<10} median {median:.3f} s "
              f"(min {min(times):.3f}, max {max(times):.3f}; {runs} runs)  "
              f"{median / BUDGET:.2f}x the {BUDGET} s budget: {verdict}")


if __name__ == "__main__":
    main()
