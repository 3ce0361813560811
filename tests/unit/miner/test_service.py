"""MinerService over real Noise sockets on 127.0.0.1: shares accepted, reconnect after a drop."""

from __future__ import annotations

import time
from typing import Any

from stratumv2.net.client import Backoff, Endpoint
from stratumv2.net.pump import Sv2Connection, new_secret
from stratumv2.net.server import Sv2Server
from stratumv2.noise import Keypair
from stratumv2.protocol import Reconnect, SubmitSharesSuccess
from stratumv2.roles.miner.core import MinerConfig
from stratumv2.roles.miner.service import HashrateMeter, MinerService, format_hashrate
from stratumv2.roles.miner.workers import WorkerPool


async def test_miner_service_reconnects_and_reaches_max_shares(mini_pool: Any) -> None:
    connections: list[Any] = []

    async def handler(conn: Sv2Connection) -> None:
        pool = mini_pool(target=(1 << 256) >> 13)  # one hash in 8192
        pool.now = int(time.time())  # the miner rolls nTime from the real clock
        connections.append(pool)
        first = len(connections) == 1
        async for message in conn:
            for reply in pool.handle(message):
                await conn.send(reply)
                if first and isinstance(reply, SubmitSharesSuccess):
                    conn.close("drop the first connection after one share")
                    return

    server = Sv2Server(handler, Keypair(new_secret()), name="scripted pool")
    await server.start("127.0.0.1", 0)
    pool = WorkerPool(workers=1)
    pool.start()
    try:
        service = MinerService(
            MinerConfig(channel="extended", user_identity="carol"),
            pool,
            max_shares=4,
            status_interval=0.2,
        )
        endpoint = Endpoint("127.0.0.1", server.port, server.authority_public_key)
        stats = await service.run(
            [endpoint], duration=60, backoff=Backoff(initial=0.05, maximum=0.1)
        )
    finally:
        pool.close()
        await server.close()
    assert len(connections) == 2, "the miner reconnected"
    assert stats.accepted >= 4 and stats.rejected == 0, stats
    assert all(r.accepted for p in connections for r in p.results)
    assert connections[1].channel.user_identity == "carol"
    assert "accepted" in service.status_line() and "H/s" in service.status_line()


def test_hashrate_meter_and_format() -> None:
    meter = HashrateMeter(window=10)
    assert meter.rate(0) == 0.0
    meter.add(1000, 100.0)
    meter.add(1000, 101.0)
    assert meter.rate(101.0) == 2000.0  # 2000 hashes over 1 s
    meter.add(1000, 120.0)  # the older samples fall out of the window
    assert meter.rate(120.0) == 100.0
    assert format_hashrate(1234567) == "1.23 MH/s" and format_hashrate(12) == "12 H/s"
    assert format_hashrate(1.2e12) == "1.20 TH/s" and format_hashrate(0) == "0 H/s"
    # a regtest demo miner: below 1 H/s is shown as it is, not rounded to zero
    assert format_hashrate(0.1) == "0.10 H/s" and format_hashrate(2.5) == "2.50 H/s"
    assert format_hashrate(0.004) == "0.004 H/s"


async def test_wrong_authority_key_never_connects(mini_pool: Any) -> None:
    async def handler(conn: Sv2Connection) -> None:
        raise AssertionError("no session expected")

    server = Sv2Server(handler, Keypair(new_secret()), name="pool")
    await server.start("127.0.0.1", 0)
    other = Keypair(new_secret())
    pool = WorkerPool(workers=1)
    pool.start()
    try:
        service = MinerService(MinerConfig(), pool, max_shares=1)
        endpoint = Endpoint("127.0.0.1", server.port, other.public_key)
        stats = await service.run([endpoint], duration=1.0, backoff=Backoff(initial=0.1))
    finally:
        pool.close()
        await server.close()
    assert stats.accepted == 0 and stats.submitted == 0


async def test_reconnect_message_moves_the_miner(mini_pool: Any) -> None:
    seen: dict[str, int] = {"first": 0, "second": 0}
    key = Keypair(new_secret())
    second_port: list[int] = []

    def serve(name: str) -> Any:
        async def handler(conn: Sv2Connection) -> None:
            seen[name] += 1
            pool = mini_pool(target=(1 << 256) >> 13)
            pool.now = int(time.time())
            async for message in conn:
                for reply in pool.handle(message):
                    await conn.send(reply)
                if name == "first" and pool.channel is not None:
                    await conn.send(Reconnect(new_host="", new_port=second_port[0]))

        return handler

    first = Sv2Server(serve("first"), key, name="first")
    second = Sv2Server(serve("second"), key, name="second")
    await first.start("127.0.0.1", 0)
    await second.start("127.0.0.1", 0)
    second_port.append(second.port)
    workers = WorkerPool(workers=1)
    workers.start()
    try:
        service = MinerService(MinerConfig(), workers, max_shares=2)
        endpoint = Endpoint("127.0.0.1", first.port, first.authority_public_key)
        stats = await service.run(
            [endpoint], duration=60, backoff=Backoff(initial=0.05, maximum=0.1)
        )
    finally:
        workers.close()
        await first.close()
        await second.close()
    assert stats.accepted >= 2 and seen == {"first": 1, "second": 1}
