"""CPU miner hashrate: the workers' hot loop and worker processes, against raw hashlib.

Baseline: a bare ``sha256(sha256(header).digest()).digest()`` loop over one fixed 80-byte
header (the most a Python loop over hashlib can do). ``scan`` is the miner's hot loop (nonce
packed into a preallocated header, sha256d, target check) in this process; the pool rows
run ``WorkerPool`` processes with an unreachable target for a few seconds and count hashes.
``ratio`` = rate / baseline per process (1.0: the miner adds nothing to the hashing).
"""

from __future__ import annotations

import hashlib
import os
import time

from bench.common import print_table
from stratumv2.roles.miner.core import WorkUnit
from stratumv2.roles.miner.workers import HashesDone, WorkerPool, scan

REGTEST_BITS = 0x207FFFFF


def _raw_sha256d(count: int) -> float:
    header = bytes(range(80))
    sha256 = hashlib.sha256
    start = time.perf_counter()
    for _ in range(count):
        sha256(sha256(header).digest()).digest()
    return count / (time.perf_counter() - start)


def _work(extranonce_size: int) -> WorkUnit:
    return WorkUnit(
        work_id=1,
        job_id=1,
        version=0x20000000,
        prev_hash=bytes(32),
        nbits=REGTEST_BITS,
        ntime=1_700_000_000,
        target=0,
        network_target=0,
        version_mask=0x1FFFFFE0,
        merkle_root=bytes(range(32)),
        coinbase_head=b"\x01" * 60,
        coinbase_tail=b"\x02" * 80,
        merkle_path=(b"\x03" * 32,) * 10,
        extranonce_size=extranonce_size,
    )


def _scan_rate(count: int) -> float:
    work = _work(0)
    start = time.perf_counter()
    scan(work, 1 << 200, b"", work.version, work.ntime, 0, count)
    return count / (time.perf_counter() - start)


def _pool_rate(workers: int, seconds: float, limit: float | None = None) -> float:
    with WorkerPool(workers, hashrate_limit=limit) as pool:
        pool.set_work(_work(4))
        # let every worker start (spawn) and report once before timing
        reported: set[int] = set()
        deadline = time.monotonic() + 30
        while len(reported) < workers and time.monotonic() < deadline:
            reported |= {r.worker for r in pool.poll(0.2) if isinstance(r, HashesDone)}
        base = pool.hashes
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            pool.poll(0.2)
        return (pool.hashes - base) / (time.monotonic() - start)


def main(short: bool) -> None:
    """Print hashes per second per worker beside the raw hashlib loop."""
    count = 20_000 if short else 400_000
    seconds = 1.0 if short else 5.0
    baseline = max(_raw_sha256d(count) for _ in range(1 if short else 3))
    scan_rate = max(_scan_rate(count) for _ in range(1 if short else 3))
    rows: list[list[object]] = [
        ["raw hashlib sha256d loop (baseline)", 1, baseline, baseline, 1.0],
        ["scan() hot loop, in process", 1, scan_rate, scan_rate, baseline / scan_rate],
    ]
    cores = os.cpu_count() or 1
    for workers in sorted({1, cores} if not short else {1}):
        rate = _pool_rate(workers, seconds)
        per = rate / workers
        rows.append([f"WorkerPool, {workers} process(es)", workers, rate, per, baseline / per])
    limit = 20_000.0
    limited = _pool_rate(1, seconds, limit)
    rows.append([f"WorkerPool, --hashrate-limit {limit:.0f}", 1, limited, limited, "-"])
    print_table(
        "sv2 miner: hashes per second (H/s)",
        ["what", "procs", "total H/s", "H/s per proc", "ratio"],
        rows,
    )
