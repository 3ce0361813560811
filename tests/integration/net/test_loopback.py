"""Honest SV2 connections over loopback TCP: round trips, counters, close, reconnects."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from stratumv2.net import (
    Backoff,
    ConnectionClosed,
    Endpoint,
    Limits,
    Sv2Connection,
    connect_with_backoff,
    open_sv2_connection,
    run_client,
)
from stratumv2.noise import Keypair
from stratumv2.protocol import RequestTransactionDataSuccess

pytestmark = pytest.mark.timeout(30)


async def test_round_trips_and_byte_counters(
    start_server: Any, honest: Any, round_trip: Any
) -> None:
    server = await start_server()
    async with honest(server.port) as conn:
        assert conn.handshake is not None
        for flags in range(5):
            await round_trip(conn, flags)
        big = RequestTransactionDataSuccess(7, b"x" * 1000, (b"\x01" * 200_000,))
        await conn.send(big)
        assert await conn.recv() == big
        (server_conn,) = server.connections
        assert server_conn.peer == ("127.0.0.1", conn.local[1])
        assert conn.bytes_out == server_conn.bytes_in > 200_000
        assert conn.bytes_in == server_conn.bytes_out
    await asyncio.sleep(0.05)
    assert not server.connections and server.counter.total == 0


async def test_awaitable_open_and_many_clients(start_server: Any, round_trip: Any) -> None:
    server = await start_server()
    conns = await asyncio.gather(
        *(
            open_sv2_connection("127.0.0.1", server.port, server.authority_public_key)
            for _ in range(20)
        )
    )
    await asyncio.gather(*(round_trip(c, i) for i, c in enumerate(conns)))
    assert len(server.connections) == 20
    for c in conns:
        c.close()
        await c.wait_closed()


async def test_server_close_is_orderly(start_server: Any, honest: Any, round_trip: Any) -> None:
    server = await start_server()
    conn = await honest(server.port)
    await round_trip(conn)
    await server.close()
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(conn.recv(), 5)
    await conn.wait_closed()


async def test_handler_return_closes_connection(start_server: Any, honest: Any) -> None:
    async def one_shot(conn: Sv2Connection) -> None:
        await conn.send(await conn.recv())

    server = await start_server(one_shot)
    async with honest(server.port) as conn:
        big = RequestTransactionDataSuccess(1, b"", ())
        await conn.send(big)
        assert await conn.recv() == big
        with pytest.raises(ConnectionClosed):
            await conn.recv()


async def test_connect_with_backoff_skips_dead_endpoint(
    start_server: Any, authority: Keypair, round_trip: Any
) -> None:
    server = await start_server()
    dead = Endpoint("127.0.0.1", 1, authority.public_key)
    live = Endpoint("127.0.0.1", server.port, server.authority_public_key)
    conn = await connect_with_backoff([dead, live], backoff=Backoff(0.01), timeout=2)
    await round_trip(conn)
    conn.close()
    with pytest.raises(OSError):
        await connect_with_backoff([dead], backoff=Backoff(0.01), attempts=3, timeout=2)


async def test_run_client_reconnects(start_server: Any, round_trip: Any) -> None:
    async def drop_after_one(conn: Sv2Connection) -> None:
        await conn.send(await conn.recv())

    server = await start_server(drop_after_one)
    sessions: list[int] = []
    done = asyncio.Event()

    async def session(conn: Sv2Connection) -> None:
        sessions.append(conn.peer[1])
        big = RequestTransactionDataSuccess(len(sessions), b"", ())
        await conn.send(big)
        assert await conn.recv() == big
        if len(sessions) == 3:
            done.set()
        await conn.recv()  # the server closes: ConnectionClosed

    task = asyncio.create_task(
        run_client(
            [Endpoint("127.0.0.1", server.port, server.authority_public_key)],
            session,
            backoff=Backoff(0.01, 0.05),
        )
    )
    await asyncio.wait_for(done.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sessions == [server.port] * 3


def test_backoff_grows_and_resets() -> None:
    b = Backoff(1.0, 8.0, 2.0, jitter=0.0)
    assert [b.next_delay() for _ in range(6)] == [1, 2, 4, 8, 8, 8]
    b.reset()
    assert b.next_delay() == 1
    j = Backoff(10.0, jitter=0.5, rng=lambda: 1.0)
    assert j.next_delay() == 15.0


async def test_in_memory_connection(start_server: Any, round_trip: Any) -> None:
    server = await start_server()
    conn = await server.connect_in_memory()
    assert conn.peer[0] == "memory" and conn.handshake is not None
    for flags in range(3):
        await round_trip(conn, flags)
    (server_conn,) = server.connections
    assert server_conn.bytes_in == conn.bytes_out and server_conn.bytes_out == conn.bytes_in
    conn.close()
    await conn.wait_closed()
    for _ in range(100):
        if not server.connections:
            break
        await asyncio.sleep(0.01)
    assert not server.connections and server.counter.total == 0


@pytest.mark.parametrize("transport", ["tcp", "memory"])
async def test_slow_reader_pauses_and_resumes(start_server: Any, transport: str) -> None:
    """With a 4-message queue, 60 messages sent to a handler that reads late all arrive in
    order (the server pauses reading, then resumes)."""
    gate = asyncio.Event()
    got: list[int] = []

    async def late_reader(conn: Sv2Connection) -> None:
        await gate.wait()
        async for message in conn:
            assert isinstance(message, RequestTransactionDataSuccess)
            got.append(message.template_id)
            if len(got) == 60:
                await conn.send(message)

    server = await start_server(late_reader, Limits(max_queued_messages=4))
    if transport == "tcp":
        conn = await open_sv2_connection("127.0.0.1", server.port, server.authority_public_key)
    else:
        conn = await server.connect_in_memory()
    for i in range(60):
        await conn.send(RequestTransactionDataSuccess(i, b"", (bytes(1000),)))
    await asyncio.sleep(0.05)
    (server_conn,) = server.connections
    assert server_conn._read_paused  # the queue bound was hit
    gate.set()
    last = await asyncio.wait_for(conn.recv(), 10)
    assert got == list(range(60)) and last == RequestTransactionDataSuccess(59, b"", (bytes(1000),))
    conn.close()
    await conn.wait_closed()
