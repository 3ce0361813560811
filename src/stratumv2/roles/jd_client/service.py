"""The asyncio pump around :class:`~stratumv2.roles.jd_client.core.JdcCore`.

Four links feed the core and carry out its actions:

* our Template Provider (a :class:`TemplateDistributionClient`): templates, tips,
  ``RequestTransactionData`` for declarations, ``SubmitSolution`` for every block found;
* the pool's JDS and the pool's mining port: each kept by a reconnecting loop; a drop
  (or a refused connection) is reported to the core, which goes solo, and the next
  successful connection brings the pool back;
* downstream miners on ``--listen`` (Noise SV2 server).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

from stratumv2.net.client import Endpoint, open_sv2_connection
from stratumv2.net.limits import Limits
from stratumv2.net.pump import ConnectionClosed, Sv2Connection
from stratumv2.net.server import Sv2Server
from stratumv2.noise import Keypair, NoiseError, ResponderIdentity
from stratumv2.protocol import Message, NewTemplate, SetNewPrevHashTd
from stratumv2.roles.jd_client.core import (
    Action,
    JdcCore,
    ModeChanged,
    RequestTxData,
    SetConstraints,
    ToJds,
    ToPool,
)
from stratumv2.roles.pool.core import Disconnect, StoreShares, SubmitBlock
from stratumv2.roles.template_provider.client import (
    TdConnected,
    TdDisconnected,
    TemplateDistributionClient,
    TransactionDataError,
)
from stratumv2.roles.template_provider.core import ClientConstraints

__all__ = ["JdcService"]

log = logging.getLogger("stratumv2.jdc")

_SCRIPT_SIG_ROOM = 64  # our tag and extranonce in the coinbase scriptSig


class JdcService:
    """Runs a :class:`JdcCore` (see the module docstring).

    ``jds`` / ``pool`` None: that link is never made (solo only). ``reconnect_delay``: first
    wait before reconnecting a lost upstream, doubled up to ``reconnect_max``.
    """

    def __init__(
        self,
        core: JdcCore,
        authority: Keypair | ResponderIdentity,
        td: TemplateDistributionClient,
        *,
        jds: Endpoint | None = None,
        pool: Endpoint | None = None,
        limits: Limits | None = None,
        reconnect_delay: float = 0.5,
        reconnect_max: float = 10.0,
        tick_interval: float = 1.0,
    ) -> None:
        self.core = core
        self.td = td
        self.jds_endpoint = jds
        self.pool_endpoint = pool
        self.reconnect_delay = reconnect_delay
        self.reconnect_max = reconnect_max
        self.tick_interval = tick_interval
        self.server = Sv2Server(self.serve_connection, authority, limits, name="jdc")
        self.connections: dict[int, Sv2Connection] = {}
        self.jds_conn: Sv2Connection | None = None
        self.pool_conn: Sv2Connection | None = None
        self._ids = itertools.count(1)
        self._tasks: list[asyncio.Task[Any]] = []
        self.mode_changed = asyncio.Event()
        self.blocks_submitted = 0
        self.on_mode: Callable[[ModeChanged], None] | None = None
        self.metrics_port: int | None = None
        """Where ``/metrics`` is served, when the command serves it."""

    @property
    def authority_public_key(self) -> str:
        """The authority key downstream miners configure (``--upstream-authority-key``)."""
        return self.server.authority_public_key

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen for miners and start the TP, JDS, pool and tick loops; the bound address."""
        await self.server.start(host, port)
        initial = self.core.initial_constraints()
        self.td.constraints = ClientConstraints(
            initial.max_additional_size + _SCRIPT_SIG_ROOM, initial.max_additional_sigops
        )
        self.td.start()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._follow_td(), name="jdc-td"))
        self._tasks.append(loop.create_task(self._ticker(), name="jdc-tick"))
        if self.jds_endpoint is not None:
            self._tasks.append(loop.create_task(self._link("jds"), name="jdc-jds"))
        if self.pool_endpoint is not None:
            self._tasks.append(loop.create_task(self._link("pool"), name="jdc-pool"))
        bound = self.server.sockets[0]
        log.info("JDC listening for miners on %s:%d", *bound)
        return bound

    async def close(self) -> None:
        """Stop everything."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for conn in (self.jds_conn, self.pool_conn):
            if conn is not None:
                conn.close("jdc stopping")
        await self.server.close()
        await self.td.close()

    # ---- our TP -------------------------------------------------------------------------

    async def _follow_td(self) -> None:
        async for event in self.td.events():
            now = time.time()
            try:
                if isinstance(event, NewTemplate):
                    self._execute(self.core.on_new_template(event, now))
                elif isinstance(event, SetNewPrevHashTd):
                    self._execute(self.core.on_set_new_prev_hash(event, now))
                elif isinstance(event, TdConnected):
                    self.core.on_td_reset()
                elif isinstance(event, TdDisconnected):
                    log.warning("our template provider is unreachable: %s", event.reason)
            except ValueError as exc:  # MiningError, BitcoinError
                log.error("cannot use %s from our TP: %s", type(event).__name__, exc)

    async def _transaction_data(self, template_id: int) -> None:
        try:
            data = await self.td.request_transaction_data(template_id)
        except TransactionDataError as exc:
            log.warning("no transactions for template %d: %s", template_id, exc.error_code)
            return
        self._execute(self.core.on_transaction_data(data, time.time()))

    # ---- upstream links -----------------------------------------------------------------

    async def _link(self, kind: str) -> None:
        endpoint = self.jds_endpoint if kind == "jds" else self.pool_endpoint
        assert endpoint is not None
        core = self.core
        delay = self.reconnect_delay
        while True:
            try:
                conn = await open_sv2_connection(
                    endpoint.host, endpoint.port, endpoint.authority, timeout=5.0
                )
            except (OSError, TimeoutError, NoiseError, ConnectionClosed) as exc:
                reason = f"cannot connect to {endpoint}: {type(exc).__name__} {exc}"
                lost = core.jds_lost if kind == "jds" else core.pool_lost
                self._execute(lost(reason, time.time()))
                await asyncio.sleep(delay)
                delay = min(self.reconnect_max, delay * 2)
                continue
            delay = self.reconnect_delay
            log.info("connected to the %s at %s", kind, endpoint)
            reason = "closed"
            try:
                if kind == "jds":
                    self.jds_conn = conn
                    self._execute(core.jds_connected())
                else:
                    self.pool_conn = conn
                    self._execute(core.pool_connected())
                handle = core.on_jds_message if kind == "jds" else core.on_pool_message
                async for message in conn:
                    self._execute(handle(message, time.time()))
                reason = conn.close_reason or "closed"
            except ConnectionClosed as exc:
                reason = exc.reason
            finally:
                if kind == "jds":
                    self.jds_conn = None
                else:
                    self.pool_conn = None
                conn.close("link ended")
            log.warning("%s at %s lost: %s", kind, endpoint, reason)
            lost = core.jds_lost if kind == "jds" else core.pool_lost
            self._execute(lost(reason, time.time()))
            await asyncio.sleep(delay)

    # ---- downstream miners --------------------------------------------------------------

    async def serve_connection(self, conn: Sv2Connection) -> None:
        """One downstream miner (after its Noise handshake)."""
        conn_id = next(self._ids)
        self.connections[conn_id] = conn
        core = self.core
        core.downstream_connected(conn_id, conn.peer_text, time.time())
        try:
            async for message in conn:
                self._execute(core.on_downstream_message(conn_id, message, time.time()))
                if conn.is_closed:
                    break
        finally:
            self.connections.pop(conn_id, None)
            self._execute(core.downstream_lost(conn_id, time.time()))

    # ---- actions ------------------------------------------------------------------------

    def _execute(self, actions: list[Action]) -> None:
        for action in actions:
            if type(action) is tuple:
                conn = self.connections.get(action[0])
                if conn is None or conn.is_closed:
                    continue
                with contextlib.suppress(ConnectionClosed):
                    if len(action) == 2:
                        conn.send_nowait(action[1])
                    else:
                        conn.send_frame(action[1], action[2])
            elif isinstance(action, ToPool):
                self._send(self.pool_conn, action.message)
            elif isinstance(action, ToJds):
                self._send(self.jds_conn, action.message)
            elif isinstance(action, RequestTxData):
                task = asyncio.get_running_loop().create_task(
                    self._transaction_data(action.template_id)
                )
                self._tasks.append(task)
                self._tasks = [t for t in self._tasks if not t.done()]
            elif isinstance(action, SubmitBlock):
                self._submit_block(action)
            elif isinstance(action, StoreShares):
                for conn_id, ack in action.acks:
                    conn = self.connections.get(conn_id)
                    if conn is not None and not conn.is_closed:
                        with contextlib.suppress(ConnectionClosed):
                            conn.send_nowait(ack)
            elif isinstance(action, Disconnect):
                conn = self.connections.get(action.conn_id)
                if conn is not None:
                    conn.fail(action.reason)
            elif isinstance(action, SetConstraints):
                constraints = ClientConstraints(
                    action.max_additional_size + _SCRIPT_SIG_ROOM, action.max_additional_sigops
                )
                self._tasks.append(
                    asyncio.get_running_loop().create_task(self.td.set_constraints(constraints))
                )
            elif isinstance(action, ModeChanged):
                switches = self.core.switches
                log.warning(
                    "JDC now mining %s: %s (switches: to pool %d, to solo %d)",
                    "for the pool" if action.mode == "pool" else "SOLO to our own address",
                    action.reason,
                    switches["pool"],
                    switches["solo"],
                )
                self.mode_changed.set()
                if self.on_mode is not None:
                    self.on_mode(action)

    def _send(self, conn: Sv2Connection | None, message: Message) -> None:
        if conn is None or conn.is_closed:
            return
        with contextlib.suppress(ConnectionClosed):
            conn.send_nowait(message)

    def _submit_block(self, block: SubmitBlock) -> None:
        self.blocks_submitted += 1
        self._tasks.append(
            asyncio.get_running_loop().create_task(self.td.submit_solution(block.solution))
        )
        log.info(
            "BLOCK FOUND (%s mode) by %s.%s: %s",
            self.core.mode,
            block.record.user,
            block.record.worker,
            block.record.block_hash,
        )

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            self._execute(self.core.on_tick(time.time()))
