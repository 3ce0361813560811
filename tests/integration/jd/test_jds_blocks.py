"""The JDS never loses a block: saved first, retried while the node is unreachable, and
submitted again by the next start."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from stratumv2.bitcoin.block import Block
from stratumv2.bitcoin.hashes import hash_to_hex
from stratumv2.net.rpc import BitcoinRpc
from stratumv2.roles.jd_server.service import BlockSubmitter
from stratumv2.roles.regtest_node.testing import block_from_gbt, running_node

pytestmark = pytest.mark.slow


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_block_survives_a_node_outage(tmp_path: Path) -> None:
    blocks = tmp_path / "blocks"
    async with running_node(tmp_path / "node") as node, node.rpc() as rpc:
        gbt = await rpc.getblocktemplate()
        data = block_from_gbt(gbt)
        block_hash = hash_to_hex(Block.parse(data).hash())
        dead = BitcoinRpc(f"http://127.0.0.1:{_closed_port()}", user="u", password="p", timeout=1)
        down = BlockSubmitter(dead, blocks, retry_interval=0.05)
        path = down.submit(data, gbt["height"])
        await asyncio.sleep(0.3)  # several failed attempts
        assert path.exists() and down.submitted == 0
        await down.close()  # the JDS stops with the block still pending
        await dead.close()
        up = BlockSubmitter(rpc, blocks)
        assert up.resubmit_pending() == 1
        for _ in range(100):
            if up.submitted:
                break
            await asyncio.sleep(0.05)
        assert up.submitted == 1 and path.with_suffix(".submitted").exists()
        assert await rpc.getbestblockhash() == block_hash
        # the same block again is not submitted twice
        up.submit(data, gbt["height"])
        await up.close()
        assert up.submitted == 1
