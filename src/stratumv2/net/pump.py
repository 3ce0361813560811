"""The asyncio skin over a sans-IO :class:`~stratumv2.connection.Connection`.

:class:`Sv2Connection` is an :class:`asyncio.Protocol`: bytes from the socket go into the
core, encrypted bytes from the core go to the socket, decoded messages wait in a queue for
``await conn.recv()``. It enforces the handshake deadline and the idle timeout, applies
back-pressure both ways, logs a misbehaving peer with its address and reason, and closes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from stratumv2.connection import (
    Connection,
    HandshakeComplete,
    MessageReceived,
    Role,
    UnknownMessageReceived,
)
from stratumv2.net.limits import Limits
from stratumv2.noise import NoiseError
from stratumv2.noise.primitives import is_valid_secret
from stratumv2.protocol import Message, ProtocolError

__all__ = ["ConnectionClosed", "Sv2Connection", "memory_pipe", "new_secret"]

log = logging.getLogger("stratumv2.net")


def new_secret() -> bytes:
    """A fresh random secp256k1 secret key."""
    while True:
        secret = os.urandom(32)
        if is_valid_secret(secret):
            return secret


class ConnectionClosed(Exception):
    """The connection is closed; ``reason`` says why, ``error`` is the peer's fault if any."""

    def __init__(self, reason: str, error: BaseException | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error


Hook = Callable[["Sv2Connection"], Any]


class Sv2Connection(asyncio.Protocol):
    """One encrypted SV2 connection (client or server side) driven by asyncio.

    Use ``await send(msg)``, ``await recv()`` (or ``async for msg in conn``), ``close()`` and
    ``await wait_closed()``. ``peer`` and ``local`` are ``(host, port)``; ``bytes_in`` and
    ``bytes_out`` count every byte on the wire, handshake included.
    """

    def __init__(
        self,
        core: Connection,
        limits: Limits,
        *,
        on_made: Callable[[Sv2Connection], str | None] | None = None,
        on_open: Hook | None = None,
        on_lost: Hook | None = None,
    ) -> None:
        self.core = core
        self.limits = limits
        self.peer: tuple[str, int] = ("?", 0)
        self.local: tuple[str, int] = ("?", 0)
        self.opened_at = 0.0
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._on_made = on_made
        self._on_open = on_open
        self._on_lost = on_lost
        self._queue: deque[Message] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._handshake: asyncio.Future[HandshakeComplete] = self._loop.create_future()
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._drain: asyncio.Future[None] | None = None
        self._write_paused = False
        self._read_paused = False
        self._last_rx = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self.close_reason: str | None = None
        self.error: BaseException | None = None

    # --- public API -------------------------------------------------------------------

    @property
    def role(self) -> Role:
        """Initiator (we connected) or responder (we accepted)."""
        return self.core.role

    @property
    def bytes_in(self) -> int:
        """Bytes received from the peer."""
        return self.core.bytes_received

    @property
    def bytes_out(self) -> int:
        """Bytes handed to the socket for the peer."""
        return self.core.bytes_sent

    @property
    def peer_text(self) -> str:
        """``host:port`` of the peer, for logs."""
        host, port = self.peer[0], self.peer[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def is_closed(self) -> bool:
        """True once closing started (no more sends)."""
        return self.close_reason is not None

    @property
    def handshake(self) -> HandshakeComplete | None:
        """Handshake details once it completed."""
        return self.core.handshake

    async def wait_handshake(self) -> HandshakeComplete:
        """Wait for the handshake; raise the peer's error or :class:`ConnectionClosed`."""
        return await asyncio.shield(self._handshake)

    async def recv(self) -> Message:
        """The next message; :class:`ConnectionClosed` once closed and drained."""
        queue = self._queue
        while not queue:
            if self.close_reason is not None:
                raise ConnectionClosed(self.close_reason, self.error)
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        message = queue.popleft()
        if self._read_paused and len(queue) <= self.limits.max_queued_messages // 2:
            self._read_paused = False
            if self._transport is not None and self.close_reason is None:
                self._transport.resume_reading()
        return message

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Message]:
        while True:
            try:
                yield await self.recv()
            except ConnectionClosed:
                return

    def send_nowait(self, message: Message) -> None:
        """Encrypt and write one message without waiting for the socket buffer to drain."""
        if self.close_reason is not None or self._transport is None:
            raise ConnectionClosed(self.close_reason or "not connected", self.error)
        core = self.core
        core.send(message)
        self._transport.write(core.data_to_send())

    async def send(self, message: Message) -> None:
        """Send one message, waiting while the peer is not reading (back-pressure)."""
        self.send_nowait(message)
        if self._write_paused:
            await self.drain()

    def send_frame(self, header: bytes, payload: bytes) -> None:
        """Send a raw frame (6-byte header and payload) without decoding it (for relays)."""
        if self.close_reason is not None or self._transport is None:
            raise ConnectionClosed(self.close_reason or "not connected", self.error)
        self.core.send_frame(header, payload)
        self._transport.write(self.core.data_to_send())

    def write_queued(self) -> int:
        """Write what was queued on ``core`` (``core.send``/``core.send_frame``, to batch many
        messages into one socket write); return :attr:`write_backlog` after it."""
        transport = self._transport
        if transport is None or self.close_reason is not None:
            return 0
        data = self.core.data_to_send()
        if data:
            transport.write(data)
        return transport.get_write_buffer_size()

    @property
    def write_backlog(self) -> int:
        """Bytes written but not yet taken by the socket (a peer that does not read grows it)."""
        transport = self._transport
        return transport.get_write_buffer_size() if transport is not None else 0

    async def drain(self) -> None:
        """Wait until the socket's send buffer is below its high-water mark."""
        while self._write_paused and self.close_reason is None:
            if self._drain is None:
                self._drain = self._loop.create_future()
            await asyncio.shield(self._drain)

    def close(self, reason: str = "closed locally") -> None:
        """Orderly close: flush what is queued, then close (abort after ``close_timeout``)."""
        if self.close_reason is None:
            self._mark_closing(reason)
            log.debug("%s: closing (%s)", self.peer_text, reason)
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.close()
            self._close_timer = self._loop.call_later(self.limits.close_timeout, transport.abort)

    def abort(self, reason: str) -> None:
        """Close at once, dropping unsent bytes."""
        if self.close_reason is None:
            self._mark_closing(reason)
        if self._transport is not None:
            self._transport.abort()

    async def wait_closed(self) -> None:
        """Wait until the socket is closed."""
        await asyncio.shield(self._closed)

    async def __aenter__(self) -> Sv2Connection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()

    def __repr__(self) -> str:
        state = self.close_reason or ("open" if self.core.is_open else "handshake")
        return f"<Sv2Connection {self.role.value} {self.peer_text} {state}>"

    # --- failure ------------------------------------------------------------------------

    def fail(self, reason: str, error: BaseException | None = None) -> None:
        """The peer misbehaved: log it with its address and close."""
        if self.close_reason is None:
            log.warning("%s %s: %s", self.role.value, self.peer_text, reason)
            self.error = error
            self._mark_closing(reason)
        if self._transport is not None:
            self._transport.abort()

    def _mark_closing(self, reason: str) -> None:
        self.close_reason = reason
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._handshake.done():
            self._handshake.set_exception(
                self.error if self.error is not None else ConnectionClosed(reason)
            )
            self._handshake.exception()  # mark retrieved: nobody may be waiting
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)
            self._drain = None

    # --- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.peer = (str(peer[0]), int(peer[1]))
        local = transport.get_extra_info("sockname")
        if isinstance(local, tuple) and len(local) >= 2:
            self.local = (str(local[0]), int(local[1]))
        self.opened_at = self._last_rx = self._loop.time()
        transport.set_write_buffer_limits(high=self.limits.write_buffer_high)
        if self._on_made is not None:
            refusal = self._on_made(self)
            if refusal is not None:
                self.fail(f"refused: {refusal}")
                return
        self._timer = self._loop.call_later(self.limits.handshake_timeout, self._handshake_expired)
        self._flush()

    def data_received(self, data: bytes) -> None:
        if self.close_reason is not None:
            return
        core = self.core
        self._last_rx = self._loop.time()
        try:
            if not core.is_open:
                core.receive_data(data, time.time())
            else:
                core.receive_data(data)
        except (NoiseError, ProtocolError) as exc:
            self.fail(f"{type(exc).__name__}: {exc}", exc)
            return
        for event in core.events():
            if type(event) is MessageReceived:
                self._queue.append(event.message)
            elif type(event) is HandshakeComplete:
                self._handshake_done(event)
            elif type(event) is UnknownMessageReceived:
                log.debug("%s: ignoring unknown message %s", self.peer_text, event.header)
        self._flush()
        if self._queue:
            self._wake()
            if len(self._queue) >= self.limits.max_queued_messages and not self._read_paused:
                self._read_paused = True
                if self._transport is not None:
                    self._transport.pause_reading()

    def eof_received(self) -> bool | None:
        if self.core.bytes_received == 0:  # a port probe or health check: not worth a warning
            if self.close_reason is None:
                log.debug("%s: closed before sending anything", self.peer_text)
                self._mark_closing("closed by peer before the handshake")
            return None
        try:
            self.core.receive_eof()
        except (NoiseError, ProtocolError) as exc:
            self.fail(f"{type(exc).__name__}: {exc}", exc)
            return None
        if self.close_reason is None:
            self._mark_closing("closed by peer")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.close_reason is None:
            self._mark_closing(f"connection lost: {exc}" if exc else "closed by peer")
        if self._close_timer is not None:
            self._close_timer.cancel()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._closed.done():
            self._closed.set_result(None)
        self._wake()
        if self._on_lost is not None:
            self._on_lost(self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake()

    # --- internals ----------------------------------------------------------------------

    def _flush(self) -> None:
        data = self.core.data_to_send()
        if data and self._transport is not None:
            self._transport.write(data)

    def _handshake_done(self, event: HandshakeComplete) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._handshake.done():
            self._handshake.set_result(event)
        idle = self.limits.idle_timeout
        if idle is not None:
            self._timer = self._loop.call_at(self._last_rx + idle, self._idle_check)
        if self._on_open is not None:
            self._on_open(self)

    def _handshake_expired(self) -> None:
        self._timer = None
        if not self.core.is_open:
            self.fail(
                f"handshake not completed within {self.limits.handshake_timeout:g} s "
                f"({self.core.bytes_received} bytes received)"
            )

    def _idle_check(self) -> None:
        self._timer = None
        idle = self.limits.idle_timeout
        if idle is None or self.close_reason is not None:
            return
        deadline = self._last_rx + idle
        if self._loop.time() >= deadline:
            self.fail(f"idle for {idle:g} s")
        else:
            self._timer = self._loop.call_at(deadline, self._idle_check)


class _MemoryTransport(asyncio.Transport):
    """One end of an in-process pipe: writes arrive at the other end's protocol on the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, name: tuple[str, int]) -> None:
        super().__init__()
        self._loop = loop
        self._name = name
        self.peer: _MemoryTransport | None = None
        self.protocol: asyncio.Protocol | None = None
        self._closing = False
        self._lost = False
        self._paused = False
        self._pending: list[bytes | None] = []  # None marks the peer's EOF

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self.peer._name if self.peer is not None else default
        if name == "sockname":
            return self._name
        return default

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._closing and self.peer is not None:
            self._loop.call_soon(self.peer._arrive, bytes(data))

    def write_eof(self) -> None:
        if self.peer is not None:
            self._loop.call_soon(self.peer._arrive, None)

    def can_write_eof(self) -> bool:
        return True

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self.write_eof()
        self._loop.call_soon(self._connection_lost)

    def abort(self) -> None:
        self.close()

    def pause_reading(self) -> None:
        self._paused = True

    def resume_reading(self) -> None:
        self._paused = False
        pending, self._pending = self._pending, []
        for item in pending:
            self._loop.call_soon(self._arrive, item)

    def is_reading(self) -> bool:
        return not self._paused

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def _arrive(self, data: bytes | None) -> None:
        if self._lost or self.protocol is None:
            return
        if self._paused or self._pending:
            self._pending.append(data)
        elif data is None:
            if not self.protocol.eof_received():
                self.close()
        else:
            self.protocol.data_received(data)

    def _connection_lost(self) -> None:
        if not self._lost and self.protocol is not None:
            self._lost = True
            self.protocol.connection_lost(None)


_memory_ports = itertools.count(1)


def memory_pipe(
    client_factory: Callable[[], asyncio.Protocol],
    server_factory: Callable[[], asyncio.Protocol],
) -> tuple[asyncio.Protocol, asyncio.Protocol]:
    """Connect two protocols in this process, as a TCP connection would (same bytes, no socket).

    Both ends are named ``("memory", n)``. Returns ``(client protocol, server protocol)``.
    """
    loop = asyncio.get_running_loop()
    client_end = _MemoryTransport(loop, ("memory", next(_memory_ports)))
    server_end = _MemoryTransport(loop, ("memory", next(_memory_ports)))
    client_end.peer, server_end.peer = server_end, client_end
    client, server = client_factory(), server_factory()
    client_end.protocol, server_end.protocol = client, server
    server.connection_made(server_end)
    client.connection_made(client_end)
    return client, server
