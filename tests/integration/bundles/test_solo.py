"""`sv2 solo` (subprocess) on the embedded regtest node standing in for bitcoind, with an SV2
and an SV1 CPU miner both on the device port (3333's stand-in): blocks, API, connections."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from stratumv2.bitcoin.address import address_to_script
from stratumv2.net.client import Endpoint
from stratumv2.roles.miner.core import MinerConfig
from stratumv2.roles.miner.service import MinerService
from stratumv2.roles.miner.sv1_client import Sv1ClientConfig
from stratumv2.roles.miner.workers import WorkerPool
from stratumv2.roles.regtest_node.testing import REGTEST_ADDRESS, running_node

pytestmark = pytest.mark.slow

SV1_ADDRESS = "bcrt1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qzf4jry"


async def test_solo_serves_sv1_and_sv2_on_one_port(
    tmp_path: Path, run_sv2: Any, free_ports: list[str]
) -> None:
    async with running_node(tmp_path / "node") as node, node.rpc() as rpc:
        await rpc.call("generatetoaddress", 1, node.address)
        args = [
            "solo", "--network", "regtest", "--datadir", str(tmp_path / "solo"),
            "--rpcurl", node.url, "--rpccookiefile", str(node.cookie_path),
            "--address", REGTEST_ADDRESS, *free_ports,
        ]  # fmt: skip
        async with run_sv2(*args) as p:
            key = (await p.wait_line(r"authority public key: (\w+)", 60)).group(1)
            await p.wait_line(r"^dashboard: ", 30)
            sv1_url = await p.wait_line(r"stratum\+tcp://[^:]+:(\d+)", 1)
            port = p.port("listen")
            assert int(sv1_url.group(1)) == port
            assert (tmp_path / "solo" / "authority.pub").read_text().strip() == key
            pools = [WorkerPool(1, 2.0), WorkerPool(1, 2.0)]
            for pool in pools:
                pool.start()
            sv2_miner = MinerService(
                MinerConfig(user_identity="rig.sv2", nominal_hashrate=2.0), pools[0], max_shares=2
            )
            sv1_miner = MinerService(MinerConfig(), pools[1], max_shares=2)
            try:
                await asyncio.wait_for(
                    asyncio.gather(
                        sv2_miner.run([Endpoint("127.0.0.1", port, authority=key)]),
                        sv1_miner.run_sv1(
                            "127.0.0.1", port, Sv1ClientConfig(username=SV1_ADDRESS + ".sv1")
                        ),
                    ),
                    90,
                )
                url = f"http://127.0.0.1:{p.port('dashboard')}"
                async with aiohttp.ClientSession() as http:
                    async with http.get(url + "/api/workers") as response:
                        workers = {w["name"]: w for w in await response.json()}
                    for _ in range(50):  # the node's verdict comes a moment later
                        async with http.get(url + "/api/blocks") as response:
                            blocks = await response.json()
                        if any(b["accepted"] for b in blocks):
                            break
                        await asyncio.sleep(0.2)
                    async with http.get(url + "/api/template") as response:
                        template = await response.json()
                    async with http.get(url + "/metrics") as response:
                        metrics = await response.text()
            finally:
                for pool in pools:
                    pool.close()
            assert workers["rig.sv2"]["accepted"] >= 2
            assert workers[SV1_ADDRESS + ".sv1"]["accepted"] >= 1
            assert template["pays"] == REGTEST_ADDRESS and template["height"] >= 2
            assert 'sv2_connections_total{protocol="sv1"} 1.0' in metrics
            assert 'sv2_connections_total{protocol="sv2"}' in metrics
            # blocks were found (regtest: most shares are blocks) and the node holds them
            assert sv2_miner.stats.blocks + sv1_miner.stats.blocks >= 1
            accepted = [b for b in blocks if b["accepted"]]
            assert accepted, blocks
            for block in accepted:
                header = await rpc.call("getblock", block["hash"], 2)
                script = bytes.fromhex(header["tx"][0]["vout"][0]["scriptPubKey"]["hex"])
                payee = SV1_ADDRESS if block["worker"].startswith(SV1_ADDRESS) else REGTEST_ADDRESS
                assert script == address_to_script(payee, "regtest")
            p.proc.send_signal(signal.SIGTERM)
            assert await p.rest(30) == 0, "\n".join(p.lines)


async def test_solo_says_why_it_waits_for_the_node(
    tmp_path: Path, run_sv2: Any, free_ports: list[str]
) -> None:
    cookie = tmp_path / ".cookie"
    cookie.write_text("__cookie__:x")
    args = [
        "solo", "--network", "regtest", "--datadir", str(tmp_path / "solo"),
        "--rpcurl", "http://127.0.0.1:1", "--rpccookiefile", str(cookie),
        "--address", REGTEST_ADDRESS, *free_ports,
    ]  # fmt: skip
    async with run_sv2(*args) as p:
        await p.wait_line(r"^SV1 firmware .*stratum\+tcp://", 60)
        waiting = await p.wait_line(r"^waiting for the node: (.*)", 30)
        assert "127.0.0.1:1" in waiting.group(1) and "unreachable" in waiting.group(1)
        p.proc.send_signal(signal.SIGINT)
        assert await p.rest(30) == 0, "\n".join(p.lines)
