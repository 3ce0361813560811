"""The node as a service: ZMQ hashblock, the tx generator at a rate, the CLI process."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import pytest
import zmq
import zmq.asyncio

from stratumv2.bitcoin.hashes import hash_to_hex
from stratumv2.net.rpc import BitcoinRpc
from stratumv2.roles.regtest_node.testing import block_from_gbt, running_node


async def test_zmq_hashblock_like_bitcoind(tmp_path: Path) -> None:
    async with running_node(tmp_path, zmq="tcp://127.0.0.1:0") as handle, handle.rpc() as rpc:
        assert handle.zmq_endpoint and not handle.zmq_endpoint.endswith(":0")
        context = zmq.asyncio.Context()
        sub = context.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"hashblock")
        sub.connect(handle.zmq_endpoint)
        try:
            received: list[list[bytes]] = []
            for _attempt in range(50):  # the slow-joiner: mine until the subscription is live
                await rpc.call("generatetoaddress", 1, handle.address)
                if await sub.poll(100):
                    received.append(await sub.recv_multipart())
                    break
            assert received, "no hashblock message"
            topic, body, sequence = received[0]
            assert topic == b"hashblock" and len(body) == 32 and len(sequence) == 4
            assert body.hex() == await rpc.getbestblockhash()
            first = int.from_bytes(sequence, "little")
            block = block_from_gbt(await rpc.getblocktemplate())
            assert await rpc.submitblock(block.hex()) is None
            topic, body, sequence = await asyncio.wait_for(sub.recv_multipart(), 5)
            assert body.hex() == await rpc.getbestblockhash()
            assert int.from_bytes(sequence, "little") == first + 1
        finally:
            sub.close(0)
            context.term()


async def test_tx_rate_bootstraps_funds_and_fills_templates(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="stratumv2.roles.regtest_node")
    async with running_node(tmp_path, tx_rate=50.0) as handle, handle.rpc() as rpc:
        for _ in range(100):
            if len(await rpc.getrawmempool()) >= 10:
                break
            await asyncio.sleep(0.05)
        assert await rpc.getblockcount() >= 101  # mined its own coins first, and said so
        assert "no mature coins: mining 110 blocks to its own key" in caplog.text
        gbt = await rpc.getblocktemplate()
        assert len(gbt["transactions"]) >= 10
        assert len({t["fee"] * 1000 // t["weight"] for t in gbt["transactions"]}) > 1
        block = block_from_gbt(gbt)
        assert await rpc.submitblock(block.hex()) is None


async def test_cli_runs_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    sv2 = Path(sys.executable).with_name("sv2")
    proc = await asyncio.create_subprocess_exec(
        str(sv2),
        "regtest-node",
        "--datadir",
        str(tmp_path),
        "--rpcport",
        "0",
        "--log-level",
        "warning",
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    try:
        url = printed_cookie = ""
        while not (url and printed_cookie):  # it says where it listens and where the cookie is
            line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
            assert line, "node exited early"
            if "JSON-RPC on " in line:
                url = line.split("JSON-RPC on ", 1)[1].strip()
            if "cookie file " in line:
                printed_cookie = line.split("cookie file ", 1)[1].strip()
        cookie = tmp_path / "regtest" / ".cookie"
        assert Path(printed_cookie) == cookie and cookie.is_file()
        assert url.startswith("http://127.0.0.1:")
        async with BitcoinRpc(url, cookie_file=cookie) as rpc:
            hashes = await rpc.call(
                "generatetoaddress", 2, "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
            )
            assert await rpc.getbestblockhash() == hashes[-1]
        proc.send_signal(signal.SIGTERM)
        rest = (await asyncio.wait_for(proc.stderr.read(), 30)).decode()
        assert await proc.wait() == 0
        assert "flushed" in rest
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    async with running_node(tmp_path) as handle, handle.rpc() as rpc:
        assert await rpc.getbestblockhash() == hashes[-1]
        assert hash_to_hex(handle.node.chain.tip.hash) == hashes[-1]


async def test_zmq_endpoint_in_use_fails_cleanly(tmp_path: Path) -> None:
    async with running_node(tmp_path / "a", zmq="tcp://127.0.0.1:0") as first:
        endpoint = first.zmq_endpoint
        with pytest.raises(OSError, match="ZMQ"):
            async with running_node(tmp_path / "b", zmq=endpoint):
                pass
    assert not (tmp_path / "b" / "regtest" / ".cookie").exists()
    async with running_node(tmp_path / "b") as handle, handle.rpc() as rpc:
        assert await rpc.getblockcount() == 0  # the failed start left the datadir usable
