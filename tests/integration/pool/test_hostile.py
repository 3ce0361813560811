"""Two kinds of miners at once on one pool service: hostile ones (garbage bytes, SV1 text on
the SV2 port, an oversize frame, unknown channels, a share flood, a peer that never reads)
are answered or dropped -- logged with their address -- while an honest miner keeps getting
its shares accepted."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from stratumv2.app.store import AsyncStore
from stratumv2.connection import Connection
from stratumv2.net.limits import Limits
from stratumv2.net.mux import classify
from stratumv2.net.pump import Sv2Connection, new_secret
from stratumv2.noise import Keypair
from stratumv2.protocol import SubmitSharesError, SubmitSharesStandard, SubmitSharesSuccess
from stratumv2.protocol.framing import encode_header
from stratumv2.roles.pool.core import PoolConfig, PoolCore
from stratumv2.roles.pool.service import PoolService

pytestmark = pytest.mark.slow

SCRIPT = bytes.fromhex("0014751e76e8199196d454941c45d1b3a323f1433bd6")


def _bad_share(channel_id: int, seq: int) -> SubmitSharesStandard:
    return SubmitSharesStandard(
        channel_id=channel_id, sequence_number=seq, job_id=1, nonce=seq, ntime=0, version=0
    )


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        while await asyncio.wait_for(reader.read(4096), seconds):
            pass
    except (TimeoutError, ConnectionError):
        return False
    return True


async def _slow_reader(address: tuple[str, int], key: str) -> Sv2Connection:
    """A Noise connection whose socket takes 4 KiB at most and which never reads."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, address)
    from stratumv2.noise.keys import decode_authority_public_key

    core = Connection.initiator(decode_authority_public_key(key), new_secret(), time.time())
    _, conn = await loop.create_connection(lambda: Sv2Connection(core, Limits()), sock=sock)
    await conn.wait_handshake()
    return conn


async def test_hostile_peers_do_not_stop_an_honest_miner(
    tmp_path: Path, miner_class: Any, hard_templates: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    template, prev_hash = hard_templates
    core = PoolCore(
        PoolConfig(
            payout_script=SCRIPT,
            vardiff=None,
            share_batch_size=1,
            share_rate=2000.0,
            share_burst=6000.0,
            flood_disconnect=500,
        )
    )
    async with AsyncStore(tmp_path / "pool.sqlite") as store:
        service = PoolService(
            core,
            Keypair(new_secret()),
            store=store,
            limits=Limits(max_payload_size=4096, handshake_timeout=2.0),
            max_write_backlog=64 << 10,
        )
        sv2, listen = await service.start(("127.0.0.1", 0), ("127.0.0.1", 0))
        await service.on_td_event(template())
        await service.on_td_event(prev_hash())
        key = service.authority_public_key
        honest = await miner_class.connect(sv2, key, 0x1)
        ch = await honest.open(False, user="honest.rig", hashrate=100.0)
        stop = asyncio.Event()
        accepted = 0

        async def mine() -> None:
            nonlocal accepted
            i = 0
            while not stop.is_set():
                reply = await honest.submit(honest.make_share(ch, nonce_start=i << 16))
                assert isinstance(reply, SubmitSharesSuccess), reply
                accepted += 1
                i += 1
                await asyncio.sleep(0.005)

        miner_task = asyncio.create_task(mine())

        # 1. random bytes instead of a handshake, on both ports
        for port in (sv2, listen):
            reader, writer = await asyncio.open_connection(*port)
            writer.write(os.urandom(200))
            assert await _closed_within(reader, 5)
            writer.close()
        # 2. SV1 text on the SV2-only port; on --listen it is recognised (and not served yet)
        assert classify(b'{"id": 1, "method": "mining.subscribe", "params": []}\n') == "sv1"
        for port in (sv2, listen):
            reader, writer = await asyncio.open_connection(*port)
            writer.write(b'{"id": 1, "method": "mining.subscribe", "params": ["cpuminer"]}\n')
            assert await _closed_within(reader, 5)
            writer.close()
        # 3. an oversize frame after a good handshake and setup
        big = await miner_class.connect(listen, key)
        big.conn.send_frame(encode_header(0, 0x1A, 8192, True), bytes(8192))
        await asyncio.wait_for(big.conn.wait_closed(), 5)
        # 4. unknown channels, and the honest miner's channel id from another connection
        nosy = await miner_class.connect(sv2, key)
        await nosy.conn.send(_bad_share(77, 1))
        await nosy.conn.send(_bad_share(ch.channel_id, 2))
        for _ in range(2):
            reply = await asyncio.wait_for(nosy.replies.get(), 5)
            assert isinstance(reply, SubmitSharesError)
            assert reply.error_code == "invalid-channel-id"
        # 5. a flood: errors, then rate-limited, then the connection is dropped
        flood = await miner_class.connect(sv2, key)
        for seq in range(20_000):
            if flood.conn.is_closed:
                break
            flood.conn.send_nowait(_bad_share(5, seq))
            if seq % 500 == 0:
                await asyncio.sleep(0)
        await asyncio.wait_for(flood.conn.wait_closed(), 10)
        codes = {e.error_code for e in flood.errors}
        assert codes == {"invalid-channel-id", "rate-limited"}
        # 6. a peer that never reads: disconnected once 64 KiB wait for it
        slow = await _slow_reader(sv2, key)
        await slow.send(honest_setup())
        for _ in range(500):  # wait for the pool to register it (slow under load)
            found = [c for c in service.connections.values() if c.peer == slow.local]
            if found:
                break
            await asyncio.sleep(0.01)
        (server_side,) = found
        server_side._transport.get_extra_info("socket").setsockopt(  # type: ignore[union-attr]
            socket.SOL_SOCKET, socket.SO_SNDBUF, 4096
        )
        slow._transport.pause_reading()  # type: ignore[union-attr]
        for seq in range(5000):
            if slow.is_closed:
                break
            slow.send_nowait(_bad_share(9, seq))
            if seq % 200 == 0:
                await asyncio.sleep(0.01)
        await asyncio.wait_for(slow.wait_closed(), 10)

        stop.set()
        await miner_task
        assert accepted >= 5 and not honest.errors
        reply = await honest.submit(honest.make_share(ch, nonce_start=1 << 30))
        assert isinstance(reply, SubmitSharesSuccess)
        await honest.close()
        await nosy.close()
        await service.close()
    logs = caplog.text
    assert "oversize" in logs.lower() or "too large" in logs.lower() or "payload" in logs.lower()
    assert "message flood" in logs and "not reading" in logs
    assert logs.count("127.0.0.1:") >= 4


def honest_setup() -> Any:
    from stratumv2.protocol import SetupConnection

    return SetupConnection(
        protocol=0,
        min_version=2,
        max_version=2,
        flags=0,
        endpoint_host="127.0.0.1",
        endpoint_port=0,
        vendor="slow",
        hardware_version="",
        firmware="",
        device_id="",
    )
