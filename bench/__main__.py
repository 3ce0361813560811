"""Run the benchmarks: every ``bench/bench_*.py`` module's ``main(short)``."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all), e.g. protocol")
    parser.add_argument("--short", action="store_true", help="tiny run that only proves it works")
    args = parser.parse_args(argv)
    here = Path(__file__).parent
    available = sorted(
        m.name[len("bench_") :]
        for m in pkgutil.iter_modules([str(here)])
        if m.name.startswith("bench_")
    )
    chosen = args.names or available
    for name in chosen:
        if name not in available:
            print(f"unknown benchmark {name!r}; available: {', '.join(available)}", file=sys.stderr)
            return 2
        module = importlib.import_module(f"bench.bench_{name}")
        module.main(short=args.short)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
