"""The asyncio pump of ``sv2 miner``: an SV2 upstream, the worker processes, a status line.

One :class:`MinerCore` per connection (a reconnect starts a fresh one); the
:class:`~stratumv2.roles.miner.workers.WorkerPool` outlives connections and is paused while
there is no work. Worker pipes are read with the event loop's ``add_reader``, so nothing
blocks. Logs: shares accepted/rejected, ``block candidate`` for a share that meets the
network target, and every ``status_interval`` seconds a status line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from stratumv2.bitcoin.hashes import hash_to_hex
from stratumv2.net.client import Backoff, Endpoint, run_client
from stratumv2.net.pump import ConnectionClosed, Sv2Connection
from stratumv2.roles.miner.core import (
    ChannelClosed,
    ChannelOpened,
    MinerConfig,
    MinerCore,
    MinerEvent,
    SetupFailed,
    ShareRejected,
    SharesAccepted,
    Solution,
    TargetChanged,
    WorkChanged,
    WorkStopped,
)
from stratumv2.roles.miner.sv1_client import Sv1Client, Sv1ClientConfig, run_sv1_client
from stratumv2.roles.miner.workers import Found, HashesDone, WorkerPool

__all__ = ["EventSource", "HashrateMeter", "MinerService", "MinerStats", "format_hashrate"]

log = logging.getLogger("stratumv2.miner")


def format_hashrate(rate: float) -> str:
    """``1.23 MH/s`` style; below 10 H/s two decimals (a regtest CPU miner: ``0.10 H/s``)."""
    for unit, scale in (
        ("EH/s", 1e18),
        ("PH/s", 1e15),
        ("TH/s", 1e12),
        ("GH/s", 1e9),
        ("MH/s", 1e6),
        ("kH/s", 1e3),
    ):
        if rate >= scale:
            return f"{rate / scale:.2f} {unit}"
    if rate >= 10 or rate <= 0:
        return f"{rate:.0f} H/s"
    if rate >= 0.01:
        return f"{rate:.2f} H/s"
    return f"{rate:.2g} H/s"


class HashrateMeter:
    """Hashes per second over a sliding window (``now`` from the caller)."""

    def __init__(self, window: float = 30.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()
        self.total = 0
        self._started: float | None = None

    def add(self, hashes: int, now: float) -> None:
        """Record ``hashes`` done just before ``now``."""
        if self._started is None:
            self._started = now
        self.total += hashes
        self._samples.append((now, hashes))
        while self._samples and self._samples[0][0] < now - self.window:
            self._samples.popleft()

    def rate(self, now: float) -> float:
        """Hashes per second in the window ending at ``now``."""
        if self._started is None:
            return 0.0
        span = min(self.window, now - self._started)
        if span <= 0:
            return 0.0
        return sum(h for t, h in self._samples if t >= now - self.window) / span


@dataclass(slots=True)
class MinerStats:
    """What the miner did since it started (over every connection)."""

    submitted: int = 0
    accepted: int = 0
    rejected: int = 0
    blocks: int = 0
    stale_dropped: int = 0
    rejected_by_code: dict[str, int] = field(default_factory=dict)


class EventSource(Protocol):
    """What :meth:`MinerService.handle_events` reads: the SV2 core or the SV1 client."""

    def next_event(self) -> MinerEvent | None:
        """Pop the next event."""


class MinerService:
    """Mine on one SV2 upstream (with fallbacks) until cancelled or a limit is reached."""

    def __init__(
        self,
        config: MinerConfig,
        pool: WorkerPool,
        *,
        max_shares: int | None = None,
        status_interval: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.pool = pool
        self.max_shares = max_shares
        self.status_interval = status_interval
        self.clock = clock
        self.stats = MinerStats()
        self.meter = HashrateMeter()
        self.done = asyncio.Event()
        self._core: MinerCore | None = None
        self._conn: Sv2Connection | None = None
        self._block_prev_hash: bytes | None = None  # we found a block on this tip
        self._work_prev_hash: dict[int, bytes] = {}  # recent work ids -> their tip
        self._sv1: Sv1Client | None = None
        self._endpoints: list[Endpoint] = []
        self._sv1_flush: Callable[[], None] | None = None

    # ---- worker results ------------------------------------------------------------------

    def attach_workers(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read the workers' pipes from the event loop."""
        for conn in self.pool.connections:
            loop.add_reader(conn.fileno(), self._on_worker_readable, conn)

    def detach_workers(self, loop: asyncio.AbstractEventLoop) -> None:
        """Stop reading the workers' pipes."""
        for conn in self.pool.connections:
            if not conn.closed:
                loop.remove_reader(conn.fileno())

    def _on_worker_readable(self, conn: object) -> None:
        from multiprocessing.connection import Connection

        assert isinstance(conn, Connection)
        results = self.pool.read(conn)
        index = self.pool.connections.index(conn)
        if index in self.pool.dead:
            asyncio.get_running_loop().remove_reader(conn.fileno())
            log.error(
                "worker %d stopped (%d of %d alive)", index, self.pool.alive(), self.pool.size
            )
            if not self.pool.alive():
                self.done.set()
        for result in results:
            if isinstance(result, HashesDone):
                self.meter.add(result.hashes, self.clock())
            elif isinstance(result, Found):
                self.on_solution(result.solution)

    def attach_sv1(self, client: Sv1Client, flush: Callable[[], None]) -> None:
        """Route solutions to an SV1 client; ``flush`` writes what it queued."""
        self._sv1, self._sv1_flush = client, flush

    def detach_sv1(self) -> None:
        """The SV1 connection is over: no more submissions, workers pause."""
        self._sv1 = self._sv1_flush = None
        self.pool.pause()

    def _on_sv1_solution(self, client: Sv1Client, solution: Solution) -> None:
        blocks_before = client.blocks_found
        seq = client.submit(solution)
        if seq is None:
            self.stats.stale_dropped += 1
            return
        self.stats.submitted += 1
        if client.blocks_found > blocks_before:
            self._on_block(solution)
            log.warning(
                "block candidate: hash %s (job %s, nonce %08x)",
                hash_to_hex(solution.hash),
                client.work.job_id if client.work else "?",
                solution.nonce,
            )
        if self._sv1_flush is not None:
            self._sv1_flush()

    def _on_block(self, solution: Solution) -> None:
        """Stop mining on a tip where we found a block until the upstream moves on."""
        self.stats.blocks += 1
        work = self.pool.work
        if work is not None and work.work_id == solution.work_id:
            self._block_prev_hash = work.prev_hash
            self.pool.pause()

    def on_solution(self, solution: Solution) -> None:
        """Submit a worker's solution on the current connection (if still current).

        Once we found a block on a tip, what the other workers still find on it is dropped:
        it could only compete with our own block.
        """
        tip = self._work_prev_hash.get(solution.work_id)
        if tip is not None and tip == self._block_prev_hash:
            self.stats.stale_dropped += 1
            return
        if self._sv1 is not None:
            self._on_sv1_solution(self._sv1, solution)
            return
        core, conn = self._core, self._conn
        if core is None or conn is None:
            self.stats.stale_dropped += 1
            return
        blocks_before = core.blocks_found
        share = core.submit(solution)
        if share is None:
            self.stats.stale_dropped += 1
            return
        self.stats.submitted += 1
        if core.blocks_found > blocks_before:
            self._on_block(solution)
            log.warning(
                "block candidate: hash %s (job %d, nonce %08x)",
                hash_to_hex(solution.hash),
                share.job_id,
                share.nonce,
            )
        with contextlib.suppress(ConnectionClosed):
            conn.send_nowait(share)

    # ---- one connection ------------------------------------------------------------------

    async def session(self, conn: Sv2Connection) -> None:
        """Mine on one connected upstream until it closes or refuses us."""
        core = MinerCore(self.config)
        self._core, self._conn = core, conn
        try:
            for message in core.start():
                await conn.send(message)
            async for message in conn:
                for reply in core.on_message(message, self.clock()):
                    await conn.send(reply)
                if not self.handle_events(core, conn.peer_text):
                    return
                if core.reconnect_to is not None:
                    self._redirect(core.reconnect_to, conn)
                    return
        finally:
            self._core = self._conn = None
            self.pool.pause()

    def _redirect(self, target: tuple[str, int], conn: Sv2Connection) -> None:
        """``Reconnect``: put the new address first (empty host / port 0: keep the current)."""
        host, port = str(conn.peer[0]), int(conn.peer[1])
        current = next(
            (e for e in self._endpoints if (e.host, e.port) == (host, port)),
            self._endpoints[0] if self._endpoints else None,
        )
        new = Endpoint(target[0] or host, target[1] or port, current.authority if current else None)
        log.info("%s asks us to reconnect to %s", conn.peer_text, new)
        self._endpoints[:] = [new] + [e for e in self._endpoints if e != new]

    def handle_events(self, core: EventSource, peer: str) -> bool:
        """Act on the core's events; False when this connection is over."""
        while (event := core.next_event()) is not None:
            if isinstance(event, WorkChanged):
                self._work_prev_hash[event.work.work_id] = event.work.prev_hash
                while len(self._work_prev_hash) > 256:
                    del self._work_prev_hash[next(iter(self._work_prev_hash))]
                if event.work.prev_hash == self._block_prev_hash:
                    continue  # we found a block on this tip already: wait for the next one
                self._block_prev_hash = None
                self.pool.set_work(event.work)
                log.debug("new work: job %s (clean=%s)", event.work.job_id, event.clean)
            elif isinstance(event, WorkStopped):
                self.pool.pause()
                log.warning("no work from %s: %s", peer, event.reason)
            elif isinstance(event, TargetChanged):
                self.pool.set_target(event.target)
                log.info("new target from %s: %064x", peer, event.target)
            elif isinstance(event, SharesAccepted):
                self.stats.accepted += event.count
                log.info(
                    "shares accepted: +%d (total %d, rejected %d)",
                    event.count,
                    self.stats.accepted,
                    self.stats.rejected,
                )
                if self.max_shares is not None and self.stats.accepted >= self.max_shares:
                    self.done.set()
            elif isinstance(event, ShareRejected):
                self.stats.rejected += 1
                codes = self.stats.rejected_by_code
                codes[event.error_code] = codes.get(event.error_code, 0) + 1
                log.warning("share %d rejected: %s", event.sequence_number, event.error_code)
            elif isinstance(event, ChannelOpened):
                log.info(
                    "%s channel %d open on %s (target %064x, extranonce prefix %s, %d rollable)",
                    self.config.channel,
                    event.channel_id,
                    peer,
                    event.target,
                    event.extranonce_prefix.hex(),
                    event.extranonce_size,
                )
            elif isinstance(event, SetupFailed):
                log.error("%s refused SetupConnection: %s", peer, event.error_code)
                return False
            elif isinstance(event, ChannelClosed):
                log.error("%s closed the channel: %s", peer, event.reason)
                return False
        return True

    # ---- the whole run -------------------------------------------------------------------

    def status_line(self) -> str:
        """Hashrate and share counts, for the periodic log line."""
        s = self.stats
        line = (
            f"status: {format_hashrate(self.meter.rate(self.clock()))}"
            f" ({self.pool.size} workers), accepted {s.accepted}, rejected {s.rejected},"
            f" blocks {s.blocks}"
        )
        if s.rejected_by_code:
            line += " (" + ", ".join(f"{k}: {v}" for k, v in s.rejected_by_code.items()) + ")"
        return line

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(self.status_interval)
            log.info("%s", self.status_line())

    async def run(
        self,
        endpoints: Sequence[Endpoint],
        *,
        duration: float | None = None,
        backoff: Backoff | None = None,
    ) -> MinerStats:
        """Mine until ``duration`` seconds passed, ``max_shares`` were accepted, or cancelled.

        ``endpoints`` are tried in order; a ``Reconnect`` from the upstream puts its address
        first (with the same authority key).
        """
        self._endpoints = list(endpoints)
        return await self.run_client(
            run_client(self._endpoints, self.session, backoff=backoff), duration=duration
        )

    async def run_sv1(
        self,
        host: str,
        port: int,
        config: Sv1ClientConfig,
        *,
        duration: float | None = None,
        backoff: Backoff | None = None,
    ) -> MinerStats:
        """Mine on an SV1 endpoint (plain TCP JSON lines), like :meth:`run`."""
        return await self.run_client(
            run_sv1_client(self, host, port, config, backoff=backoff), duration=duration
        )

    async def run_client(
        self, client_coro: Coroutine[Any, Any, None], *, duration: float | None = None
    ) -> MinerStats:
        """Run ``client_coro`` (the upstream connection loop) with the workers and a status line."""
        loop = asyncio.get_running_loop()
        self.attach_workers(loop)
        client = asyncio.create_task(client_coro)
        done = asyncio.create_task(self.done.wait())
        tasks = [client, done, asyncio.create_task(self._status_loop())]
        try:
            async with asyncio.timeout(duration):
                await asyncio.wait([client, done], return_when=asyncio.FIRST_COMPLETED)
            if client.done():
                client.result()  # the client only ends by an error: raise it
        except TimeoutError:
            log.info("stopping after %.0f s", duration)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.detach_workers(loop)
            log.info("%s", self.status_line())
        return self.stats
