"""Each misbehaving peer gets a clear error, a log line and a closed connection, while an
honest connection to the same server keeps working."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import pytest

from stratumv2.connection import Connection
from stratumv2.net import ConnectionClosed, Limits, open_sv2_connection
from stratumv2.noise import (
    BadCertificate,
    Certificate,
    HandshakeError,
    Keypair,
    ResponderIdentity,
)
from stratumv2.protocol import RequestTransactionDataSuccess, SetupConnection

pytestmark = pytest.mark.timeout(30)

SETUP = SetupConnection(0, 2, 2, 0, "127.0.0.1", 3333, "t", "h", "f", "d")


class _FixedIdentity(ResponderIdentity):
    """Serves one certificate issued at a chosen time, never renewing it."""

    def current(self, now: float) -> tuple[Certificate, bytes]:
        assert self._cert is not None
        return self._cert, self._cert_bytes


def _fixed_identity(authority: Keypair, issued_at: int, validity: int) -> ResponderIdentity:
    identity = _FixedIdentity(authority, os.urandom(32), validity=validity, backdate=0)
    identity.issue(issued_at)
    return identity


async def _raw(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _closed_by_server(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float = 5.0
) -> int:
    """Read until EOF or reset (the server closed us); return our local port."""
    async with asyncio.timeout(timeout):
        try:
            while await reader.read(65536):
                pass
        except ConnectionResetError:
            pass
    port: int = writer.get_extra_info("sockname")[1]
    writer.close()
    return port


async def _raw_handshake(
    port: int, authority: Keypair
) -> tuple[Connection, asyncio.StreamReader, asyncio.StreamWriter]:
    """A sans-IO client over raw streams, so a test can send arbitrary bytes later."""
    core = Connection.initiator(authority.public_key, os.urandom(32), time.time())
    reader, writer = await _raw(port)
    writer.write(core.data_to_send())
    while not core.is_open:
        core.receive_data(await reader.read(65536))
    return core, reader, writer


def _warned(caplog: pytest.LogCaptureFixture, *needles: str) -> str:
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    for line in lines:
        if all(n in line for n in needles):
            return line
    raise AssertionError(f"no warning with {needles} in {lines}")


@pytest.fixture
def warnings(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="stratumv2.net")
    return caplog


async def test_tampered_ciphertext(
    start_server: Any, honest: Any, round_trip: Any, authority: Keypair, warnings: Any
) -> None:
    server = await start_server()
    async with honest(server.port) as good:
        core, reader, writer = await _raw_handshake(server.port, authority)
        core.send(SETUP)
        wire = bytearray(core.data_to_send())
        wire[-1] ^= 0x01
        writer.write(bytes(wire))
        port = await _closed_by_server(reader, writer)
        _warned(warnings, f"127.0.0.1:{port}", "DecryptError")
        await round_trip(good)


async def test_wrong_authority_key(
    start_server: Any, honest: Any, round_trip: Any, warnings: Any
) -> None:
    server = await start_server()
    other = Keypair(bytes([7]) * 32).public_key
    async with honest(server.port) as good:
        with pytest.raises(BadCertificate, match="not signed by the expected authority"):
            await open_sv2_connection("127.0.0.1", server.port, other, timeout=5)
        _warned(warnings, f"127.0.0.1:{server.port}", "BadCertificate")
        await round_trip(good)


@pytest.mark.parametrize(
    ("offset", "reason"), [(-7200, "expired"), (+7200, "not yet valid")], ids=["expired", "future"]
)
async def test_certificate_outside_its_window(
    start_server: Any,
    honest: Any,
    round_trip: Any,
    authority: Keypair,
    warnings: Any,
    offset: int,
    reason: str,
) -> None:
    good_server = await start_server()
    bad_server = await start_server(
        authority=_fixed_identity(authority, int(time.time()) + offset, validity=3600)
    )
    async with honest(good_server.port) as good:
        with pytest.raises(BadCertificate, match=reason):
            await open_sv2_connection(
                "127.0.0.1", bad_server.port, bad_server.authority_public_key, timeout=5
            )
        _warned(warnings, f"127.0.0.1:{bad_server.port}", reason)
        await round_trip(good)


async def test_truncated_handshake(
    start_server: Any, honest: Any, round_trip: Any, warnings: Any
) -> None:
    server = await start_server()
    async with honest(server.port) as good:
        reader, writer = await _raw(server.port)
        writer.write(os.urandom(30))
        writer.write_eof()
        port = await _closed_by_server(reader, writer)
        _warned(warnings, f"127.0.0.1:{port}", "HandshakeError", "30 bytes")
        await round_trip(good)


async def test_random_bytes_instead_of_handshake(
    start_server: Any, honest: Any, round_trip: Any, warnings: Any
) -> None:
    server = await start_server()
    async with honest(server.port) as good:
        reader, writer = await _raw(server.port)
        writer.write(os.urandom(300))
        port = await _closed_by_server(reader, writer)
        _warned(warnings, f"127.0.0.1:{port}", "DecryptError")
        await round_trip(good)


async def test_stalled_handshake_hits_deadline(
    start_server: Any, honest: Any, round_trip: Any, warnings: Any
) -> None:
    server = await start_server(limits=Limits(handshake_timeout=0.3))
    async with honest(server.port) as good:
        reader, writer = await _raw(server.port)
        writer.write(os.urandom(20))
        started = time.monotonic()
        port = await _closed_by_server(reader, writer)
        assert 0.25 < time.monotonic() - started < 3
        _warned(warnings, f"127.0.0.1:{port}", "handshake not completed within 0.3 s")
        await round_trip(good)


async def test_client_refuses_stalling_server(warnings: Any) -> None:
    finished = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read(64)
            await reader.read()  # until the client gives up and closes
        except ConnectionResetError:
            pass
        finally:
            writer.close()
            finished.set()

    srv = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TimeoutError):
            await open_sv2_connection("127.0.0.1", port, None, timeout=0.3)
        await asyncio.wait_for(finished.wait(), 5)
    finally:
        srv.close()
        await srv.wait_closed()


async def test_frame_over_maximum_size(
    start_server: Any, honest: Any, round_trip: Any, authority: Keypair, warnings: Any
) -> None:
    server = await start_server(limits=Limits(max_payload_size=1000))
    async with honest(server.port) as good:
        core, reader, writer = await _raw_handshake(server.port, authority)
        core.send(RequestTransactionDataSuccess(1, b"", (bytes(2000),)))
        writer.write(core.data_to_send())
        port = await _closed_by_server(reader, writer)
        _warned(warnings, f"127.0.0.1:{port}", "FrameTooLarge", "exceeds the maximum 1000")
        await round_trip(good)


async def test_per_address_connection_limit(
    start_server: Any, honest: Any, round_trip: Any, warnings: Any
) -> None:
    server = await start_server(limits=Limits(max_connections_per_address=2))
    first = await honest(server.port)
    second = await honest(server.port)
    with pytest.raises((HandshakeError, ConnectionClosed, ConnectionResetError)):
        await honest(server.port)
    _warned(warnings, "refused: too many connections from 127.0.0.1")
    await round_trip(first)
    await round_trip(second)
    first.close()
    await first.wait_closed()
    for _ in range(100):  # the server notices the close
        if server.counter.count("127.0.0.1") < 2:
            break
        await asyncio.sleep(0.01)
    async with honest(server.port) as third:
        await round_trip(third)
    second.close()


async def test_idle_timeout(start_server: Any, honest: Any, round_trip: Any, warnings: Any) -> None:
    server = await start_server(limits=Limits(idle_timeout=0.3))
    async with honest(server.port) as idle, honest(server.port) as busy:
        for _ in range(6):
            await round_trip(busy)
            await asyncio.sleep(0.1)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(idle.recv(), 3)
        _warned(warnings, "idle for 0.3 s")
        await round_trip(busy)
