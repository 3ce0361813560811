"""asyncio glue for Stratum V1: plain-TCP line connections and a server with limits.

The bytes are handed to the role as they arrive (the sans-IO
:class:`~stratumv2.sv1.Sv1ServerSession` splits lines and enforces the line limit); this
layer counts bytes both ways, applies back-pressure and connection limits, and closes a
peer that stays silent for ``idle_timeout``. ::

    async def handler(conn: Sv1Connection) -> None:
        async for chunk in conn:
            ...
            conn.write(reply)

    server = Sv1Server(handler, Limits(max_connections_per_address=16))
    await server.start("0.0.0.0", 34255)

:meth:`Sv1Server.serve_transport` takes over a connection accepted elsewhere (the one-port
listener of :mod:`stratumv2.net.mux`) together with the bytes already read from it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from stratumv2.net.limits import Limits
from stratumv2.net.listener import Listener

__all__ = ["Sv1Connection", "Sv1Handler", "Sv1Server"]

log = logging.getLogger("stratumv2.net.sv1")

DEFAULT_SV1_IDLE_TIMEOUT = 600.0
"""SV1 devices submit shares and answer nothing else; ten silent minutes means a dead link."""


class Sv1Connection(asyncio.Protocol):
    """One SV1 device connection: ``await recv()`` chunks, ``write(bytes)``, ``close()``.

    ``bytes_in`` / ``bytes_out`` count every byte on the wire (the first bytes read by a
    one-port listener included).
    """

    def __init__(
        self,
        limits: Limits,
        *,
        idle_timeout: float | None = DEFAULT_SV1_IDLE_TIMEOUT,
        on_made: Callable[[Sv1Connection], str | None] | None = None,
        on_lost: Callable[[Sv1Connection], Any] | None = None,
    ) -> None:
        self.limits = limits
        self.idle_timeout = idle_timeout
        self.peer: tuple[str, int] = ("?", 0)
        self.bytes_in = 0
        self.bytes_out = 0
        self.close_reason: str | None = None
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._on_made = on_made
        self._on_lost = on_lost
        self._chunks: deque[bytes] = deque()
        self._queued = 0
        self._waiter: asyncio.Future[None] | None = None
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._read_paused = False
        self._last_rx = 0.0
        self._timer: asyncio.TimerHandle | None = None

    @property
    def peer_text(self) -> str:
        """``host:port`` of the peer, for logs."""
        host, port = self.peer
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def is_closed(self) -> bool:
        """True once closing started."""
        return self.close_reason is not None

    async def recv(self) -> bytes:
        """The next chunk of bytes; b"" once the peer closed (or we did) and all was read."""
        while not self._chunks:
            if self.close_reason is not None:
                return b""
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunk = self._chunks.popleft()
        self._queued -= len(chunk)
        if self._read_paused and self._queued < self.limits.write_buffer_high // 2:
            self._read_paused = False
            if self._transport is not None and self.close_reason is None:
                self._transport.resume_reading()
        return chunk

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        while chunk := await self.recv():
            yield chunk

    def write(self, data: bytes) -> None:
        """Queue bytes for the device (dropped once closing)."""
        if data and self._transport is not None and not self._transport.is_closing():
            self.bytes_out += len(data)
            self._transport.write(data)

    @property
    def write_backlog(self) -> int:
        """Bytes written but not yet taken by the socket."""
        return self._transport.get_write_buffer_size() if self._transport is not None else 0

    def close(self, reason: str = "closed locally") -> None:
        """Flush what is queued, then close."""
        self._mark_closing(reason)
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.close()
            self._loop.call_later(self.limits.close_timeout, transport.abort)

    def abort(self, reason: str) -> None:
        """Close at once, dropping unsent bytes."""
        self._mark_closing(reason)
        if self._transport is not None:
            self._transport.abort()

    async def wait_closed(self) -> None:
        """Wait until the socket is closed."""
        await asyncio.shield(self._closed)

    def _mark_closing(self, reason: str) -> None:
        if self.close_reason is None:
            self.close_reason = reason
            log.debug("%s: closing (%s)", self.peer_text, reason)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # --- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.peer = (str(peer[0]), int(peer[1]))
        transport.set_write_buffer_limits(high=self.limits.write_buffer_high)
        self._last_rx = self._loop.time()
        if self._on_made is not None:
            refusal = self._on_made(self)
            if refusal is not None:
                log.warning("sv1 %s: refused: %s", self.peer_text, refusal)
                self.abort(f"refused: {refusal}")
                return
        if self.idle_timeout is not None:
            self._timer = self._loop.call_later(self.idle_timeout, self._idle_check)

    def data_received(self, data: bytes) -> None:
        if self.close_reason is not None:
            return
        self.bytes_in += len(data)
        self._last_rx = self._loop.time()
        self._chunks.append(data)
        self._queued += len(data)
        self._wake()
        if self._queued >= self.limits.write_buffer_high and not self._read_paused:
            self._read_paused = True
            if self._transport is not None:
                self._transport.pause_reading()

    def eof_received(self) -> bool | None:
        self._mark_closing("closed by peer")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._mark_closing(f"connection lost: {exc}" if exc else "closed by peer")
        if not self._closed.done():
            self._closed.set_result(None)
        if self._on_lost is not None:
            self._on_lost(self)

    def _idle_check(self) -> None:
        self._timer = None
        idle = self.idle_timeout
        if idle is None or self.close_reason is not None:
            return
        deadline = self._last_rx + idle
        if self._loop.time() >= deadline:
            log.info("sv1 %s: idle for %g s, closing", self.peer_text, idle)
            self.abort(f"idle for {idle:g} s")
        else:
            self._timer = self._loop.call_at(deadline, self._idle_check)


Sv1Handler = Callable[[Sv1Connection], Awaitable[None]]


class Sv1Server(Listener[Sv1Connection]):
    """Serve SV1 over plain TCP: one ``handler(conn)`` task per connection."""

    def __init__(
        self,
        handler: Sv1Handler,
        limits: Limits | None = None,
        *,
        idle_timeout: float | None = DEFAULT_SV1_IDLE_TIMEOUT,
        name: str = "sv1",
    ) -> None:
        super().__init__(limits, name)
        self.handler = handler
        self.idle_timeout = idle_timeout

    async def start(self, host: str | None = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port``."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self.new_connection, host, port, reuse_address=True)
        log.info("%s listening on %s", self.name, ", ".join(f"{h}:{p}" for h, p in self.sockets))

    def new_connection(self) -> Sv1Connection:
        """A protocol instance for one accepted connection (counted, then handled)."""
        return Sv1Connection(
            self.limits, idle_timeout=self.idle_timeout, on_made=self._made, on_lost=self._lost
        )

    def serve_transport(self, transport: asyncio.Transport, first: bytes) -> None:
        """Take over an accepted connection whose first bytes were already read."""
        conn = self.new_connection()
        transport.set_protocol(conn)
        conn.connection_made(transport)
        if first:
            conn.data_received(first)

    def _made(self, conn: Sv1Connection) -> str | None:
        refusal = self.counter.acquire(conn.peer[0])
        if refusal is not None:
            return refusal
        self.connections.add(conn)
        task = asyncio.get_running_loop().create_task(self._run(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return None

    def _lost(self, conn: Sv1Connection) -> None:
        if conn in self.connections:
            self.connections.discard(conn)
            self.counter.release(conn.peer[0])

    async def _run(self, conn: Sv1Connection) -> None:
        try:
            await self.handler(conn)
        except asyncio.CancelledError:
            conn.close("server shutting down")
            raise
        except Exception:
            log.exception("%s: handler for %s failed", self.name, conn.peer_text)
        conn.close("handler finished" if conn.close_reason is None else conn.close_reason)
        await conn.wait_closed()
