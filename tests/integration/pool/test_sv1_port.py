"""`sv2 pool --listen` serves SV1 devices too (an in-process translator), and SIGTERM stops
the pool cleanly."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from stratumv2.bitcoin.address import address_to_script
from stratumv2.roles.regtest_node.testing import REGTEST_ADDRESS, running_node

pytestmark = pytest.mark.slow

SOLO_ADDRESS = "bcrt1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qzf4jry"


async def test_sv1_device_on_the_pool_port_finds_blocks_and_sigterm_stops_the_pool(
    tmp_path: Path, tp_runner: Any, pool_runner: Any
) -> None:
    async with running_node(tmp_path / "node") as node, node.rpc() as rpc:
        await rpc.call("generatetoaddress", 1, node.address)
        async with tp_runner(node.url, node.cookie_path, tmp_path / "tp") as tp:
            args = [
                "--network", "regtest",
                "--sv2-listen", "",
                "--listen", "127.0.0.1:0",
                "--tp", f"127.0.0.1:{tp.address[1]}",
                "--tp-authority-key", tp.authority_key,
                "--address", REGTEST_ADDRESS,
                "--mode", "solo",
            ]  # fmt: skip
            async with pool_runner(args, tmp_path / "pool", ports=1) as (proc, _key, ports):
                height = int(await rpc.call("getblockcount"))
                miner = await asyncio.create_subprocess_exec(
                    str(Path(sys.executable).with_name("sv2")),
                    "miner", "--sv1",
                    "--upstream", f"127.0.0.1:{ports[0]}",
                    "--user", f"{SOLO_ADDRESS}.bitaxe",
                    "--hashrate-limit", "50",
                    "--max-shares", "2",
                    "--duration", "60",
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                )  # fmt: skip
                out, _ = await asyncio.wait_for(miner.communicate(), 90)
                assert miner.returncode == 0, out.decode()[-3000:]
                for _ in range(100):
                    if int(await rpc.call("getblockcount")) > height:
                        break
                    await asyncio.sleep(0.05)
                best = await rpc.call("getbestblockhash")
                block = await rpc.call("getblock", best, 2)
                assert block["height"] > height, "no block from the SV1 device reached the node"
                script = bytes.fromhex(block["tx"][0]["vout"][0]["scriptPubKey"]["hex"])
                assert script == address_to_script(SOLO_ADDRESS, "regtest"), (
                    "address-as-username pays the SV1 device's address"
                )

                proc.send_signal(signal.SIGTERM)
                rc = await asyncio.wait_for(proc.wait(), 15)
                assert rc == 0, "SIGTERM is a clean stop"
