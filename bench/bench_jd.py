"""Job declaration: new template at the JDC -> SetCustomMiningJob.Success, p50 / p99.

Everything in this process over loopback Noise: the embedded regtest node (its transaction
generator on or off), two ``sv2 tp`` services (the pool's and the JDC's own), the pool with
its embedded JDS, and the JDC. For each of N blocks (40; short: 3) mined with
``generatetoaddress 1`` (1 s apart with the generator on) -- plus the fee-bump templates the
TP sends meanwhile -- the clock
starts when the JDC core receives the template (``SetNewPrevHash`` / non-future
``NewTemplate``) and stops when the pool's ``SetCustomMiningJob.Success`` reaches it: that is
RequestTransactionData to our TP, DeclareMiningJob (mempool lookups over RPC at the JDS),
then SetCustomMiningJob on the pool. Baseline (same run): one ``getblockcount`` RPC round
trip to the node.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import print_table
from stratumv2.bitcoin.address import address_to_script
from stratumv2.bitcoin.tx import TxOut
from stratumv2.net.client import Endpoint
from stratumv2.net.pump import new_secret
from stratumv2.net.rpc import BitcoinRpc
from stratumv2.net.server import Sv2Server
from stratumv2.noise import Keypair
from stratumv2.roles.jd_client.core import JdcConfig, JdcCore
from stratumv2.roles.jd_client.service import JdcService
from stratumv2.roles.jd_server.core import JdsConfig, JdsCore
from stratumv2.roles.jd_server.service import JdsService, embed_in_pool
from stratumv2.roles.pool.core import PoolConfig, PoolCore
from stratumv2.roles.pool.service import PoolService
from stratumv2.roles.regtest_node.testing import REGTEST_ADDRESS, running_node
from stratumv2.roles.template_provider.client import TemplateDistributionClient
from stratumv2.roles.template_provider.core import ClientConstraints, TemplateProviderCore
from stratumv2.roles.template_provider.service import TemplateProviderService, TpOptions

POOL_SCRIPT = address_to_script(REGTEST_ADDRESS, "regtest")
USER_SCRIPT = bytes.fromhex("0014") + bytes(range(60, 80))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _tp(
    url: str, cookie: Path
) -> tuple[TemplateProviderService, Sv2Server, asyncio.Task[None]]:
    rpc = BitcoinRpc(url, cookie_file=cookie, timeout=10.0)
    service = TemplateProviderService(
        rpc, TemplateProviderCore(), options=TpOptions(refresh_interval=1.0)
    )
    server = Sv2Server(
        lambda conn: service.serve_peer(conn, conn.peer_text), Keypair(new_secret()), name="tp"
    )
    await server.start("127.0.0.1", 0)
    return service, server, asyncio.create_task(service.run())


async def _run(
    tx_rate: float, blocks: int, datadir: Path
) -> tuple[list[float], list[float], float]:
    """Declaration latencies (s), RPC round trips (s), mean transactions per declared job."""
    async with running_node(datadir / "node", tx_rate=tx_rate) as node, node.rpc() as rpc:
        await rpc.call("generatetoaddress", 1, node.address)
        if tx_rate:
            for _ in range(50):
                if len(await rpc.getrawmempool()) > 20:
                    break
                await asyncio.sleep(0.1)
        tps = [await _tp(node.url, node.cookie_path) for _ in range(2)]
        pool_tp, jdc_tp = tps[0][1], tps[1][1]
        authority = Keypair(new_secret())
        pool_core = PoolCore(PoolConfig(payout_script=POOL_SCRIPT, mode="pool", vardiff=None))
        pool = PoolService(
            pool_core,
            authority,
            td=TemplateDistributionClient(
                ("127.0.0.1", pool_tp.port),
                pool_tp.authority_public_key,
                constraints=ClientConstraints(100, 4),
            ),
        )
        jds_rpc = node.rpc()
        jds = JdsService(
            JdsCore(JdsConfig(coinbase_outputs=(TxOut(0, POOL_SCRIPT),))),
            authority,
            jds_rpc,
            datadir / "pool",
        )
        embed_in_pool(pool_core, jds)
        [(_, pool_port)] = await pool.start(("127.0.0.1", 0))
        _, jds_port = await jds.start("127.0.0.1", 0)
        key = jds.authority_public_key
        core = JdcCore(JdcConfig(solo_script=USER_SCRIPT))
        jdc = JdcService(
            core,
            Keypair(new_secret()),
            TemplateDistributionClient(("127.0.0.1", jdc_tp.port), jdc_tp.authority_public_key),
            jds=Endpoint("127.0.0.1", jds_port, key),
            pool=Endpoint("127.0.0.1", pool_port, key),
        )
        await jdc.start("127.0.0.1", 0)
        rtts: list[float] = []
        try:
            deadline = time.monotonic() + 30
            while not core.latencies and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            core.latencies.clear()  # the first one includes connection setup
            for _ in range(blocks):
                if tx_rate:  # let the mempool refill: fee-bump templates are declared too
                    await asyncio.sleep(1.0)
                before = len(core.latencies)
                await rpc.call("generatetoaddress", 1, node.address)
                deadline = time.monotonic() + 15
                while len(core.latencies) == before and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                t0 = time.perf_counter()
                await rpc.getblockcount()
                rtts.append(time.perf_counter() - t0)
            declared = list(jds.core.declarations._jobs.values())
            tx_mean = statistics.mean(len(j.txids) for j in declared) if declared else 0.0
            return list(core.latencies), rtts, tx_mean
        finally:
            await jdc.close()
            await pool.close()
            await jds.close()
            await jds_rpc.close()
            for service, server, task in tps:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await server.close()
                await service.rpc.close()


def main(short: bool) -> None:
    """Print the latency table."""
    blocks = 3 if short else 40
    rows = []
    for tx_rate in (0.0, 100.0):
        with tempfile.TemporaryDirectory() as tmp:
            lat, rtt, tx_mean = asyncio.run(_run(tx_rate, blocks, Path(tmp)))
        if not lat:
            raise SystemExit("no declaration completed")
        rows.append(
            [
                f"tx generator {tx_rate:g}/s",
                len(lat),
                tx_mean,
                statistics.median(lat) * 1e3,
                _percentile(lat, 0.99) * 1e3,
                max(lat) * 1e3,
                statistics.median(rtt) * 1e3,
            ]
        )
    print_table(
        "new template at the JDC -> SetCustomMiningJob.Success (ms, loopback, one process)",
        ["mempool", "jobs", "txs/job", "p50", "p99", "max", "baseline: RPC RTT p50"],
        rows,
    )
