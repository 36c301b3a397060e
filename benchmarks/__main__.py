"""`python -m benchmarks` (make bench): run every benchmarks/bench_*.py module in turn."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def main() -> None:
    """Import each bench_* module and call its main(), with a heading per module."""
    for path in sorted(Path(__file__).parent.glob("bench_*.py")):
        name = f"benchmarks.{path.stem}"
        print(f"== {name}", flush=True)
        saved = sys.argv
        sys.argv = [name]
        try:
            importlib.import_module(name).main()
        finally:
            sys.argv = saved
        print(flush=True)


if __name__ == "__main__":
    main()
