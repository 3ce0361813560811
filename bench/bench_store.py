"""Share store: shares committed per second at batch sizes 1, 10, 100, 1000.

Baseline (same run, same rows, same file settings): a bare ``sqlite3`` ``executemany`` into
an equivalent table plus ``COMMIT`` per batch, without our layer (no reject/best upserts).
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.common import print_table
from stratumv2.app.store import AsyncStore, ShareRecord, Store

_RAW_SCHEMA = (
    "CREATE TABLE shares (id INTEGER PRIMARY KEY, time REAL, user TEXT, worker TEXT,"
    " channel_id INTEGER, job_id INTEGER, difficulty REAL, hash_difficulty REAL,"
    " share_hash BLOB)"
)


def _rows(n: int, start: int) -> list[ShareRecord]:
    return [
        ShareRecord(
            time=float(start + i),
            user=f"user{i % 16}",
            worker=f"rig{i % 64}",
            difficulty=1024.0,
            channel_id=i % 64,
            job_id=i,
            hash_difficulty=1024.0 + i % 97,
            share_hash=(start + i).to_bytes(32, "little"),
        )
        for i in range(n)
    ]


def _ours(path: Path, batch: int, batches: int) -> float:
    store = Store(path)
    data = [_rows(batch, k * batch) for k in range(batches)]
    start = time.perf_counter()
    for rows in data:
        store.record_batch(rows)
    elapsed = time.perf_counter() - start
    store.close()
    return batch * batches / elapsed


def _raw(path: Path, batch: int, batches: int) -> float:
    db = sqlite3.connect(str(path), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(_RAW_SCHEMA)
    db.execute("CREATE INDEX shares_time ON shares(time)")
    db.execute("CREATE INDEX shares_worker_time ON shares(user, worker, time)")
    data = [
        [
            (
                s.time,
                s.user,
                s.worker,
                s.channel_id,
                s.job_id,
                s.difficulty,
                s.hash_difficulty,
                s.share_hash,
            )
            for s in _rows(batch, k * batch)
        ]
        for k in range(batches)
    ]
    sql = (
        "INSERT INTO shares (time, user, worker, channel_id, job_id, difficulty,"
        " hash_difficulty, share_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    )
    start = time.perf_counter()
    for rows in data:
        db.execute("BEGIN")
        db.executemany(sql, rows)
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return batch * batches / elapsed


async def _group_commit(path: Path, concurrent: int, rounds: int) -> float:
    """``await record(share)`` from ``concurrent`` tasks at once; returns shares per second."""
    async with AsyncStore(path) as store:
        data = [_rows(concurrent, k * concurrent) for k in range(rounds)]
        start = time.perf_counter()
        for rows in data:
            await asyncio.gather(*(store.record(share) for share in rows))
        return concurrent * rounds / (time.perf_counter() - start)


def main(short: bool) -> None:
    """Print shares/s for our store and the bare-sqlite baseline."""
    total = 2_000 if short else 20_000
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for batch in (1, 10, 100, 1000):
            batches = max(2, min(total // batch, 2000 if not short else 50))
            best_ours = max(
                _ours(Path(tmp) / f"ours-{batch}-{r}.db", batch, batches)
                for r in range(1 if short else 3)
            )
            best_raw = max(
                _raw(Path(tmp) / f"raw-{batch}-{r}.db", batch, batches)
                for r in range(1 if short else 3)
            )
            rows.append([batch, best_ours, best_raw, best_ours / best_raw])
    print_table(
        "store: shares committed per second (WAL, synchronous=NORMAL)",
        ["batch size", "Store.record_batch", "raw executemany", "ratio"],
        rows,
    )
    group = []
    with tempfile.TemporaryDirectory() as tmp:
        for concurrent in (1, 10, 100, 1000):
            rounds = max(2, (200 if short else 5_000) // concurrent)
            rate = asyncio.run(_group_commit(Path(tmp) / f"g{concurrent}.db", concurrent, rounds))
            group.append([concurrent, rate])
    print_table(
        "AsyncStore.record: group commit (each await returns once its share is committed)",
        ["concurrent shares", "shares/s"],
        group,
    )
