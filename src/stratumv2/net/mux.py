"""One port for Stratum V1 and Stratum V2: tell them apart by a connection's first bytes.

An SV2 client opens with the Noise ``-> e`` message: exactly 64 bytes, an ElligatorSwift
encoding that looks random, sent at once, and then it waits. An SV1 client opens with a JSON
line: optional whitespace, ``{``, printable text, ``\\n``. So:

* first non-whitespace byte other than ``{``: SV2, decided at once;
* ``{``: wait for a newline or 64 bytes; SV1 if those bytes are text (UTF-8 without control
  characters other than tab/CR/LF) and a line shorter than 64 bytes is a method call (ends
  with ``}``, names ``"method"``), else SV2 (a handshake starting with 0x7b, 1 in 256).

A random 64-byte handshake passes the text test with probability far below 2**-60. A client
that sends nothing within ``limits.handshake_timeout`` is closed. The chosen handler gets
the transport and the bytes read so far, and owns the connection from then on::

    mux = await serve_mux("0.0.0.0", 3333, sv1.serve_transport, sv2_transport_handler(server))

``sv1.serve_transport`` is :meth:`stratumv2.net.sv1.Sv1Server.serve_transport` (or a
translator's); the pool's ``PoolService.serve_accepted`` can take the place of both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from stratumv2.net.limits import Limits
from stratumv2.net.server import Sv2Server

__all__ = [
    "MuxServer",
    "MuxStats",
    "Protocol",
    "TransportHandler",
    "classify",
    "serve_mux",
    "sv2_transport_handler",
]

log = logging.getLogger("stratumv2.net.mux")

NOISE_ACT1_SIZE = 64
"""The initiator's ElligatorSwift public key: the whole first message of an SV2 client."""

Protocol = Literal["sv1", "sv2"]
TransportHandler = Callable[[asyncio.Transport, bytes], None]
"""Takes over an accepted connection, given the bytes already read from it."""

_WHITESPACE = b" \t\r\n"


def classify(first: bytes) -> Protocol | None:
    """``"sv1"``, ``"sv2"``, or None when more bytes are needed to tell."""
    head = first.lstrip(_WHITESPACE)
    if not head:
        return "sv2" if len(first) >= NOISE_ACT1_SIZE else None
    if head[0] != 0x7B:  # "{"
        return "sv2"
    newline = first.find(b"\n", len(first) - len(head))
    if newline < 0 and len(first) < NOISE_ACT1_SIZE:
        return None
    if newline >= 0 and newline < NOISE_ACT1_SIZE:
        line = first[:newline].rstrip(_WHITESPACE)
        sv1 = line.endswith(b"}") and b'"method"' in line and _is_text(line)
        return "sv1" if sv1 else "sv2"
    return "sv1" if _is_text(first[:NOISE_ACT1_SIZE]) else "sv2"


def _is_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # a multi-byte character cut at the window's end is still text
        try:
            text = data[:-3].decode("utf-8") if len(data) > 3 else ""
        except UnicodeDecodeError:
            return False
        if not text:
            return False
    return all((ch >= " " and ch != "\x7f") or ch in "\t\r\n" for ch in text)


@dataclass(slots=True)
class MuxStats:
    """Connections handed to each protocol, and the ones closed undecided."""

    sv1: int = 0
    sv2: int = 0
    timeouts: int = 0


class _Sniffer(asyncio.Protocol):
    """Holds an accepted connection until its first bytes say SV1 or SV2."""

    def __init__(self, mux: MuxServer) -> None:
        self.mux = mux
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        timeout = self.mux.limits.handshake_timeout
        self.timer = asyncio.get_running_loop().call_later(timeout, self._expired)

    def data_received(self, data: bytes) -> None:
        if self.done:
            return
        self.buffer += data
        kind = classify(self.buffer)
        if kind is None:
            if len(self.buffer) > self.mux.limits.max_payload_size:
                self._give_up("no decision")
            return
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
        assert self.transport is not None
        self.mux.hand_over(kind, self.transport, self.buffer)

    def eof_received(self) -> bool | None:
        if not self.done and self.timer is not None:
            self.timer.cancel()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def _expired(self) -> None:
        self._give_up("nothing to tell SV1 from SV2")

    def _give_up(self, why: str) -> None:
        self.done = True
        self.mux.stats.timeouts += 1
        if self.transport is not None and not self.transport.is_closing():
            peer = self.transport.get_extra_info("peername")
            log.info("%s: %s after %d bytes; closing", peer, why, len(self.buffer))
            self.transport.abort()


class MuxServer:
    """The one-port listener: see :func:`serve_mux`."""

    def __init__(
        self, sv1_handler: TransportHandler, sv2_handler: TransportHandler, limits: Limits
    ) -> None:
        self.sv1_handler = sv1_handler
        self.sv2_handler = sv2_handler
        self.limits = limits
        self.stats = MuxStats()
        self._server: asyncio.Server | None = None

    async def start(self, host: str | None, port: int) -> None:
        """Listen on ``host:port``."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Sniffer(self), host, port, reuse_address=True
        )
        log.info("SV1+SV2 listening on %s", ", ".join(f"{h}:{p}" for h, p in self.sockets))

    @property
    def sockets(self) -> list[tuple[str, int]]:
        """Listening addresses (host, port)."""
        if self._server is None:
            return []
        return [tuple(s.getsockname()[:2]) for s in self._server.sockets]

    @property
    def port(self) -> int:
        """The first listening port."""
        return self.sockets[0][1]

    def hand_over(self, kind: Protocol, transport: asyncio.Transport, first: bytes) -> None:
        """Give the connection to the handler of ``kind``."""
        if kind == "sv1":
            self.stats.sv1 += 1
            self.sv1_handler(transport, first)
        else:
            self.stats.sv2 += 1
            self.sv2_handler(transport, first)

    async def close(self) -> None:
        """Stop accepting (the handlers' servers close their own connections)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


async def serve_mux(
    host: str | None,
    port: int,
    sv1_handler: TransportHandler,
    sv2_handler: TransportHandler,
    limits: Limits | None = None,
) -> MuxServer:
    """Listen on ``host:port`` for SV1 and SV2 devices alike; returns the started server."""
    mux = MuxServer(sv1_handler, sv2_handler, limits or Limits())
    await mux.start(host, port)
    return mux


def sv2_transport_handler(server: Sv2Server) -> TransportHandler:
    """Hand SV2 connections to ``server`` (its limits, handshake deadline and handler)."""

    def handle(transport: asyncio.Transport, first: bytes) -> None:
        conn = server._new_connection()  # the server's own factory: same limits and counters
        transport.set_protocol(conn)
        conn.connection_made(transport)
        if first and not conn.is_closed:
            conn.data_received(first)

    return handle
