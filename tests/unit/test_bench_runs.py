"""Every benchmark still runs (short mode); the figures themselves come from `make bench`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NAMES = sorted(p.stem[len("bench_") :] for p in (ROOT / "bench").glob("bench_*.py"))


@pytest.mark.parametrize("name", NAMES)
def test_benchmark_runs_in_short_mode(name: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench", name, "--short"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "---" in out.stdout, "a benchmark prints a table"
