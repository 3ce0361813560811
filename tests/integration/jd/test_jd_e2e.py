"""Job declaration end to end on the regtest node (all loopback).

The JDC takes templates from its own TP, whose policy excludes a mempool transaction; it
declares them to the pool's embedded JDS (whose node view lacks one transaction, so it asks
for it), sets them on the pool with SetCustomMiningJob; a miner behind the JDC finds a
block that holds exactly the declared transactions and the kernel accepts it. A bad
declaration is refused with its code. The pool is killed: within 5 s the miner works on a
solo template paying the user's address and a block found then pays it; the pool comes
back and the JDC returns to it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from stratumv2.bitcoin.address import address_to_script, script_to_address
from stratumv2.bitcoin.block import Block
from stratumv2.bitcoin.hashes import hex_to_hash
from stratumv2.bitcoin.tx import TxOut
from stratumv2.mining.template_policy import Policy, apply_policy
from stratumv2.mining.vardiff import VardiffConfig
from stratumv2.net.client import Endpoint, open_sv2_connection
from stratumv2.net.pump import new_secret
from stratumv2.net.rpc import BitcoinRpc
from stratumv2.noise import Keypair
from stratumv2.protocol import (
    AllocateMiningJobToken,
    AllocateMiningJobTokenSuccess,
    DeclareMiningJob,
    DeclareMiningJobError,
    SetupConnection,
    SetupConnectionSuccess,
)
from stratumv2.roles.jd_client.core import JdcConfig, JdcCore
from stratumv2.roles.jd_client.service import JdcService
from stratumv2.roles.jd_server.core import ChainState, JdsConfig, JdsCore
from stratumv2.roles.jd_server.service import JdsService, embed_in_pool
from stratumv2.roles.pool.core import PoolConfig, PoolCore
from stratumv2.roles.pool.service import PoolService
from stratumv2.roles.regtest_node.testing import REGTEST_ADDRESS, running_node
from stratumv2.roles.template_provider.client import TemplateDistributionClient
from stratumv2.roles.template_provider.core import ClientConstraints

pytestmark = pytest.mark.slow

POOL_SCRIPT = address_to_script(REGTEST_ADDRESS, "regtest")
USER_SCRIPT = bytes.fromhex("0014") + bytes(range(60, 80))
USER_ADDRESS = script_to_address(USER_SCRIPT, "regtest")


class PartialMempoolJds(JdsService):
    """A JDS whose node has not seen the first transaction of each declaration yet."""

    async def _lookup(self, wtxids: tuple[bytes, ...]) -> tuple[dict[bytes, bytes], ChainState]:
        known, chain = await super()._lookup(wtxids)
        if wtxids:
            known.pop(wtxids[0], None)
            self._raw_by_wtxid.pop(wtxids[0], None)
        return known, chain


class Pool:
    """The pool (pool mode) with its embedded JDS, restartable on the same ports."""

    def __init__(self, node: Any, tp: Any, datadir: Path) -> None:
        self.node, self.tp, self.datadir = node, tp, datadir
        self.authority = Keypair(new_secret())
        self.ports = (0, 0)
        self.service: PoolService | None = None
        self.jds: JdsService | None = None
        self.rpc: BitcoinRpc | None = None

    async def start(self) -> None:
        core = PoolCore(PoolConfig(payout_script=POOL_SCRIPT, mode="pool", vardiff=None))
        td = TemplateDistributionClient(
            self.tp.address, self.tp.authority_key, constraints=ClientConstraints(100, 4)
        )
        self.service = PoolService(core, self.authority, td=td)
        self.rpc = BitcoinRpc(self.node.url, cookie_file=self.node.cookie_path, timeout=5.0)
        jds_core = JdsCore(JdsConfig(coinbase_outputs=(TxOut(0, POOL_SCRIPT),)))
        self.jds = PartialMempoolJds(jds_core, self.authority, self.rpc, self.datadir)
        embed_in_pool(core, self.jds)
        [(_, pool_port)] = await self.service.start(("127.0.0.1", self.ports[0]))
        _, jds_port = await self.jds.start("127.0.0.1", self.ports[1])
        self.ports = (pool_port, jds_port)
        await asyncio.wait_for(self.service.ready.wait(), 15)

    async def stop(self) -> None:
        assert self.service is not None and self.jds is not None and self.rpc is not None
        await self.service.close()
        await self.jds.close()
        await self.rpc.close()


async def until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def new_block(rpc: BitcoinRpc, height: int, timeout: float = 15.0) -> Block:
    deadline = time.monotonic() + timeout
    while await rpc.getblockcount() <= height:
        assert time.monotonic() < deadline, "no block accepted by the node"
        await asyncio.sleep(0.05)
    best = await rpc.getbestblockhash()
    return Block.from_hex(await rpc.call("getblock", best, 0))


async def bad_declarations(pool: Pool, rpc: BitcoinRpc) -> list[str]:
    """A raw JD client: a coinbase paying someone else, then an unknown token."""
    assert pool.jds is not None
    key = pool.jds.authority_public_key
    codes: list[str] = []
    async with open_sv2_connection("127.0.0.1", pool.ports[1], key) as conn:
        await conn.send(
            SetupConnection(
                protocol=1, min_version=2, max_version=2, flags=1, endpoint_host="",
                endpoint_port=0, vendor="", hardware_version="", firmware="", device_id="",
            )
        )  # fmt: skip
        assert isinstance(await conn.recv(), SetupConnectionSuccess)
        await conn.send(AllocateMiningJobToken(user_identifier="x", request_id=1))
        token = await conn.recv()
        assert isinstance(token, AllocateMiningJobTokenSuccess)
        height = await rpc.getblockcount()
        from stratumv2.bitcoin.coinbase import bip34_height_push, build_coinbase

        parts = build_coinbase(
            height_push=bip34_height_push(height + 1),
            extranonce_size=8,
            outputs=[TxOut(5_000_000_000, USER_SCRIPT)],
            witness_reserved_value=None,
        )
        for request_id, tok in ((2, token.mining_job_token), (3, b"forged-token")):
            await conn.send(
                DeclareMiningJob(
                    request_id=request_id, mining_job_token=tok, version=0x20000000,
                    coinbase_tx_prefix=parts.prefix[:4] + b"\x00\x01" + parts.prefix[4:],
                    coinbase_tx_suffix=parts.suffix[:-4] + b"\x01\x20" + bytes(32)
                    + parts.suffix[-4:],
                    wtxid_list=(), excess_data=b"",
                )
            )  # fmt: skip
            reply = await asyncio.wait_for(conn.recv(), 5)
            assert isinstance(reply, DeclareMiningJobError)
            codes.append(reply.error_code)
    return codes


async def test_job_declaration_end_to_end(tmp_path: Path, tools: Any) -> None:
    async with running_node(tmp_path / "node", tx_rate=30) as node, node.rpc() as rpc:
        await rpc.call("generatetoaddress", 1, node.address)
        excluded = ""
        for _ in range(100):
            mempool = await rpc.getrawmempool()
            if len(mempool) >= 3:
                excluded = mempool[0]
                break
            await asyncio.sleep(0.1)
        assert excluded, "the generator made no transactions"
        policy = Policy(excluded_txids=frozenset({excluded}))
        async with (
            tools.running_tp(node.url, node.cookie_path, tmp_path / "pool-tp") as pool_tp,
            tools.running_tp(
                node.url, node.cookie_path, tmp_path / "jdc-tp",
                policy=lambda gbt: apply_policy(gbt, policy).template,
            ) as jdc_tp,
        ):  # fmt: skip
            pool = Pool(node, pool_tp, tmp_path / "pool")
            await pool.start()
            assert pool.jds is not None and pool.service is not None
            key = pool.jds.authority_public_key
            jdc_core = JdcCore(
                JdcConfig(solo_script=USER_SCRIPT, vardiff=VardiffConfig(), retry_after=1.0)
            )
            jdc = JdcService(
                jdc_core,
                Keypair(new_secret()),
                TemplateDistributionClient(jdc_tp.address, jdc_tp.authority_key),
                jds=Endpoint("127.0.0.1", pool.ports[1], key),
                pool=Endpoint("127.0.0.1", pool.ports[0], key),
                reconnect_delay=0.2,
                reconnect_max=0.5,
            )
            bound = await jdc.start("127.0.0.1", 0)
            miner = None
            try:
                # 1. declared and set on the pool; the miner works for the pool
                await until(lambda: bool(jdc_core.upstream_jobs), 20, "SetCustomMiningJob.Success")
                miner = await tools.TestMiner.connect(bound, jdc.authority_public_key)
                await miner.wait_for(
                    lambda m: m.coinbase().outputs[0].script_pubkey == POOL_SCRIPT, 10
                )
                jds = pool.jds
                # the first declaration may carry no transaction yet; a later one will
                await until(
                    lambda: jds.core.missing_asked > 0 and jds.core.declared > 0,
                    20,
                    "a declaration whose transaction the JDS had to ask for",
                )
                assert await bad_declarations(pool, rpc) == [
                    "invalid-coinbase-tx", "invalid-mining-job-token",
                ]  # fmt: skip

                # 2. a block on the custom job: the declared transactions, accepted
                height = await rpc.getblockcount()
                await miner.wait_for(
                    lambda m: m.coinbase().outputs[0].script_pubkey == POOL_SCRIPT, 10
                )
                await miner.mine_one()
                block = await new_block(rpc, height)
                assert block.transactions[0].outputs[0].script_pubkey == POOL_SCRIPT
                txids = [tx.txid for tx in block.transactions[1:]]
                declared = [
                    j for j in jds.core.declarations._jobs.values() if list(j.txids) == txids
                ]
                assert declared, "the block's transactions are not those of a declared job"
                assert hex_to_hash(excluded) not in txids
                await until(lambda: pool.service.core.blocks_found >= 1, 5, "pool share")  # type: ignore[union-attr]
                assert excluded in await rpc.getrawmempool()
                # the JDS saved the block before submitting it, and the node answered
                await until(
                    lambda: any((tmp_path / "pool" / "blocks").glob("*.submitted")), 10, "saved"
                )

                # 3. pool killed: solo within 5 s, and a block then pays the user
                await pool.stop()
                took = await miner.wait_for(
                    lambda m: m.coinbase().outputs[0].script_pubkey == USER_SCRIPT, 5
                )
                assert took < 5 and jdc_core.mode == "solo"
                height = await rpc.getblockcount()
                await miner.mine_one()
                block = await new_block(rpc, height)
                assert block.transactions[0].outputs[0].script_pubkey == USER_SCRIPT

                # 4. pool back: the JDC returns to it
                await pool.start()
                await miner.wait_for(
                    lambda m: m.coinbase().outputs[0].script_pubkey == POOL_SCRIPT, 15
                )
                await until(lambda: bool(jdc_core.upstream_jobs), 15, "custom job after return")
                assert jdc_core.switches["solo"] >= 1 and jdc_core.switches["pool"] >= 2
            finally:
                if miner is not None:
                    await miner.close()
                await jdc.close()
                if pool.service is not None:
                    await pool.stop()
