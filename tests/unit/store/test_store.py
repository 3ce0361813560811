"""The SQLite share store: durability across kill -9, WAL mode, migrations, queries."""

from __future__ import annotations

import asyncio
import math
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from stratumv2.app.store import (
    SCHEMA_VERSION,
    AsyncStore,
    BlockRecord,
    ShareRecord,
    Store,
    StoreError,
)

HERE = Path(__file__).parent


def share(
    t: float, user: str = "alice", worker: str = "rig1", d: float = 1.0, **kw: object
) -> ShareRecord:
    return ShareRecord(time=t, user=user, worker=worker, difficulty=d, **kw)  # type: ignore[arg-type]


def test_acknowledged_shares_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "shares.db"
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "writer_process.py"), str(db), "50"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    acked: list[int] = []
    try:
        while len(acked) < 40:
            line = proc.stdout.readline()
            assert line, "writer died early"
            acked.append(int(line))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    store = Store(db)
    rows = store._db.execute("SELECT worker, COUNT(*) FROM shares GROUP BY worker").fetchall()
    per_batch = {w: n for w, n in rows}
    for batch in acked:
        assert per_batch.get(f"w{batch}") == 50, f"acknowledged batch {batch} lost"
    # no partial batch: every batch present is whole (transactions are atomic)
    assert set(per_batch.values()) == {50}
    store.close()


def test_wal_mode_and_schema_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    assert store.journal_mode == "wal"
    assert store.schema_version == SCHEMA_VERSION
    store.close()
    raw = sqlite3.connect(tmp_path / "s.db")
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_reopen_keeps_data_and_does_not_remigrate(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.record_batch([share(10.0)])
    store.close()
    store = Store(tmp_path / "s.db")
    assert store.share_count() == 1
    assert store.schema_version == SCHEMA_VERSION
    store.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    Store(tmp_path / "s.db").close()
    raw = sqlite3.connect(tmp_path / "s.db")
    raw.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="newer"):
        Store(tmp_path / "s.db")


def test_uncommitted_shares_are_not_visible_to_other_readers(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.add_shares([share(1.0)])
    other = Store(tmp_path / "s.db")
    assert other.share_count() == 0
    store.commit()
    assert other.share_count() == 1
    store.close()
    other.close()


def test_rollback_discards(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.add_shares([share(1.0)])
    store.rollback()
    assert store.share_count() == 0
    store.close()


def test_hashrate_estimate_and_poisson_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    now = 100_000.0
    # alice/rig1: 100 shares of difficulty 8 in the last hour; one older share outside it
    shares = [share(now - 3600 + 36 * i + 1, d=8.0) for i in range(100)]
    shares.append(share(now - 3600 - 5, d=1000.0))
    shares += [share(now - 10, worker="rig2", d=2.0), share(now - 20, worker="rig2", d=4.0)]
    shares.append(share(now - 30, user="bob", worker="x", d=3.0))
    store.record_batch(shares)
    rates = {(h.user, h.worker): h for h in store.hashrates(now, 3600.0)}
    rig1 = rates["alice", "rig1"]
    assert rig1.shares == 100
    assert rig1.difficulty_sum == 800.0
    assert rig1.hashrate == pytest.approx(800 * 2**32 / 3600)
    assert rig1.hashrate_stderr == pytest.approx(rig1.hashrate / math.sqrt(100))
    rig2 = rates["alice", "rig2"]
    assert rig2.hashrate == pytest.approx(6 * 2**32 / 3600)
    assert rig2.hashrate_stderr == pytest.approx(math.sqrt(4 + 16) * 2**32 / 3600)
    assert [h.user for h in store.hashrates(now, 3600.0, user="bob")] == ["bob"]
    total = store.total_hashrate(now, 3600.0)
    assert total.difficulty_sum == 809.0
    day = store.total_hashrate(now, 86400.0)
    assert day.difficulty_sum == 1809.0
    assert day.hashrate == pytest.approx(1809 * 2**32 / 86400)
    window = store.shares_in_window(now - 25, now, user="alice")
    assert [s.difficulty for s in window] == [4.0, 2.0]
    store.close()


def test_reject_counts_by_reason(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    rejects = [share(7200.0 + i, accepted=False, reject_reason="stale-share") for i in range(3)] + [
        share(10.0, accepted=False, reject_reason="difficulty-too-low")
    ]
    store.record_batch(rejects)
    store.record_batch([share(7300.0, user="bob", accepted=False, reject_reason="stale-share")])
    assert store.reject_counts() == {"difficulty-too-low": 1, "stale-share": 4}
    assert store.reject_counts(since=7200.0) == {"stale-share": 4}
    assert store.reject_counts(user="bob") == {"stale-share": 1}
    assert store.share_count() == 0  # rejected shares are counted, not stored one by one
    store.close()


def test_best_difficulty_per_worker_all_time(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.record_batch(
        [share(1.0, d=1.0, hash_difficulty=50.0), share(2.0, d=1.0, hash_difficulty=7.0)]
    )
    store.record_batch([share(3.0, d=1.0, hash_difficulty=20.0), share(4.0, worker="b", d=9.0)])
    store.record_batch([share(5.0, d=1.0, hash_difficulty=51.5)])
    best = {(b.user, b.worker): (b.best_difficulty, b.time) for b in store.best_difficulties()}
    assert best == {("alice", "rig1"): (51.5, 5.0), ("alice", "b"): (9.0, 4.0)}
    assert store.best_difficulties()[0].worker == "rig1"
    store.close()


def test_blocks_list_and_status(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    b1 = BlockRecord(101, "00" * 32, "bcrt1qpayee", 5_000_000_000, 10.0, user="alice")
    b2 = BlockRecord(102, "11" * 32, "bcrt1qpayee", 5_000_001_410, 20.0)
    store.record_batch([], [b1])
    store.record_batch([share(15.0)], [b2])
    store.set_block_status("00" * 32, "accepted")
    store.commit()
    blocks = store.blocks()
    assert [b.height for b in blocks] == [102, 101]
    assert blocks[1].submit_status == "accepted"
    assert blocks[0] == b2
    assert store.blocks(limit=1) == [b2]
    store.close()


def test_pplns_window(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.record_batch(
        [
            share(1.0, user="old", d=100.0),
            share(2.0, user="alice", d=10.0),
            share(3.0, user="bob", d=5.0),
            share(4.0, user="alice", d=10.0),
        ]
    )
    assert store.pplns_window(25.0) == {"alice": 20.0, "bob": 5.0}
    assert store.pplns_window(20.0) == {"alice": 15.0, "bob": 5.0}  # oldest share partly
    assert store.pplns_window(30.0) == {"alice": 20.0, "bob": 5.0, "old": 5.0}
    assert store.pplns_window(1e9) == {"alice": 20.0, "bob": 5.0, "old": 100.0}
    assert store.pplns_window(10.0, until=3.0) == {"bob": 5.0, "alice": 5.0}
    assert store.pplns_window(0) == {}
    store.close()


def test_prune(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.record_batch([share(1.0, hash_difficulty=9.0), share(5.0)])
    assert store.prune_shares(before=3.0) == 1
    assert store.share_count() == 1
    assert store.best_difficulties()[0].best_difficulty == 9.0
    store.close()


async def test_async_store_group_commit(tmp_path: Path) -> None:
    async with AsyncStore(tmp_path / "a.db") as store:
        await asyncio.gather(*(store.record(share(float(i), d=float(i))) for i in range(200)))
        # every awaited record is committed: a separate connection sees all of them
        other = Store(tmp_path / "a.db")
        assert other.share_count() == 200
        other.close()
        await store.add_block(BlockRecord(1, "ab" * 32, "payee", 50, 1.0))
        await store.set_block_status("ab" * 32, "accepted")
        blocks = await store.call(lambda s: s.blocks())
        assert blocks[0].submit_status == "accepted"
        total = await store.call(lambda s: s.total_hashrate(1000.0, 1000.0))
        assert total.difficulty_sum == sum(range(1, 200))


async def test_async_store_error_reaches_every_waiter(tmp_path: Path) -> None:
    store = await AsyncStore(tmp_path / "a.db").open()
    bad = ShareRecord(time=1.0, user="u", worker="w", difficulty=1.0, share_hash=object())  # type: ignore[arg-type]
    results = await asyncio.gather(
        store.record(share(1.0)), store.record(bad), return_exceptions=True
    )
    # both shares were in the same transaction: neither may be acknowledged
    assert all(isinstance(r, Exception) for r in results)
    await store.record(share(2.0))  # the store still works afterwards
    await store.close()
    check = Store(tmp_path / "a.db")
    assert [s.time for s in check.shares_in_window(0.0, 10.0)] == [2.0]
    check.close()
