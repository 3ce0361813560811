"""What the dashboard, the JSON API, /metrics and the terminal status line show.

:class:`Monitor` watches a running bundle without getting in its way:

* every share batch and block the pool commits passes through :class:`ObservedStore` (an
  :class:`~stratumv2.app.store.AsyncStore` whose ``record_batch`` tells the monitor after the
  commit), so session counters, best difficulties, last-seen times and block notifications
  cost nothing on the share path;
* a found block is checked with the node (``getblockheader`` until it appears, then
  ``getblock`` for its transaction count): ``accepted`` means the node holds it;
* :meth:`Monitor.poll` (every couple of seconds) reads the live connections' byte counters,
  the template provider's node state and the workers' silence.

Snapshots are plain dicts ready for JSON.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from stratumv2.app.notify import Notifier, best_difficulty, block_found, upstream_failover
from stratumv2.app.notify import worker_offline as worker_offline_note
from stratumv2.app.store import AsyncStore, BlockRecord, ShareRecord, Store
from stratumv2.bitcoin.target import DIFF1_TARGET
from stratumv2.net.rpc import BitcoinRpc

__all__ = [
    "BlockInfo",
    "ConnectionLike",
    "Monitor",
    "ObservedStore",
    "WorkerSession",
    "hashrate_series",
    "reached_difficulty",
]

log = logging.getLogger("stratumv2.monitor")

HOUR = 3600.0
DAY = 24 * HOUR


class ConnectionLike(Protocol):
    """A live connection: SV2 (``Sv2Connection``) or SV1 (``Sv1Connection``)."""

    @property
    def peer_text(self) -> str:
        """``host:port`` of the peer."""

    @property
    def bytes_in(self) -> int:
        """Bytes received."""

    @property
    def bytes_out(self) -> int:
        """Bytes sent."""


@dataclass(slots=True)
class WorkerSession:
    """One worker's counters since this process started."""

    user: str
    worker: str
    accepted: int = 0
    rejected: int = 0
    difficulty_sum: float = 0.0
    best: float = 0.0
    last_share: float = 0.0
    offline_notified: bool = False

    @property
    def name(self) -> str:
        """``user.worker`` (or the user alone)."""
        return f"{self.user}.{self.worker}" if self.worker else self.user


@dataclass(slots=True)
class BlockInfo:
    """What the node said about a found block."""

    record: BlockRecord
    accepted: bool | None = None
    """True: in the node's best chain; False: unknown to the node, or stale."""
    node_status: str = "checking"
    """``accepted``, ``stale`` (valid, not on the best chain), ``unknown`` or ``checking``."""
    tx_count: int | None = None
    checked_at: float | None = None


@dataclass(slots=True)
class _Totals:
    shares_accepted: int = 0
    shares_rejected: dict[str, int] = field(default_factory=dict)
    blocks_found: int = 0
    blocks_accepted: int = 0
    connections_opened: dict[str, int] = field(default_factory=dict)
    closed_bytes: dict[tuple[str, str], int] = field(default_factory=dict)


def reached_difficulty(share: ShareRecord) -> float:
    """The difficulty a share's hash reached (its credited difficulty when unknown)."""
    best = share.hash_difficulty if share.hash_difficulty is not None else share.difficulty
    if share.share_hash:
        value = int.from_bytes(share.share_hash, "little")
        if value:
            best = max(best, DIFF1_TARGET / value)
    return best


class _ObservedSqlStore(Store):
    """A :class:`Store` that reports each committed batch to a callback."""

    on_commit: Callable[[Sequence[ShareRecord], Sequence[BlockRecord]], None] | None = None

    def record_batch(
        self, shares: Sequence[ShareRecord], blocks: Sequence[BlockRecord] = ()
    ) -> None:
        """Store and commit (as :meth:`Store.record_batch`), then report."""
        super().record_batch(shares, blocks)
        if self.on_commit is not None:
            self.on_commit(shares, blocks)


class ObservedStore(AsyncStore):
    """An :class:`AsyncStore` that tells a :class:`Monitor` what it committed.

    The hook sits in the synchronous store's ``record_batch`` (every share batch and block
    goes through it, whichever way the pool calls the store) and hands the records to the
    event loop, so the monitor runs on the loop's thread after the commit.
    """

    monitor: Monitor | None = None

    async def open(self) -> ObservedStore:
        """Open (and migrate) the database on the worker thread."""
        loop = asyncio.get_running_loop()
        path, synchronous = self._path, self._synchronous

        def make() -> Store:
            store = _ObservedSqlStore(path, synchronous=synchronous, check_same_thread=False)

            def committed(shares: Sequence[ShareRecord], blocks: Sequence[BlockRecord]) -> None:
                loop.call_soon_threadsafe(self._committed, list(shares), list(blocks))

            store.on_commit = committed
            return store

        self._store = await self._run(make)
        return self

    def _committed(self, shares: list[ShareRecord], blocks: list[BlockRecord]) -> None:
        if self.monitor is not None:
            self.monitor.on_records(shares, blocks)


class Monitor:
    """Live state of a bundle for the dashboard, API, metrics and terminal."""

    def __init__(
        self,
        store: AsyncStore,
        *,
        network: str,
        payout_address: str | None = None,
        rpc: BitcoinRpc | None = None,
        notifier: Notifier | None = None,
        worker_offline_after: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.network = network
        self.payout_address = payout_address
        self.rpc = rpc
        self.notifier = notifier
        self.worker_offline_after = worker_offline_after
        self.clock = clock
        self.started = clock()
        self.info: dict[str, Any] = {}
        """Static facts shown on the dashboard (stratum URLs, authority key, version...)."""
        self.workers: dict[tuple[str, str], WorkerSession] = {}
        self.all_time_best: dict[tuple[str, str], float] = {}
        self.blocks: list[BlockInfo] = []
        self.block_listeners: list[Callable[[BlockInfo], None]] = []
        self.totals = _Totals()
        self.tp: Any = None
        """The running ``TemplateProviderService`` (current template, node state)."""
        self._live: dict[int, tuple[str, ConnectionLike]] = {}
        self._blocks_before = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._node_ok: bool | None = None
        self._poller: asyncio.Task[None] | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self, poll_interval: float = 2.0) -> None:
        """Load all-time bests and recent blocks from the store; poll in the background."""
        bests = await self.store.call(lambda s: s.best_difficulties())
        self.all_time_best = {(b.user, b.worker): b.best_difficulty for b in bests}
        self._blocks_before = len(await self.store.call(lambda s: s.blocks(10_000_000)))
        self._poller = asyncio.create_task(self._poll_loop(poll_interval))

    async def close(self) -> None:
        """Stop polling and checking blocks."""
        tasks = [t for t in (self._poller, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _poll_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.poll()
            except Exception:  # the monitor must never stop the bundle
                log.exception("monitor poll failed")

    # ---- observations ----------------------------------------------------------------------

    def on_records(self, shares: Sequence[ShareRecord], blocks: Sequence[BlockRecord]) -> None:
        """Shares and blocks the pool just committed."""
        totals = self.totals
        for share in shares:
            key = (share.user, share.worker)
            session = self.workers.get(key)
            if session is None:
                session = self.workers[key] = WorkerSession(share.user, share.worker)
            session.last_share = max(session.last_share, share.time)
            session.offline_notified = False
            if not share.accepted:
                session.rejected += 1
                reason = share.reject_reason or "unknown"
                totals.shares_rejected[reason] = totals.shares_rejected.get(reason, 0) + 1
                continue
            session.accepted += 1
            session.difficulty_sum += share.difficulty
            totals.shares_accepted += 1
            reached = reached_difficulty(share)
            session.best = max(session.best, reached)
            previous = self.all_time_best.get(key, 0.0)
            if reached > previous:
                self.all_time_best[key] = reached
                if previous > 0 and self.notifier is not None:
                    self.notifier.notify(best_difficulty(session.name, reached, previous))
        for block in blocks:
            totals.blocks_found += 1
            info = BlockInfo(block)
            self.blocks.append(info)
            del self.blocks[:-100]
            if self.notifier is not None:
                worker = f"{block.user}.{block.worker}" if block.worker else block.user
                self.notifier.notify(
                    block_found(block.height, block.block_hash, worker, block.coinbase_payee)
                )
            self._spawn(self._check_block(info))

    def _spawn(self, coro: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:  # no loop (a unit test feeding records by hand)
            coro.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _check_block(self, info: BlockInfo, timeout: float = 15.0) -> None:
        """Ask the node whether it holds the block; then tell the listeners."""
        if self.rpc is not None:
            deadline = self.clock() + timeout
            while info.accepted is None:
                try:
                    block = await self.rpc.call("getblock", info.record.block_hash, 1)
                except Exception:
                    if await self._lost_the_race(info):
                        info.accepted = False
                        info.node_status = "stale"
                        break
                    if self.clock() > deadline:
                        info.accepted = False
                        info.node_status = "unknown"
                        break
                    await asyncio.sleep(0.2)
                    continue
                info.accepted = int(block.get("confirmations", 0)) >= 1
                info.node_status = "accepted" if info.accepted else "stale"
                info.tx_count = int(block.get("nTx", len(block.get("tx", []))))
            info.checked_at = self.clock()
            if info.accepted:
                self.totals.blocks_accepted += 1
        for listener in self.block_listeners:
            try:
                listener(info)
            except Exception:
                log.exception("block listener failed")

    async def _lost_the_race(self, info: BlockInfo) -> bool:
        """The node holds another block at this block's height (ours came second)."""
        height = info.record.height
        if self.rpc is None or height <= 0:
            return False
        try:
            best_at_height = await self.rpc.call("getblockhash", height)
        except Exception:
            return False
        return isinstance(best_at_height, str) and best_at_height != info.record.block_hash

    def poll(self) -> None:
        """Worker silence and upstream state (call every few seconds)."""
        now = self.clock()
        for session in self.workers.values():
            silent = now - session.last_share
            if silent > self.worker_offline_after and not session.offline_notified:
                session.offline_notified = True
                if self.notifier is not None:
                    self.notifier.notify(worker_offline_note(session.name, silent))
        node = getattr(self.tp, "node", None)
        if node is not None and node.ok is not None and node.ok != self._node_ok:
            if node.ok is False and self._node_ok is True and self.notifier is not None:
                self.notifier.notify(upstream_failover(node.url, "(waiting)", node.reason))
            self._node_ok = node.ok

    # ---- device connections ----------------------------------------------------------------

    def connection_opened(self, protocol: str, conn: ConnectionLike) -> None:
        """A device connection started (``protocol`` is ``sv1`` or ``sv2``)."""
        totals = self.totals
        totals.connections_opened[protocol] = totals.connections_opened.get(protocol, 0) + 1
        self._live[id(conn)] = (protocol, conn)

    def connection_closed(self, conn: ConnectionLike) -> None:
        """A device connection ended: its bytes move to the closed totals."""
        entry = self._live.pop(id(conn), None)
        if entry is None:
            return
        protocol = entry[0]
        closed = self.totals.closed_bytes
        for direction, value in (("in", conn.bytes_in), ("out", conn.bytes_out)):
            closed[(protocol, direction)] = closed.get((protocol, direction), 0) + value

    def track_server(self, protocol: str, server: Any) -> None:
        """Count the device connections a server (``Sv2Server``/``Sv1Server``) hands over.

        Wraps ``server.handler``; in-process links (peer host ``memory``) are not devices.
        """
        handler = server.handler

        async def tracked(conn: Any) -> None:
            peer = getattr(conn, "peer", None)
            if peer and peer[0] == "memory":
                await handler(conn)
                return
            self.connection_opened(protocol, conn)
            try:
                await handler(conn)
            finally:
                self.connection_closed(conn)

        server.handler = tracked

    def _live_connections(self) -> list[tuple[str, ConnectionLike]]:
        return list(self._live.values())

    # ---- snapshots -------------------------------------------------------------------------

    def bytes_total(self) -> dict[tuple[str, str], int]:
        """Bytes by (protocol, direction) over every connection so far (live and closed)."""
        out = dict(self.totals.closed_bytes)
        for protocol, conn in self._live.values():
            for direction, value in (("in", conn.bytes_in), ("out", conn.bytes_out)):
                out[(protocol, direction)] = out.get((protocol, direction), 0) + value
        return out

    def connections(self) -> list[dict[str, Any]]:
        """Live device connections: protocol, peer, bytes in and out."""
        return [
            {
                "protocol": proto,
                "peer": conn.peer_text,
                "bytes_in": conn.bytes_in,
                "bytes_out": conn.bytes_out,
            }
            for proto, conn in self._live_connections()
        ]

    def template(self) -> dict[str, Any] | None:
        """The current template: height, fees, transaction count, who the coinbase pays."""
        core = getattr(self.tp, "core", None)
        current = getattr(core, "current", None)
        if current is None:
            return None
        return {
            "height": current.height,
            "prev_hash": current.prev_hash[::-1].hex(),
            "fees": current.total_fees,
            "tx_count": len(current.transactions),
            "weight": current.total_weight,
            "coinbase_value": current.coinbase_value,
            "pays": self.payout_address,
            "bits": f"{current.bits:08x}",
        }

    def height(self) -> int | None:
        """The height being mined (the template's), if known."""
        template = self.template()
        return None if template is None else int(template["height"])

    async def worker_stats(self) -> list[dict[str, Any]]:
        """Per worker: hashrate (1 h, 24 h) with its standard error, shares, bests."""
        now = self.clock()

        def query(store: Store) -> tuple[Any, Any]:
            hour, day = self._windows(store, now, HOUR, DAY)
            return store.hashrates(now, hour), store.hashrates(now, day)

        hour, day = await self.store.call(query)
        rows: dict[tuple[str, str], dict[str, Any]] = {}

        def row(user: str, worker: str) -> dict[str, Any]:
            key = (user, worker)
            if key not in rows:
                rows[key] = {
                    "user": user,
                    "worker": worker,
                    "name": f"{user}.{worker}" if worker else user,
                    "hashrate_1h": 0.0,
                    "hashrate_1h_stderr": 0.0,
                    "shares_1h": 0,
                    "hashrate_24h": 0.0,
                    "hashrate_24h_stderr": 0.0,
                    "shares_24h": 0,
                    "accepted": 0,
                    "rejected": 0,
                    "best_session": 0.0,
                    "best_all_time": self.all_time_best.get(key, 0.0),
                    "last_share": None,
                }
            return rows[key]

        for label, estimates in (("1h", hour), ("24h", day)):
            for e in estimates:
                r = row(e.user, e.worker)
                r[f"hashrate_{label}"] = e.hashrate
                r[f"hashrate_{label}_stderr"] = e.hashrate_stderr
                r[f"shares_{label}"] = e.shares
        for key, session in self.workers.items():
            r = row(*key)
            r["accepted"] = session.accepted
            r["rejected"] = session.rejected
            r["best_session"] = session.best
            r["last_share"] = session.last_share or None
        return sorted(rows.values(), key=lambda r: str(r["name"]))

    def _windows(self, store: Store, now: float, *windows: float) -> list[float]:
        """The spans to average over: a window that reaches back before this run's start
        and holds no share from before it is cut to the run's uptime (hashes were done only
        since the start), so a fresh run is not diluted by empty time."""
        uptime = max(now - self.started, 1.0)
        out = []
        for window in windows:
            if uptime < window and store.total_hashrate(self.started, window - uptime).shares == 0:
                window = uptime
            out.append(window)
        return out

    async def history(self, window: float = HOUR, buckets: int = 30) -> list[dict[str, float]]:
        """Total hashrate over the last ``window`` in ``buckets`` steps (for the chart)."""
        now = self.clock()
        shares = await self.store.call(lambda s: s.shares_in_window(now - window, now))
        return hashrate_series(shares, now, window, buckets)

    async def block_list(self, limit: int = 50) -> list[dict[str, Any]]:
        """Found blocks, newest first (from the store), with what the node said."""
        records = await self.store.call(lambda s: s.blocks(limit))
        known = {info.record.block_hash: info for info in self.blocks}
        out = []
        for record in records:
            info = known.get(record.block_hash)
            out.append(
                {
                    "height": record.height,
                    "hash": record.block_hash,
                    "pays": record.coinbase_payee,
                    "reward": record.reward,
                    "time": record.time,
                    "worker": f"{record.user}.{record.worker}" if record.worker else record.user,
                    "accepted": None if info is None else info.accepted,
                    "node_status": "unchecked" if info is None else info.node_status,
                    "tx_count": None if info is None else info.tx_count,
                }
            )
        return out

    async def status(self) -> dict[str, Any]:
        """The headline numbers."""
        now = self.clock()

        def query(store: Store) -> tuple[Any, Any, Any, dict[str, int]]:
            rejects = store.reject_counts(now - DAY)
            ten, hour = self._windows(store, now, 600.0, HOUR)
            run = min(600.0, max(now - self.started, 1.0))
            return (
                store.total_hashrate(now, ten),
                store.total_hashrate(now, hour),
                store.total_hashrate(now, run),
                rejects,
            )

        ten, hour, run, rejects_24h = await self.store.call(query)
        blocks_all = self._blocks_before + self.totals.blocks_found
        totals = self.totals
        accepted = [b for b in self.blocks if b.accepted]
        last = accepted[-1] if accepted else (self.blocks[-1] if self.blocks else None)
        return {
            "network": self.network,
            "uptime": now - self.started,
            "height": self.height(),
            "hashrate_10m": ten.hashrate,
            "hashrate_10m_stderr": ten.hashrate_stderr,
            "hashrate_1h": hour.hashrate,
            "hashrate_1h_stderr": hour.hashrate_stderr,
            "hashrate_run": run.hashrate,
            "hashrate_run_window": run.window,
            "shares_accepted": totals.shares_accepted,
            "shares_rejected": sum(totals.shares_rejected.values()),
            "rejected_by_reason": dict(sorted(totals.shares_rejected.items())),
            "rejected_by_reason_24h": rejects_24h,
            "blocks_found": totals.blocks_found,
            "blocks_accepted": totals.blocks_accepted,
            "blocks_all_time": blocks_all,
            "last_block": None
            if last is None
            else {
                "height": last.record.height,
                "hash": last.record.block_hash,
                "pays": last.record.coinbase_payee,
                "tx_count": last.tx_count,
                "accepted": last.accepted,
            },
            "connections": {
                proto: sum(1 for p, _ in self._live_connections() if p == proto)
                for proto in ("sv1", "sv2")
            },
            "node_ok": getattr(getattr(self.tp, "node", None), "ok", None),
            "info": self.info,
        }


def hashrate_series(
    shares: Sequence[ShareRecord], now: float, window: float, buckets: int
) -> list[dict[str, float]]:
    """Total hashrate per time bucket over ``(now - window, now]`` with its standard error."""
    width = window / buckets
    sums = [0.0] * buckets
    squares = [0.0] * buckets
    start = now - window
    for share in shares:
        index = int((share.time - start) // width)
        if 0 <= index < buckets:
            sums[index] += share.difficulty
            squares[index] += share.difficulty * share.difficulty
    scale = 2**32 / width
    return [
        {
            "time": start + (i + 1) * width,
            "hashrate": sums[i] * scale,
            "stderr": squares[i] ** 0.5 * scale,
        }
        for i in range(buckets)
    ]
