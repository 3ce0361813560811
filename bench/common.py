"""Shared helpers for benchmarks: a repeat-and-take-best timer and a table printer.

Every benchmark compares against a baseline measured in the same run (for example one
sha256d of an 80-byte header), so the ratios mean something on a shared machine.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence

from stratumv2.protocol import SubmitSharesExtended, SubmitSharesStandard


def per_second(fn: Callable[[], object], short: bool = False, min_time: float = 0.2) -> float:
    """Calls of ``fn`` per second: best of several timed batches (robust to noise)."""
    budget = 0.02 if short else min_time
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= budget / 4 or n >= 1 << 22:
            break
        n *= 4
    best = elapsed / n
    for _ in range(1 if short else 4):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n)
    return 1.0 / best if best > 0 else float("inf")


_HEADER = bytes(range(80))


def sha256d_header() -> bytes:
    """The baseline unit: one sha256d of an 80-byte block header."""
    return hashlib.sha256(hashlib.sha256(_HEADER).digest()).digest()


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a plain-text table with right-aligned numeric columns."""
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if value >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3g}" if value < 10 else f"{value:.1f}"
    return str(value)


def sample_shares(
    n: int, ntime: int, standard_channel: int, extended_channel: int
) -> tuple[list[SubmitSharesStandard], list[SubmitSharesExtended]]:
    """``n`` distinct standard and extended shares on job 1 (nonce and extranonce = index)."""
    standard = [
        SubmitSharesStandard(
            channel_id=standard_channel, sequence_number=i, job_id=1, nonce=i, ntime=ntime,
            version=0x20000000,
        )
        for i in range(n)
    ]  # fmt: skip
    extended = [
        SubmitSharesExtended(
            channel_id=extended_channel, sequence_number=i, job_id=1, nonce=i, ntime=ntime,
            version=0x20000000, extranonce=i.to_bytes(16, "little"),
        )
        for i in range(n)
    ]  # fmt: skip
    return standard, extended
