"""Fixtures: an echo SV2 server on 127.0.0.1:0 and an honest client round trip."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from stratumv2.net import Limits, Sv2Connection, Sv2Server, open_sv2_connection
from stratumv2.noise import Keypair, ResponderIdentity
from stratumv2.protocol import SetupConnection, SetupConnectionSuccess

AUTHORITY = Keypair(
    bytes.fromhex("65995eb19631f478a46ffa5cf1e545091efe950eaeac7482ffdc06eb6a89f697")
)
AUTHORITY_TEXT = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72"
SETUP = SetupConnection(0, 2, 2, 4, "127.0.0.1", 3333, "test", "hw", "fw", "dev")

StartServer = Callable[..., Awaitable[Sv2Server]]


async def echo_handler(conn: Sv2Connection) -> None:
    """Answer SetupConnection with Success(flags echoed); echo anything else."""
    async for message in conn:
        if isinstance(message, SetupConnection):
            await conn.send(SetupConnectionSuccess(2, message.flags))
        else:
            await conn.send(message)


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    servers: list[Sv2Server] = []

    async def start(
        handler: Callable[[Sv2Connection], Awaitable[None]] = echo_handler,
        limits: Limits | None = None,
        authority: Keypair | ResponderIdentity = AUTHORITY,
    ) -> Sv2Server:
        server = Sv2Server(handler, authority, limits)
        await server.start("127.0.0.1", 0)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


async def _round_trip(conn: Sv2Connection, flags: int = 4) -> None:
    await conn.send(SetupConnection(0, 2, 2, flags, "127.0.0.1", 3333, "t", "h", "f", "d"))
    assert await conn.recv() == SetupConnectionSuccess(2, flags)


RoundTrip = Callable[..., Awaitable[None]]


@pytest.fixture
def round_trip() -> RoundTrip:
    """One SetupConnection exchange must work on a connection."""
    return _round_trip


@pytest.fixture
def authority() -> Keypair:
    return AUTHORITY


@pytest.fixture
def honest() -> Callable[[int], open_sv2_connection]:
    def connect(port: int) -> open_sv2_connection:
        return open_sv2_connection("127.0.0.1", port, AUTHORITY_TEXT, timeout=5)

    return connect
