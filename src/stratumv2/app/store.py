"""SQLite store (WAL mode) for shares, rejected-share counts, found blocks and best difficulties.

Durability contract: a share is acknowledged to the miner only after the transaction that
holds it has committed. The pool therefore calls ``record_batch(shares)`` (one transaction for
many shares, so the commit cost is shared) and only then sends ``SubmitShares.Success``.
With ``synchronous=NORMAL`` (the default) a committed transaction survives the process being
killed; pass ``synchronous="FULL"`` to also survive a power cut, at a lower commit rate.

``Store`` is plain synchronous ``sqlite3``. ``AsyncStore`` runs it on one worker thread and
adds group commit: concurrent ``await record(share)`` calls from many connections are gathered
into one transaction, each caller resuming once its share is on disk.

Hashrate estimates: a share of difficulty ``d`` stands for ``d * 2**32`` hashes on average, so
over a window of ``w`` seconds ``H = sum(d) * 2**32 / w``. Share arrivals are Poisson, so the
count behind each difficulty has variance equal to its mean; the standard error of the estimate
is ``sqrt(sum(d**2)) * 2**32 / w`` (``H / sqrt(n)`` when every share has the same difficulty).
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

T = TypeVar("T")

HASHES_PER_DIFFICULTY_1 = 2**32
SCHEMA_VERSION = 1
Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]


@dataclass(frozen=True, slots=True)
class ShareRecord:
    """One share as the pool saw it.

    ``difficulty`` is the credited difficulty (the channel target the share had to meet);
    ``hash_difficulty`` the difficulty the share's hash actually reached (for best-share
    statistics). A rejected share carries ``accepted=False`` and its ``reject_reason``
    (the SV2 error code text, e.g. ``"difficulty-too-low"``); only counts of those are kept.
    """

    time: float
    user: str
    worker: str
    difficulty: float
    channel_id: int = 0
    job_id: int = 0
    hash_difficulty: float | None = None
    share_hash: bytes | None = None
    accepted: bool = True
    reject_reason: str | None = None


@dataclass(frozen=True, slots=True)
class BlockRecord:
    """A block found by the pool. ``block_hash`` in RPC (display) hex."""

    height: int
    block_hash: str
    coinbase_payee: str
    reward: int
    time: float
    submit_status: str = "submitted"
    user: str = ""
    worker: str = ""


@dataclass(frozen=True, slots=True)
class HashrateEstimate:
    """Shares of one worker (or of all) over a time window and the hashrate they imply."""

    user: str
    worker: str
    shares: int
    difficulty_sum: float
    window: float
    hashrate: float
    hashrate_stderr: float


@dataclass(frozen=True, slots=True)
class WorkerBest:
    """The highest share difficulty a worker ever reached, and when."""

    user: str
    worker: str
    best_difficulty: float
    time: float


class StoreError(Exception):
    """The store cannot be opened or used (for example a newer schema version)."""


_MIGRATIONS: tuple[str, ...] = (
    # version 1
    """
    CREATE TABLE shares (
        id INTEGER PRIMARY KEY,
        time REAL NOT NULL,
        user TEXT NOT NULL,
        worker TEXT NOT NULL,
        channel_id INTEGER NOT NULL,
        job_id INTEGER NOT NULL,
        difficulty REAL NOT NULL,
        hash_difficulty REAL,
        share_hash BLOB
    );
    CREATE INDEX shares_time ON shares(time);
    CREATE INDEX shares_worker_time ON shares(user, worker, time);
    CREATE TABLE rejects (
        user TEXT NOT NULL,
        worker TEXT NOT NULL,
        reason TEXT NOT NULL,
        hour INTEGER NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (user, worker, reason, hour)
    ) WITHOUT ROWID;
    CREATE TABLE worker_best (
        user TEXT NOT NULL,
        worker TEXT NOT NULL,
        best_difficulty REAL NOT NULL,
        time REAL NOT NULL,
        PRIMARY KEY (user, worker)
    ) WITHOUT ROWID;
    CREATE TABLE blocks (
        id INTEGER PRIMARY KEY,
        height INTEGER NOT NULL,
        block_hash TEXT NOT NULL UNIQUE,
        coinbase_payee TEXT NOT NULL,
        reward INTEGER NOT NULL,
        time REAL NOT NULL,
        submit_status TEXT NOT NULL,
        user TEXT NOT NULL,
        worker TEXT NOT NULL
    );
    """,
)

_INSERT_SHARE = (
    "INSERT INTO shares (time, user, worker, channel_id, job_id, difficulty, hash_difficulty,"
    " share_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_REJECT = (
    "INSERT INTO rejects (user, worker, reason, hour, count) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (user, worker, reason, hour) DO UPDATE SET count = count + excluded.count"
)
_UPSERT_BEST = (
    "INSERT INTO worker_best (user, worker, best_difficulty, time) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (user, worker) DO UPDATE SET best_difficulty = excluded.best_difficulty,"
    " time = excluded.time WHERE excluded.best_difficulty > worker_best.best_difficulty"
)


class Store:
    """Synchronous SQLite store. Writes accumulate in an open transaction until ``commit``."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Synchronous = "NORMAL",
        check_same_thread: bool = True,
    ) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=check_same_thread
        )
        self._in_transaction = False
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal" and str(path) != ":memory:":
            raise StoreError(f"{path}: cannot switch SQLite to WAL mode (got {mode})")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._migrate()

    # -- schema -------------------------------------------------------------------------

    def _migrate(self) -> None:
        db = self._db
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = db.execute("SELECT version FROM schema_version").fetchone()
        current = 0 if row is None else int(row[0])
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {current} is newer than this program's "
                f"({SCHEMA_VERSION}); upgrade stratumv2"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _MIGRATIONS[version - 1].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("DELETE FROM schema_version")
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        """The schema version recorded in the database file."""
        return int(self._db.execute("SELECT version FROM schema_version").fetchone()[0])

    @property
    def journal_mode(self) -> str:
        """SQLite's journal mode for this database (``"wal"``)."""
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    # -- writes -------------------------------------------------------------------------

    def _begin(self) -> None:
        if not self._in_transaction:
            self._db.execute("BEGIN IMMEDIATE")
            self._in_transaction = True

    def add_shares(self, shares: Iterable[ShareRecord]) -> None:
        """Add shares to the open transaction (not durable until ``commit``)."""
        accepted: list[tuple[object, ...]] = []
        rejected: dict[tuple[str, str, str, int], int] = {}
        best: dict[tuple[str, str], tuple[float, float]] = {}
        for s in shares:
            if s.accepted:
                accepted.append(
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
                )
                reached = s.hash_difficulty if s.hash_difficulty is not None else s.difficulty
                key = (s.user, s.worker)
                if key not in best or reached > best[key][0]:
                    best[key] = (reached, s.time)
            else:
                rkey = (s.user, s.worker, s.reject_reason or "unknown", int(s.time // 3600))
                rejected[rkey] = rejected.get(rkey, 0) + 1
        self._begin()
        if accepted:
            self._db.executemany(_INSERT_SHARE, accepted)
        if rejected:
            self._db.executemany(_UPSERT_REJECT, [(*k, n) for k, n in rejected.items()])
        if best:
            self._db.executemany(_UPSERT_BEST, [(*k, d, t) for k, (d, t) in best.items()])

    def add_block(self, block: BlockRecord) -> None:
        """Add a found block to the open transaction."""
        self._begin()
        self._db.execute(
            "INSERT INTO blocks (height, block_hash, coinbase_payee, reward, time, submit_status,"
            " user, worker) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                block.height,
                block.block_hash,
                block.coinbase_payee,
                block.reward,
                block.time,
                block.submit_status,
                block.user,
                block.worker,
            ),
        )

    def set_block_status(self, block_hash: str, submit_status: str) -> None:
        """Change a found block's submit status (e.g. "accepted", "rejected: bad-txns")."""
        self._begin()
        self._db.execute(
            "UPDATE blocks SET submit_status = ? WHERE block_hash = ?", (submit_status, block_hash)
        )

    def commit(self) -> None:
        """Make everything added so far durable. Acknowledge shares only after this returns."""
        if self._in_transaction:
            self._db.execute("COMMIT")
            self._in_transaction = False

    def rollback(self) -> None:
        """Discard everything added since the last commit."""
        if self._in_transaction:
            self._db.execute("ROLLBACK")
            self._in_transaction = False

    def record_batch(
        self, shares: Sequence[ShareRecord], blocks: Sequence[BlockRecord] = ()
    ) -> None:
        """Store shares (and blocks) in one transaction and commit; then it is safe to ack."""
        try:
            self.add_shares(shares)
            for block in blocks:
                self.add_block(block)
            self.commit()
        except BaseException:
            self.rollback()
            raise

    def prune_shares(self, before: float) -> int:
        """Delete accepted shares older than ``before`` (keeps blocks, bests, reject counts)."""
        self._begin()
        count = self._db.execute("DELETE FROM shares WHERE time < ?", (before,)).rowcount
        self.commit()
        return int(count)

    def close(self) -> None:
        """Commit what is pending and close the database."""
        self.commit()
        self._db.close()

    # -- queries ------------------------------------------------------------------------

    def hashrates(
        self, now: float, window: float, *, user: str | None = None
    ) -> list[HashrateEstimate]:
        """Per-worker share counts and hashrate estimates over ``(now - window, now]``."""
        sql = (
            "SELECT user, worker, COUNT(*), TOTAL(difficulty), TOTAL(difficulty * difficulty)"
            " FROM shares WHERE time > ? AND time <= ?"
        )
        args: list[object] = [now - window, now]
        if user is not None:
            sql += " AND user = ?"
            args.append(user)
        sql += " GROUP BY user, worker ORDER BY user, worker"
        return [
            _estimate(u, w, n, total, squares, window)
            for u, w, n, total, squares in self._db.execute(sql, args)
        ]

    def total_hashrate(self, now: float, window: float) -> HashrateEstimate:
        """All workers together over ``(now - window, now]`` (user and worker are "")."""
        n, total, squares = self._db.execute(
            "SELECT COUNT(*), TOTAL(difficulty), TOTAL(difficulty * difficulty) FROM shares"
            " WHERE time > ? AND time <= ?",
            (now - window, now),
        ).fetchone()
        return _estimate("", "", n, total, squares, window)

    def shares_in_window(
        self, since: float, until: float, *, user: str | None = None, worker: str | None = None
    ) -> list[ShareRecord]:
        """Accepted shares with ``since < time <= until``, oldest first."""
        sql = (
            "SELECT time, user, worker, difficulty, channel_id, job_id, hash_difficulty,"
            " share_hash FROM shares WHERE time > ? AND time <= ?"
        )
        args: list[object] = [since, until]
        if user is not None:
            sql += " AND user = ?"
            args.append(user)
        if worker is not None:
            sql += " AND worker = ?"
            args.append(worker)
        sql += " ORDER BY time, id"
        return [
            ShareRecord(t, u, w, d, c, j, h, sh)
            for t, u, w, d, c, j, h, sh in self._db.execute(sql, args)
        ]

    def share_count(self) -> int:
        """Number of accepted shares stored."""
        return int(self._db.execute("SELECT COUNT(*) FROM shares").fetchone()[0])

    def reject_counts(
        self, since: float | None = None, *, user: str | None = None
    ) -> dict[str, int]:
        """Rejected shares by reason (counted per hour: ``since`` rounds down to its hour)."""
        sql = "SELECT reason, SUM(count) FROM rejects WHERE 1"
        args: list[object] = []
        if since is not None:
            sql += " AND hour >= ?"
            args.append(int(since // 3600))
        if user is not None:
            sql += " AND user = ?"
            args.append(user)
        sql += " GROUP BY reason ORDER BY reason"
        return {reason: int(n) for reason, n in self._db.execute(sql, args)}

    def best_difficulties(self) -> list[WorkerBest]:
        """Every worker's best share difficulty of all time, best first."""
        return [
            WorkerBest(u, w, d, t)
            for u, w, d, t in self._db.execute(
                "SELECT user, worker, best_difficulty, time FROM worker_best"
                " ORDER BY best_difficulty DESC, user, worker"
            )
        ]

    def blocks(self, limit: int = 100) -> list[BlockRecord]:
        """Found blocks, newest first."""
        return [
            BlockRecord(*row)
            for row in self._db.execute(
                "SELECT height, block_hash, coinbase_payee, reward, time, submit_status, user,"
                " worker FROM blocks ORDER BY time DESC, id DESC LIMIT ?",
                (limit,),
            )
        ]

    def pplns_window(self, total_difficulty: float, until: float | None = None) -> dict[str, float]:
        """Credited difficulty per user over the last shares whose difficulties sum to N.

        Walks back from the newest share (at or before ``until``) and stops once
        ``total_difficulty`` is reached; the oldest share included is credited only the part
        that fits, so the credits always sum to ``min(N, all stored difficulty)``.
        """
        if total_difficulty <= 0:
            return {}
        sql = "SELECT user, difficulty FROM shares"
        args: list[object] = []
        if until is not None:
            sql += " WHERE time <= ?"
            args.append(until)
        sql += " ORDER BY time DESC, id DESC"
        credits: dict[str, float] = {}
        remaining = total_difficulty
        for user, difficulty in self._db.execute(sql, args):
            take = min(float(difficulty), remaining)
            credits[user] = credits.get(user, 0.0) + take
            remaining -= take
            if remaining <= 0:
                break
        return credits


def _estimate(
    user: str, worker: str, n: int, total: float, squares: float, window: float
) -> HashrateEstimate:
    scale = HASHES_PER_DIFFICULTY_1 / window if window > 0 else 0.0
    return HashrateEstimate(
        user=user,
        worker=worker,
        shares=int(n),
        difficulty_sum=float(total),
        window=window,
        hashrate=float(total) * scale,
        hashrate_stderr=math.sqrt(float(squares)) * scale,
    )


class AsyncStore:
    """``Store`` for asyncio roles: one worker thread owns the connection; group commit.

    ``await record(share)`` returns once the share is committed; shares arriving while a
    commit is in flight are gathered into the next transaction, so the commit cost is shared
    and the share rate is not capped by the disk's fsync rate.
    """

    def __init__(self, path: str | Path, *, synchronous: Synchronous = "NORMAL") -> None:
        self._path = path
        self._synchronous: Synchronous = synchronous
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sv2-store")
        self._store: Store | None = None
        self._pending: list[tuple[ShareRecord, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def open(self) -> AsyncStore:
        """Open (and migrate) the database on the worker thread."""
        self._store = await self._run(
            lambda: Store(self._path, synchronous=self._synchronous, check_same_thread=False)
        )
        return self

    async def __aenter__(self) -> AsyncStore:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def store(self) -> Store:
        """The synchronous store (use only through ``call``)."""
        if self._store is None:
            raise StoreError("AsyncStore is not open")
        return self._store

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def call(self, fn: Callable[[Store], T]) -> T:
        """Run ``fn(store)`` on the worker thread (for queries)."""
        store = self.store
        return await self._run(lambda: fn(store))

    async def record_batch(
        self, shares: Sequence[ShareRecord], blocks: Sequence[BlockRecord] = ()
    ) -> None:
        """Store and commit; ack the shares after this returns."""
        store = self.store
        await self._run(lambda: store.record_batch(shares, blocks))

    async def record(self, share: ShareRecord) -> None:
        """Store one share with group commit; returns once it is durable."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((share, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self.record_batch([share for share, _ in batch])
            except Exception as exc:  # every waiter learns its share was not stored
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def add_block(self, block: BlockRecord) -> None:
        """Store and commit a found block."""
        await self.record_batch((), (block,))

    async def set_block_status(self, block_hash: str, submit_status: str) -> None:
        """Change a found block's submit status and commit."""
        store = self.store

        def update() -> None:
            store.set_block_status(block_hash, submit_status)
            store.commit()

        await self._run(update)

    async def close(self) -> None:
        """Flush pending shares, commit and close; stops the worker thread."""
        if self._flusher is not None:
            await self._flusher
        if self._store is not None:
            store, self._store = self._store, None
            await self._run(store.close)
        self._executor.shutdown(wait=True)
