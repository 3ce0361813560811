"""The one-port listener: classification of first bytes, and both protocols on one socket."""

from __future__ import annotations

import asyncio
import json
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from stratumv2.connection import Connection
from stratumv2.net.client import open_sv2_connection
from stratumv2.net.limits import Limits
from stratumv2.net.mux import classify, serve_mux, sv2_transport_handler
from stratumv2.net.pump import Sv2Connection, new_secret
from stratumv2.net.server import Sv2Server
from stratumv2.net.sv1 import Sv1Connection, Sv1Server
from stratumv2.noise import Keypair
from stratumv2.protocol import SetupConnection, SetupConnectionSuccess

SUBSCRIBE = b'{"id":1,"method":"mining.subscribe","params":["cpuminer/2.5.1"]}\n'


def _act1() -> bytes:
    core = Connection.initiator(None, new_secret(), 0)
    return core.data_to_send()


def test_classify_real_first_messages() -> None:
    act1 = _act1()
    assert len(act1) == 64
    assert classify(act1) == "sv2"
    assert classify(SUBSCRIBE) == "sv1"
    assert classify(b"  \r\n" + SUBSCRIBE) == "sv1"
    assert classify(b'{"id": 1, "method": "mining.conf') is None  # need more
    assert classify(b"") is None and classify(b"   ") is None
    assert classify(b'{"id":1,"method":"mining.subscribe","params":["bitaxe/\xc3\xa9"]}\n') == "sv1"
    assert classify(b"{" + bytes(63)) == "sv2"  # a handshake starting with 0x7b
    assert classify(b"GET / HTTP/1.1\r\n") == "sv2"  # not SV1: the SV2 side will refuse it


def test_classify_byte_at_a_time() -> None:
    for message, kind in ((SUBSCRIBE, "sv1"), (_act1(), "sv2")):
        decided = None
        for i in range(1, len(message) + 1):
            decided = classify(message[:i])
            if decided is not None:
                break
        assert decided == kind


@settings(max_examples=2000, deadline=None)
@given(st.binary(min_size=64, max_size=64))
def test_sv1_only_for_a_text_line(data: bytes) -> None:
    for candidate in (data, b"{" + data[1:]):
        if classify(candidate) == "sv1":
            head = candidate.lstrip(b" \t\r\n")
            line = head.split(b"\n", 1)[0]
            assert head.startswith(b"{")
            assert all(b >= 32 or b in (9, 13) for b in line[:64])


def test_random_handshakes_starting_with_brace_are_sv2() -> None:
    """200 000 random act-1 messages that happen to start with '{': none is taken for SV1."""
    wrong = sum(classify(b"{" + os.urandom(63)) != "sv2" for _ in range(200_000))
    assert wrong == 0


async def test_both_protocols_on_one_port() -> None:
    received: list[bytes] = []

    async def sv1_handler(conn: Sv1Connection) -> None:
        async for chunk in conn:
            received.append(chunk)
            conn.write(b'{"id":1,"result":true,"error":null}\n')

    async def sv2_handler(conn: Sv2Connection) -> None:
        setup = await conn.recv()
        assert isinstance(setup, SetupConnection)
        await conn.send(SetupConnectionSuccess(used_version=2, flags=0))
        await conn.recv()

    limits = Limits(handshake_timeout=2.0)
    sv1 = Sv1Server(sv1_handler, limits)
    sv2 = Sv2Server(sv2_handler, Keypair(new_secret()), limits)
    mux = await serve_mux("127.0.0.1", 0, sv1.serve_transport, sv2_transport_handler(sv2), limits)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", mux.port)
        writer.write(SUBSCRIBE)
        line = await asyncio.wait_for(reader.readline(), 5)
        assert json.loads(line)["result"] is True
        conn = await open_sv2_connection("127.0.0.1", mux.port, sv2.authority_public_key)
        await conn.send(
            SetupConnection(
                protocol=0, min_version=2, max_version=2, flags=0, endpoint_host="",
                endpoint_port=0, vendor="t", hardware_version="", firmware="", device_id="",
            )
        )  # fmt: skip
        assert isinstance(await asyncio.wait_for(conn.recv(), 5), SetupConnectionSuccess)
        # the SV1 connection still works while the SV2 one is open
        writer.write(SUBSCRIBE)
        assert json.loads(await asyncio.wait_for(reader.readline(), 5))["result"] is True
        assert b"".join(received) == SUBSCRIBE * 2
        sv1_conn = next(iter(sv1.connections))
        assert sv1_conn.bytes_in == 2 * len(SUBSCRIBE)
        assert conn.bytes_out > 64
        assert (mux.stats.sv1, mux.stats.sv2) == (1, 1)
        conn.close()
        writer.close()
        # a silent client is closed after the handshake timeout
        silent_reader, silent_writer = await asyncio.open_connection("127.0.0.1", mux.port)
        assert await asyncio.wait_for(silent_reader.read(), 5) == b""
        silent_writer.close()
        assert mux.stats.timeouts == 1
    finally:
        await mux.close()
        await sv1.close()
        await sv2.close()


async def test_sv1_server_limits_and_idle() -> None:
    async def handler(conn: Sv1Connection) -> None:
        async for _ in conn:
            pass

    server = Sv1Server(handler, Limits(max_connections_per_address=1), idle_timeout=0.3)
    await server.start("127.0.0.1", 0)
    try:
        r1, w1 = await asyncio.open_connection("127.0.0.1", server.port)
        w1.write(os.urandom(4))
        r2, w2 = await asyncio.open_connection("127.0.0.1", server.port)
        assert await asyncio.wait_for(r2.read(), 5) == b""  # refused: one per address
        assert await asyncio.wait_for(r1.read(), 5) == b""  # closed when idle
        w1.close()
        w2.close()
    finally:
        await server.close()
