"""The asyncio pump around :class:`~.core.TranslatorCore`: SV1 devices in, one SV2 upstream out.

* Devices come from an :class:`~stratumv2.net.sv1.Sv1Server` (``--listen``) or from a
  one-port listener (:func:`stratumv2.net.mux.serve_mux`) through
  :meth:`TranslatorService.serve_transport`.
* The upstream is the first of ``upstreams`` (ordered fallbacks) whose health check passes:
  a Noise handshake checked against the authority key and a real ``SetupConnection``
  answered with ``Success``. The connection that passed the check is the one used. While on
  a fallback, the earlier upstreams are probed every ``health_interval`` seconds; when one
  is healthy again the translator moves back to it.
* Upstream lost: with ``reconnect_devices`` each device gets ``client.reconnect`` and is
  closed (it comes back and waits for a channel); otherwise devices stay connected, without
  work, until a channel is open again. Reconnection uses exponential backoff.
* In-process upstream: give ``upstreams`` as :class:`UpstreamSource` objects whose
  ``connect`` returns a connection over :func:`~stratumv2.net.memory_pipe` (for example
  ``Sv2Server.connect_in_memory``): the pool's one-port listener serves SV1 this way.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from stratumv2.net.client import Backoff, Endpoint, open_sv2_connection
from stratumv2.net.limits import Limits
from stratumv2.net.pump import ConnectionClosed, Sv2Connection
from stratumv2.net.sv1 import DEFAULT_SV1_IDLE_TIMEOUT, Sv1Connection, Sv1Server
from stratumv2.noise import NoiseError
from stratumv2.protocol import SetupConnectionError, SetupConnectionSuccess
from stratumv2.roles.translator.core import (
    Action,
    CloseDevice,
    DeviceData,
    SendUpstream,
    TranslatorCore,
)

__all__ = ["TranslatorService", "UpstreamSource", "endpoint_source", "start_embedded"]

log = logging.getLogger("stratumv2.translator")


@dataclass(frozen=True, slots=True)
class UpstreamSource:
    """One upstream: a name for logs and a coroutine that opens a Noise connection to it."""

    name: str
    connect: Callable[[], Awaitable[Sv2Connection]]


def endpoint_source(endpoint: Endpoint, limits: Limits, timeout: float = 10.0) -> UpstreamSource:
    """An upstream reached over TCP, its certificate checked against ``endpoint.authority``."""

    async def connect() -> Sv2Connection:
        return await open_sv2_connection(
            endpoint.host, endpoint.port, endpoint.authority, limits=limits, timeout=timeout
        )

    return UpstreamSource(str(endpoint), connect)


class UpstreamRefused(Exception):
    """The upstream answered SetupConnection with an error."""


class TranslatorService:
    """Runs a :class:`TranslatorCore` between SV1 device connections and an SV2 upstream."""

    def __init__(
        self,
        core: TranslatorCore,
        upstreams: Sequence[UpstreamSource],
        *,
        limits: Limits | None = None,
        backoff: Backoff | None = None,
        health_interval: float = 30.0,
        setup_timeout: float = 10.0,
        reconnect_devices: bool = True,
        tick_interval: float = 0.5,
        idle_timeout: float | None = DEFAULT_SV1_IDLE_TIMEOUT,
    ) -> None:
        if not upstreams:
            raise ValueError("need at least one upstream")
        self.core = core
        self.upstreams = list(upstreams)
        self.limits = limits or Limits()
        self.backoff = backoff or Backoff(initial=0.5, maximum=30.0)
        self.health_interval = health_interval
        self.setup_timeout = setup_timeout
        self.reconnect_devices = reconnect_devices
        self.tick_interval = tick_interval
        self.server = Sv1Server(
            self.serve_device, self.limits, idle_timeout=idle_timeout, name="translator"
        )
        self.upstream: Sv2Connection | None = None
        self.upstream_index: int | None = None
        self.upstream_connected = asyncio.Event()
        self.devices: dict[int, Sv1Connection] = {}
        self.upstream_bytes_in = 0
        self.upstream_bytes_out = 0
        self.upstream_connects = 0
        self.upstream_changes = 0
        self.metrics_port: int | None = None
        """Where ``/metrics`` is served, when the command serves it."""
        self.on_upstream_change: Callable[[str, str, str], None] | None = None
        """Called ``(previous, current, reason)`` when the upstream moves to another one,
        comes back after none was reachable, or none is reachable any more (``current`` is
        ``"(none)"``): the ``upstream failover`` notification."""
        self._last_upstream: str | None = None
        self._last_loss = ""
        self._told_down = False
        self._ids = itertools.count(1)
        self._tasks: list[asyncio.Task[Any]] = []

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self, listen: tuple[str, int] | None = None) -> list[tuple[str, int]]:
        """Start the upstream and tick loops; listen for SV1 devices on ``listen`` if given."""
        bound: list[tuple[str, int]] = []
        if listen is not None:
            await self.server.start(listen[0], listen[1])
            bound.append(self.server.sockets[0])
        self._tasks.append(asyncio.create_task(self._upstream_loop(), name="translator-up"))
        self._tasks.append(asyncio.create_task(self._ticker(), name="translator-tick"))
        return bound

    async def close(self) -> None:
        """Stop everything: devices, upstream, loops."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.server.close()
        if self.upstream is not None:
            self.upstream.close("translator shutting down")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.upstream.wait_closed(), 2)

    def serve_transport(self, transport: asyncio.Transport, first: bytes) -> None:
        """Take over an accepted SV1 connection whose first bytes were already read (mux)."""
        self.server.serve_transport(transport, first)

    def stats(self) -> dict[str, Any]:
        """Counters for metrics: per device and for the upstream."""
        devices = {
            f"{device_id}:{user}": {
                "shares_accepted": s.shares_accepted,
                "shares_rejected": dict(s.shares_rejected),
                "shares_forwarded": s.shares_forwarded,
                "upstream_accepted": s.upstream_accepted,
                "upstream_rejected": dict(s.upstream_rejected),
                "blocks": s.blocks,
                "bytes_in": s.bytes_in,
                "bytes_out": s.bytes_out,
            }
            for device_id, user, s in self.core.iter_stats()
        }
        up = self.upstream
        return {
            "devices": devices,
            "upstream": {
                "name": (
                    self.upstreams[self.upstream_index].name
                    if self.upstream_index is not None
                    else None
                ),
                "bytes_in": self.upstream_bytes_in + (up.bytes_in if up else 0),
                "bytes_out": self.upstream_bytes_out + (up.bytes_out if up else 0),
                "connects": self.upstream_connects,
                "changes": self.upstream_changes,
                "errors": dict(self.core.upstream_errors),
            },
            "blocks_found": self.core.blocks_found,
        }

    # ---- devices -------------------------------------------------------------------------

    async def serve_device(self, conn: Sv1Connection) -> None:
        """Handler for one SV1 connection."""
        device_id = next(self._ids)
        self.devices[device_id] = conn
        core = self.core
        core.device_connected(device_id, conn.peer_text, time.time())
        log.debug("device %s connected (%d)", conn.peer_text, device_id)
        try:
            async for chunk in conn:
                self._execute(core.on_device_data(device_id, chunk, time.time()))
                if conn.is_closed:
                    break
        finally:
            self.devices.pop(device_id, None)
            self._execute(core.device_lost(device_id, time.time()))
            log.debug("device %s gone: %s", conn.peer_text, conn.close_reason)

    def _execute(self, actions: list[Action]) -> None:
        for action in actions:
            kind = type(action)
            if kind is DeviceData:
                assert isinstance(action, DeviceData)
                conn = self.devices.get(action.device_id)
                if conn is not None:
                    conn.write(action.data)
                    if conn.write_backlog > self.limits.write_buffer_high * 4:
                        conn.abort("device not reading")
            elif kind is SendUpstream:
                assert isinstance(action, SendUpstream)
                up = self.upstream
                if up is None or up.is_closed:
                    log.debug("upstream down, dropping %s", type(action.message).__name__)
                    continue
                with contextlib.suppress(ConnectionClosed):
                    up.send_nowait(action.message)
            elif kind is CloseDevice:
                assert isinstance(action, CloseDevice)
                conn = self.devices.get(action.device_id)
                if conn is not None:
                    log.info("closing device %s: %s", conn.peer_text, action.reason)
                    conn.close(action.reason)

    # ---- upstream ------------------------------------------------------------------------

    async def _setup(self, source: UpstreamSource) -> tuple[Sv2Connection, SetupConnectionSuccess]:
        """Connect and complete SetupConnection (the health check); return the connection."""
        conn = await source.connect()
        try:
            conn.send_nowait(self.core.setup_connection())
            reply = await asyncio.wait_for(conn.recv(), self.setup_timeout)
            if isinstance(reply, SetupConnectionError):
                raise UpstreamRefused(f"SetupConnection.Error {reply.error_code}")
            if not isinstance(reply, SetupConnectionSuccess):
                raise UpstreamRefused(f"answered SetupConnection with {type(reply).__name__}")
        except BaseException:
            conn.close("health check failed")
            raise
        return conn, reply

    async def _connect_first(
        self, upto: int | None = None
    ) -> tuple[Sv2Connection, SetupConnectionSuccess, int] | None:
        """The first healthy upstream (before index ``upto`` if given), or None."""
        for index, source in enumerate(self.upstreams[:upto]):
            try:
                conn, reply = await self._setup(source)
            except (
                OSError,
                TimeoutError,
                NoiseError,
                ConnectionClosed,
                UpstreamRefused,
            ) as exc:
                if upto is None:
                    log.warning(
                        "upstream %s unusable: %s: %s", source.name, type(exc).__name__, exc
                    )
                continue
            return conn, reply, index
        return None

    async def _upstream_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            found = await self._connect_first()
            if found is None:
                if self._last_upstream is not None and not self._told_down:
                    self._told_down = True
                    self._upstream_changed(self._last_upstream, "(none)", "no upstream reachable")
                delay = self.backoff.next_delay()
                log.info("no upstream reachable, retrying in %.1f s", delay)
                await asyncio.sleep(delay)
                continue
            conn, reply, index = found
            self.upstream, self.upstream_index = conn, index
            self.upstream_connects += 1
            started = loop.time()
            name = self.upstreams[index].name
            log.info("upstream %s connected", name)
            previous, self._last_upstream = self._last_upstream, name
            if previous is not None and (previous != name or self._told_down):
                self._upstream_changed(previous, name, self._last_loss or "unknown")
            self._told_down = False
            probe: asyncio.Task[None] | None = None
            if index > 0:
                probe = asyncio.create_task(self._probe_primary(conn, index))
            try:
                self.core.upstream_connected(time.time())  # SetupConnection already sent
                self._execute(self.core.on_upstream_message(reply, time.time()))
                self.upstream_connected.set()
                async for message in conn:
                    try:
                        self._execute(self.core.on_upstream_message(message, time.time()))
                    except Exception:  # our bug: drop this upstream session, not the process
                        log.exception("cannot handle %s from upstream", type(message).__name__)
                        conn.fail("translator error")
                        break
            finally:
                if probe is not None:
                    probe.cancel()
                self.upstream_connected.clear()
                self.upstream_bytes_in += conn.bytes_in
                self.upstream_bytes_out += conn.bytes_out
                self.upstream = None
                self.upstream_index = None
                conn.close("upstream session ended")
                self._execute(
                    self.core.upstream_lost(time.time(), reconnect_devices=self.reconnect_devices)
                )
            log.warning("upstream %s lost: %s", self.upstreams[index].name, conn.close_reason)
            self._last_loss = conn.close_reason or "connection lost"
            if loop.time() - started >= 30.0:
                self.backoff.reset()
            await asyncio.sleep(self.backoff.next_delay())

    def _upstream_changed(self, previous: str, current: str, reason: str) -> None:
        self.upstream_changes += 1
        log.warning("upstream failover: %s -> %s (%s)", previous, current, reason)
        if self.on_upstream_change is not None:
            try:
                self.on_upstream_change(previous, current, reason)
            except Exception:  # a notification must never stop the translator
                log.exception("upstream change hook failed")

    async def _probe_primary(self, current: Sv2Connection, index: int) -> None:
        """While on fallback ``index``, move back as soon as an earlier upstream is healthy."""
        while True:
            await asyncio.sleep(self.health_interval)
            found = await self._connect_first(upto=index)
            if found is not None:
                conn, _, better = found
                conn.close("health check")
                log.info("upstream %s is healthy again; moving back", self.upstreams[better].name)
                current.close("moving back to a preferred upstream")
                return

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            try:
                self._execute(self.core.on_tick(time.time()))
            except Exception:
                log.exception("translator tick failed")


async def start_embedded(
    connect: Callable[[], Awaitable[Sv2Connection]],
    core: TranslatorCore,
    *,
    name: str = "in-process pool",
    limits: Limits | None = None,
) -> TranslatorService:
    """A translator whose upstream is a server in this process (no listening socket).

    ``connect`` opens the in-memory connection, e.g. ``pool.server.connect_in_memory``;
    hand SV1 connections to the result's :meth:`TranslatorService.serve_transport` (the
    pool's ``sv1_handler`` hook, or :func:`stratumv2.net.mux.serve_mux`).
    """
    service = TranslatorService(
        core,
        [UpstreamSource(name, connect)],
        limits=limits,
        backoff=Backoff(initial=0.2, maximum=5.0),
    )
    await service.start(None)
    return service
