"""The asyncio pump around :class:`~stratumv2.roles.pool.core.PoolCore`.

It feeds the core with the Template Provider's events, the miners' messages and a 1 s tick,
and carries out the actions the core returns, in order:

* messages are encrypted and written at once (``send_nowait``); a connection whose unsent
  bytes pass ``max_write_backlog`` (a peer that does not read) is closed;
* ``SubmitBlock``: the solution goes to the TP before anything else is done;
* ``StoreShares``: records are group-committed on the store's thread -- everything that
  arrived while the previous commit ran goes into the next one -- and the
  ``SubmitShares.Success`` of a batch is written only after its commit returned;
* ``Disconnect``: the peer is logged with its address and the connection closed.

The ``--listen`` port tells SV1 from SV2 by a connection's first bytes
(:mod:`stratumv2.net.mux`): SV2 goes to the pool's SV2 server, SV1 to
:attr:`PoolService.sv1_handler` once a translator is plugged in (until then it is closed);
:meth:`PoolService.serve_accepted` is the same hook for a listener of one's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

from stratumv2.app.store import AsyncStore, BlockRecord, ShareRecord, Store
from stratumv2.mining.errors import MiningError
from stratumv2.net.limits import Limits
from stratumv2.net.mux import MuxServer, classify, serve_mux, sv2_transport_handler
from stratumv2.net.pump import ConnectionClosed, Sv2Connection
from stratumv2.net.server import Sv2Server
from stratumv2.noise import Keypair, ResponderIdentity
from stratumv2.protocol import Message, NewTemplate, SetNewPrevHashTd, SubmitSharesSuccess
from stratumv2.roles.pool.core import (
    Action,
    Disconnect,
    PoolCore,
    RecordBlock,
    ShareRow,
    StoreShares,
    SubmitBlock,
)
from stratumv2.roles.template_provider.client import (
    TdConnected,
    TdDisconnected,
    TemplateDistributionClient,
)

__all__ = ["PoolService", "Sv1Handler"]

log = logging.getLogger("stratumv2.pool")

Sv1Handler = Callable[[asyncio.Transport, bytes], None]
"""Takes over an accepted connection whose first bytes are an SV1 JSON line."""


class PoolService:
    """Runs a :class:`PoolCore` against a TD client, a share store and SV2 servers.

    ``td`` may be None (a test drives ``on_td_event`` itself); ``store`` None acknowledges
    shares without storing them.
    """

    def __init__(
        self,
        core: PoolCore,
        authority: Keypair | ResponderIdentity,
        *,
        td: TemplateDistributionClient | None = None,
        store: AsyncStore | None = None,
        limits: Limits | None = None,
        max_write_backlog: int = 4 << 20,
        tick_interval: float = 1.0,
    ) -> None:
        self.core = core
        self.td = td
        self.store = store
        self.limits = limits or Limits()
        self.max_write_backlog = max_write_backlog
        self.tick_interval = tick_interval
        self.server = Sv2Server(self.serve_connection, authority, self.limits, name="pool")
        self.sv1_handler: Sv1Handler | None = None
        self.connections: dict[int, Sv2Connection] = {}
        self._ids = itertools.count(1)
        self._mux: MuxServer | None = None
        self._sv2_handler = sv2_transport_handler(self.server)
        self._tasks: list[asyncio.Task[Any]] = []
        self._pending_records: list[ShareRow] = []
        self._pending_blocks: list[BlockRecord] = []
        self._pending_acks: list[tuple[int, SubmitSharesSuccess]] = []
        self._store_wakeup = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        """Set at the first ``SetNewPrevHash`` (the pool can open channels from then on)."""
        self.last_fanout: float | None = None
        """Seconds the last ``SetNewPrevHash`` took, from TP event to the last write."""
        self.last_fanout_cpu: float | None = None
        """The same in CPU seconds of the event-loop thread (load-independent)."""
        self.blocks_submitted = 0

    # ---- lifecycle ----------------------------------------------------------------------

    @property
    def authority_public_key(self) -> str:
        """The authority public key (SRI base58check text) miners configure."""
        return self.server.authority_public_key

    async def start(
        self, sv2_listen: tuple[str, int] | None, listen: tuple[str, int] | None = None
    ) -> list[tuple[str, int]]:
        """Listen (SV2-only port, and the SV1/SV2 port); start the TD, tick and store loops.

        Returns the bound ``(host, port)`` of ``sv2_listen`` then ``listen`` (when given).
        """
        bound: list[tuple[str, int]] = []
        if sv2_listen is not None:
            await self.server.start(sv2_listen[0], sv2_listen[1])
            bound.append(self.server.sockets[0])
        else:
            self.server.identity.certificate(time.time())
        if listen is not None:
            self._mux = await serve_mux(
                listen[0], listen[1], self._serve_sv1, self._sv2_handler, self.limits
            )
            bound.append(self._mux.sockets[0])
        self._writer = asyncio.create_task(self._store_writer(), name="pool-store")
        self._tasks.append(asyncio.create_task(self._ticker(), name="pool-tick"))
        if self.td is not None:
            self.td.start()
            self._tasks.append(asyncio.create_task(self._follow_td(), name="pool-td"))
        return bound

    async def close(self) -> None:
        """Stop listening, close connections, flush the store."""
        if self._mux is not None:
            await self._mux.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.server.close()
        if self.td is not None:
            await self.td.close()
        if self._writer is not None:
            self._store_wakeup.set()
            await asyncio.sleep(0)
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        await self._commit_pending()

    # ---- the --listen port: SV1 or SV2 by the first bytes ------------------------------

    def serve_accepted(self, transport: asyncio.Transport, first: bytes) -> None:
        """Serve one accepted connection given its first bytes (SV2 now, SV1 via the hook).

        ``first`` must be enough to decide (:func:`stratumv2.net.mux.classify`); the
        ``--listen`` port calls this through :func:`stratumv2.net.mux.serve_mux`.
        """
        if classify(first) == "sv1":
            self._serve_sv1(transport, first)
        else:
            self._sv2_handler(transport, first)

    def _serve_sv1(self, transport: asyncio.Transport, first: bytes) -> None:
        if self.sv1_handler is not None:
            self.sv1_handler(transport, first)
            return
        peer = transport.get_extra_info("peername")
        log.warning("%s: SV1 device on the pool port but no translator is attached; closing", peer)
        transport.close()

    # ---- Template Distribution -----------------------------------------------------------

    async def _follow_td(self) -> None:
        assert self.td is not None
        async for event in self.td.events():
            await self.on_td_event(event)

    async def on_td_event(self, event: object) -> None:
        """One event from the TD client (templates, tips, connection changes)."""
        now = time.time()
        try:
            if isinstance(event, NewTemplate):
                await self._execute(self.core.on_new_template(event, now))
            elif isinstance(event, SetNewPrevHashTd):
                started, cpu = time.perf_counter(), time.thread_time()
                await self._execute(self.core.on_set_new_prev_hash(event, now))
                self.last_fanout = time.perf_counter() - started
                self.last_fanout_cpu = time.thread_time() - cpu
                await self._execute(self.core.activate_pending(now))
                self.ready.set()
            elif isinstance(event, TdConnected):
                self.core.on_td_reset()
            elif isinstance(event, TdDisconnected):
                log.warning("template provider unreachable: %s", event.reason)
        except (MiningError, ValueError) as exc:
            log.error("cannot use %s from the TP: %s", type(event).__name__, exc)

    async def set_extranonce_prefix(self, conn_id: int, channel_id: int) -> None:
        """Give a channel a new extranonce prefix now (operator action; the messages are
        :meth:`PoolCore.set_extranonce_prefix`'s: ``SetExtranoncePrefix``, then a job)."""
        await self._execute(self.core.set_extranonce_prefix(conn_id, channel_id, time.time()))

    # ---- miners --------------------------------------------------------------------------

    async def serve_connection(self, conn: Sv2Connection) -> None:
        """Handler for one SV2 connection (after its Noise handshake)."""
        conn_id = next(self._ids)
        self.connections[conn_id] = conn
        core = self.core
        core.connection_made(conn_id, conn.peer_text, time.time())
        log.debug("miner %s connected (conn %d)", conn.peer_text, conn_id)
        try:
            try:  # the first message must come soon (an SV1 device on the SV2 port never sends)
                first = await asyncio.wait_for(conn.recv(), self.limits.handshake_timeout)
            except TimeoutError:
                conn.fail(f"no SetupConnection within {self.limits.handshake_timeout:g} s")
                return
            await self._execute(core.on_connection_message(conn_id, first, time.time()))
            recv, handle, clock = conn.recv, core.on_connection_message, time.time
            while not conn.is_closed:
                try:
                    message = await recv()
                except ConnectionClosed:
                    break
                actions = handle(conn_id, message, clock())
                if actions:
                    await self._execute(actions)
        finally:
            self.connections.pop(conn_id, None)
            await self._execute(core.connection_lost(conn_id, time.time()))
            log.debug("miner %s gone: %s", conn.peer_text, conn.close_reason)

    async def _execute(self, actions: list[Action]) -> None:
        connections = self.connections
        dirty: dict[int, Sv2Connection] = {}  # one socket write per connection, not per message
        for action in actions:
            if type(action) is tuple:
                conn = connections.get(action[0])
                if conn is not None and not conn.is_closed:
                    if len(action) == 2:
                        conn.core.send(action[1])
                    else:
                        conn.core.send_frame(action[1], action[2])
                    dirty[action[0]] = conn
                continue
            if dirty:  # keep the order: what came before goes out first
                self._flush(dirty)
                dirty = {}
            if isinstance(action, SubmitBlock):
                await self._submit_block(action)
            elif isinstance(action, RecordBlock):
                self._record_block(action.record)
            elif isinstance(action, StoreShares):
                self._store(action)
            elif isinstance(action, Disconnect):
                conn = connections.get(action.conn_id)
                if conn is not None:
                    conn.fail(action.reason)
        if dirty:
            self._flush(dirty)

    def _flush(self, dirty: dict[int, Sv2Connection]) -> None:
        limit = self.max_write_backlog
        for conn in dirty.values():
            if conn.write_queued() > limit:
                conn.fail(f"not reading: over {limit} bytes unsent")

    def _write(self, conn: Sv2Connection, message: Message) -> None:
        if conn.is_closed:
            return
        try:
            conn.send_nowait(message)
        except ConnectionClosed:
            return
        if conn.write_backlog > self.max_write_backlog:
            conn.fail(f"not reading: over {self.max_write_backlog} bytes unsent")

    async def _submit_block(self, block: SubmitBlock) -> None:
        record = block.record
        if self.td is not None:
            await self.td.submit_solution(block.solution)
        self.blocks_submitted += 1
        self._record_block(record)

    def _record_block(self, record: BlockRecord) -> None:
        who = f"{record.user}.{record.worker}" if record.worker else record.user
        log.info(
            "BLOCK FOUND at height %d: %s by %s (paid to %s)",
            record.height,
            record.block_hash,
            who,
            record.coinbase_payee,
        )
        self._pending_blocks.append(record)
        self._store_wakeup.set()

    # ---- storage: group commit, then acks ------------------------------------------------

    def _store(self, action: StoreShares) -> None:
        if self.store is None:
            for conn_id, ack in action.acks:
                conn = self.connections.get(conn_id)
                if conn is not None:
                    self._write(conn, ack)
            return
        self._pending_records.extend(action.records)
        self._pending_acks.extend(action.acks)
        self._store_wakeup.set()

    async def _store_writer(self) -> None:
        while True:
            await self._store_wakeup.wait()
            self._store_wakeup.clear()
            await self._commit_pending()

    async def _commit_pending(self) -> None:
        while self._pending_records or self._pending_acks or self._pending_blocks:
            records, self._pending_records = self._pending_records, []
            acks, self._pending_acks = self._pending_acks, []
            blocks, self._pending_blocks = self._pending_blocks, []
            if self.store is not None:
                try:
                    await self.store.call(_committer(records, blocks))
                except Exception:
                    log.exception("share store failed; %d shares not acknowledged", len(records))
                    continue
            for conn_id, ack in acks:
                conn = self.connections.get(conn_id)
                if conn is not None:
                    self._write(conn, ack)

    # ---- timers --------------------------------------------------------------------------

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            await self._execute(self.core.on_tick(time.time()))


def _committer(rows: list[ShareRow], blocks: list[BlockRecord]) -> Callable[[Store], None]:
    """Store ``rows`` and ``blocks`` in one transaction (runs on the store's thread)."""

    def commit(store: Store) -> None:
        store.record_batch([ShareRecord(*row) for row in rows], blocks)

    return commit
