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

The ``--listen`` port will also take SV1 devices: :meth:`PoolService.serve_accepted` looks at
the first bytes a client sends and hands the connection to the SV2 server, or to an SV1
handler once the translator provides one (:attr:`PoolService.sv1_handler`).
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
from stratumv2.net.pump import ConnectionClosed, Sv2Connection
from stratumv2.net.server import Sv2Server
from stratumv2.noise import Keypair, ResponderIdentity
from stratumv2.protocol import Message, NewTemplate, SetNewPrevHashTd, SubmitSharesSuccess
from stratumv2.roles.pool.core import (
    Action,
    Disconnect,
    PoolCore,
    ShareRow,
    StoreShares,
    SubmitBlock,
)
from stratumv2.roles.template_provider.client import (
    TdConnected,
    TdDisconnected,
    TemplateDistributionClient,
)

__all__ = ["PoolService", "Sv1Handler", "looks_like_sv1"]

log = logging.getLogger("stratumv2.pool")

Sv1Handler = Callable[[asyncio.Transport, bytes], None]
"""Takes over an accepted connection whose first bytes are an SV1 JSON line."""

_SNIFF_BYTES = 64  # the Noise initiator's first message is exactly 64 bytes


def looks_like_sv1(first: bytes) -> bool:
    """True if the first bytes of a connection are a JSON line (SV1), not a Noise handshake.

    A Noise ``-> e`` is 64 random-looking bytes; an SV1 line starts with ``{`` and is
    printable text. Decide on up to 64 bytes (or a complete line).
    """
    head = first[:_SNIFF_BYTES].lstrip(b" \t\r\n")
    if not head.startswith(b"{"):
        return False
    return all(32 <= b < 127 or b in (9, 10, 13) for b in head)


class _FirstBytes(asyncio.Protocol):
    """Holds an accepted connection until its first bytes say SV1 or SV2."""

    def __init__(self, service: PoolService) -> None:
        self.service = service
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        timeout = self.service.limits.handshake_timeout
        self.timer = asyncio.get_running_loop().call_later(timeout, self._expired)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= _SNIFF_BYTES or b"\n" in self.buffer:
            if self.timer is not None:
                self.timer.cancel()
            assert self.transport is not None
            self.service.serve_accepted(self.transport, self.buffer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def _expired(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            peer = self.transport.get_extra_info("peername")
            log.warning("%s: sent %d bytes, no handshake; closing", peer, len(self.buffer))
            self.transport.abort()


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
        self._listeners: list[asyncio.Server] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._pending_records: list[ShareRow] = []
        self._pending_blocks: list[BlockRecord] = []
        self._pending_acks: list[tuple[int, SubmitSharesSuccess]] = []
        self._store_wakeup = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        self.last_fanout: float | None = None
        """Seconds the last ``SetNewPrevHash`` took, from TP event to the last write."""
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
            loop = asyncio.get_running_loop()
            listener = await loop.create_server(
                lambda: _FirstBytes(self), listen[0], listen[1], reuse_address=True
            )
            self._listeners.append(listener)
            sock = listener.sockets[0].getsockname()
            bound.append((str(sock[0]), int(sock[1])))
            log.info("pool listening for devices on %s:%d", *bound[-1])
        self._writer = asyncio.create_task(self._store_writer(), name="pool-store")
        self._tasks.append(asyncio.create_task(self._ticker(), name="pool-tick"))
        if self.td is not None:
            self.td.start()
            self._tasks.append(asyncio.create_task(self._follow_td(), name="pool-td"))
        return bound

    async def close(self) -> None:
        """Stop listening, close connections, flush the store."""
        for listener in self._listeners:
            listener.close()
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
        """Serve one accepted connection given its first bytes (SV2 now, SV1 via the hook)."""
        if looks_like_sv1(first):
            if self.sv1_handler is not None:
                self.sv1_handler(transport, first)
                return
            peer = transport.get_extra_info("peername")
            log.warning("%s: SV1 client on the pool port, not served yet; closing", peer)
            transport.close()
            return
        conn = self.server._new_connection()  # the server's own factory: same limits/counters
        transport.set_protocol(conn)
        conn.connection_made(transport)
        conn.data_received(first)

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
                started = time.perf_counter()
                await self._execute(self.core.on_set_new_prev_hash(event, now))
                self.last_fanout = time.perf_counter() - started
                await self._execute(self.core.activate_pending(now))
                self.ready.set()
            elif isinstance(event, TdConnected):
                self.core.on_td_reset()
            elif isinstance(event, TdDisconnected):
                log.warning("template provider unreachable: %s", event.reason)
        except (MiningError, ValueError) as exc:
            log.error("cannot use %s from the TP: %s", type(event).__name__, exc)

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
            async for message in conn:
                actions = core.on_connection_message(conn_id, message, time.time())
                if actions:
                    await self._execute(actions)
                if conn.is_closed:
                    break
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
            data = conn.core.data_to_send()
            transport = conn._transport  # the pump exposes neither a batch write nor the backlog
            if not data or transport is None or conn.is_closed:
                continue
            transport.write(data)
            if transport.get_write_buffer_size() > limit:
                conn.fail(f"not reading: over {limit} bytes unsent")

    def _write(self, conn: Sv2Connection, message: Message) -> None:
        if conn.is_closed:
            return
        try:
            conn.send_nowait(message)
        except ConnectionClosed:
            return
        transport = conn._transport
        if transport is not None and transport.get_write_buffer_size() > self.max_write_backlog:
            conn.fail(f"not reading: over {self.max_write_backlog} bytes unsent")

    async def _submit_block(self, block: SubmitBlock) -> None:
        record = block.record
        if self.td is not None:
            await self.td.submit_solution(block.solution)
        self.blocks_submitted += 1
        log.info(
            "BLOCK FOUND at height %d: %s by %s.%s (paid to %s)",
            record.height,
            record.block_hash,
            record.user,
            record.worker,
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
