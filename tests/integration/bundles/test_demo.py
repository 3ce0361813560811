"""`sv2 demo` in a subprocess: blocks the kernel accepted, the API, Ctrl-C, a second run."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from stratumv2.roles.regtest_node.testing import running_node

pytestmark = pytest.mark.slow


async def test_demo_finds_blocks_and_continues_the_chain(
    tmp_path: Path, run_sv2: Any, free_ports: list[str]
) -> None:
    datadir = tmp_path / "demo"
    started = time.monotonic()
    args = ("demo", "--datadir", str(datadir), "--duration", "120", "--status-interval", "1")
    async with run_sv2(*args, *free_ports) as p:
        found = await p.wait_line(
            r"^block found: height=(\d+) hash=([0-9a-f]{64}) .*node=accepted", 90
        )
        first_after = time.monotonic() - started
        # the live status: hashrate (below 1 H/s shown as such), shares, blocks, last block
        status = await p.wait_line(
            r"^status: height=\d+ hashrate=.* \(pool sees ([0-9.]+) (k?)H/s over \d+ s\)"
            r" shares=[1-9]\d*/\d+ rejected blocks=[1-9].* last: \d+ with \d+ txs paid bcrt1",
            30,
        )
        assert float(status.group(1)) > 0, status.group(0)
        height, block_hash = int(found.group(1)), found.group(2)
        url = f"http://127.0.0.1:{p.port('dashboard')}"
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/api/blocks") as response:
                blocks = {b["hash"]: b for b in await response.json()}
            async with http.get(url + "/api/status") as response:
                api_status = await response.json()
            async with http.get(url + "/metrics") as response:
                metrics = await response.text()
        assert blocks[block_hash]["accepted"] is True and blocks[block_hash]["height"] == height
        assert api_status["blocks_found"] >= 1 and api_status["shares_accepted"] >= 1
        assert "sv2_blocks_found_total" in metrics
        p.proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop
        assert await p.rest(60) == 0, "\n".join(p.lines)
        assert any(line.startswith("stopped;") for line in p.lines)
    print(f"first block {first_after:.1f} s after start")  # shown with -s
    async with running_node(datadir / "node") as node, node.rpc() as rpc:
        block = await rpc.call("getblock", block_hash, 1)
        assert block["confirmations"] >= 1  # the kernel kept it in its best chain
        tip = await rpc.getblockcount()
    args = ("demo", "--datadir", str(datadir), "--blocks", "1", "--duration", "90", *free_ports)
    async with run_sv2(*args) as p:
        again = await p.wait_line(r"^block found: height=(\d+) .*node=accepted", 90)
        assert int(again.group(1)) > tip  # the same chain, continued
        assert await p.rest(60) == 0, "\n".join(p.lines)
