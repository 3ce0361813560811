"""The commands' own code paths: `sv2 pool --jds-listen` and `sv2 jdc` built from their
settings (run_pool / run_jdc, in this process), a miner behind the JDC finds a block paying
the pool that the node accepts."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from stratumv2.app.commands.jdc import run_jdc
from stratumv2.app.commands.pool import run_pool
from stratumv2.app.config import load_config
from stratumv2.bitcoin.address import address_to_script
from stratumv2.roles.jd_client.service import JdcService
from stratumv2.roles.jd_client.settings import JdcSettings
from stratumv2.roles.pool.service import PoolService
from stratumv2.roles.pool.settings import PoolSettings
from stratumv2.roles.regtest_node.testing import REGTEST_ADDRESS, running_node

pytestmark = pytest.mark.slow

USER_ADDRESS = "bcrt1q8s7nu06qg9pyx3z9ger5sj22fdxy6nj0wqzp6f"


async def _receiver(seen: list[dict[str, Any]]) -> web.AppRunner:
    """A local webhook receiver on 127.0.0.1:0 recording each JSON POST."""

    async def handle(request: web.Request) -> web.Response:
        seen.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


async def test_pool_with_jds_and_jdc_commands(tmp_path: Path, tools: Any) -> None:
    notes: list[dict[str, Any]] = []
    receiver = await _receiver(notes)
    hook = f"http://127.0.0.1:{receiver.addresses[0][1]}/hook"
    async with running_node(tmp_path / "node", tx_rate=10) as node, node.rpc() as rpc:
        await rpc.call("generatetoaddress", 1, node.address)
        async with (
            tools.running_tp(node.url, node.cookie_path, tmp_path / "tp1") as pool_tp,
            tools.running_tp(node.url, node.cookie_path, tmp_path / "tp2") as jdc_tp,
        ):
            pool_settings = load_config(
                PoolSettings,
                None,
                {
                    "network": "regtest", "mode": "pool", "address": REGTEST_ADDRESS,
                    "listen": "", "sv2_listen": "127.0.0.1:0", "jds_listen": "127.0.0.1:0",
                    "tp": f"127.0.0.1:{pool_tp.address[1]}",
                    "tp_authority_key": pool_tp.authority_key,
                    "rpcurl": node.url, "rpccookiefile": str(node.cookie_path),
                    "datadir": str(tmp_path / "pool"),
                },
            )  # fmt: skip
            loop = asyncio.get_running_loop()
            pool_started: asyncio.Future[PoolService] = loop.create_future()
            pool_task = asyncio.create_task(run_pool(pool_settings, pool_started))
            jdc_task: asyncio.Task[None] | None = None
            miner = None
            try:
                pool = await asyncio.wait_for(pool_started, 20)
                custom = pool.core.custom_jobs
                assert custom is not None, "--jds-listen did not embed the JDS"
                pool_port = pool.server.sockets[0][1]
                jds_port = _jds_port(pool)
                key = pool.authority_public_key
                jdc_settings = load_config(
                    JdcSettings,
                    None,
                    {
                        "network": "regtest", "listen": "127.0.0.1:0",
                        "tp": f"127.0.0.1:{jdc_tp.address[1]}",
                        "tp_authority_key": jdc_tp.authority_key,
                        "jds": f"127.0.0.1:{jds_port}", "jds_authority_key": key,
                        "upstream": f"127.0.0.1:{pool_port}", "upstream_authority_key": key,
                        "address": USER_ADDRESS, "datadir": str(tmp_path / "jdc"),
                        "notify": {"webhooks": [hook]}, "metrics": "127.0.0.1:0",
                    },
                )  # fmt: skip
                jdc_started: asyncio.Future[JdcService] = loop.create_future()
                jdc_task = asyncio.create_task(run_jdc(jdc_settings, jdc_started))
                jdc = await asyncio.wait_for(jdc_started, 20)
                deadline = time.monotonic() + 20
                while not jdc.core.upstream_jobs:
                    assert time.monotonic() < deadline, "no custom job accepted by the pool"
                    await asyncio.sleep(0.05)
                miner = await tools.TestMiner.connect(
                    jdc.server.sockets[0], jdc.authority_public_key
                )
                pool_script = address_to_script(REGTEST_ADDRESS, "regtest")
                await miner.wait_for(
                    lambda m: m.coinbase().outputs[0].script_pubkey == pool_script, 10
                )
                height = await rpc.getblockcount()
                await miner.mine_one()
                deadline = time.monotonic() + 15
                while await rpc.getblockcount() <= height:
                    assert time.monotonic() < deadline, "no block accepted"
                    await asyncio.sleep(0.05)
                best = await rpc.call("getblock", await rpc.getbestblockhash(), 2)
                payee = best["tx"][0]["vout"][0]["scriptPubKey"]["hex"]
                assert bytes.fromhex(payee) == pool_script
                assert notes == []  # the first switch to the pool is no failover
                pool_task.cancel()  # the pool goes away: solo, and an upstream_failover note
                await asyncio.gather(pool_task, return_exceptions=True)
                deadline = time.monotonic() + 10
                while not notes:
                    assert time.monotonic() < deadline, "no upstream_failover notification"
                    await asyncio.sleep(0.05)
                assert notes[0]["event"] == "upstream_failover"
                assert USER_ADDRESS in notes[0]["data"]["current"]
                assert jdc.core.mode == "solo"
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(f"http://127.0.0.1:{jdc.metrics_port}/metrics") as response,
                ):
                    metrics = await response.text()
                assert 'sv2_jdc_mode_switches_total{to="solo"} 1.0' in metrics
                assert 'sv2_jdc_mode{mode="solo"} 1.0' in metrics
            finally:
                if miner is not None:
                    await miner.close()
                for task in (jdc_task, pool_task):
                    if task is not None:
                        task.cancel()
                        await asyncio.gather(task, return_exceptions=True)
                await receiver.cleanup()


def _jds_port(pool: PoolService) -> int:
    """The embedded JDS's port (its service is the block sink of the pool's custom jobs)."""
    custom = pool.core.custom_jobs
    assert custom is not None and custom.on_block is not None
    jds = custom.on_block.__self__  # type: ignore[attr-defined]
    return int(jds.server.sockets[0][1])
