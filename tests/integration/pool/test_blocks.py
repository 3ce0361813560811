"""`sv2 pool` (subprocess, started by its flags) on our TP and the embedded regtest node:
SV2 miners on standard and extended channels find blocks the kernel accepts."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from stratumv2.bitcoin.address import address_to_script
from stratumv2.protocol import SubmitSharesSuccess
from stratumv2.roles.regtest_node.testing import REGTEST_ADDRESS, running_node

pytestmark = pytest.mark.slow

# BIP173's P2WSH test program as a regtest address: a solo miner's own payout
SOLO_ADDRESS = "bcrt1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qzf4jry"


async def _best(rpc: Any) -> str:
    return str(await rpc.call("getbestblockhash"))


@pytest.mark.parametrize(
    ("mode", "extended", "user", "payee", "flags"),
    [
        ("solo", False, "rig1", REGTEST_ADDRESS, 0x1),  # REQUIRES_STANDARD_JOBS: NewMiningJob
        ("solo", True, SOLO_ADDRESS + ".rig2", SOLO_ADDRESS, 0x4),
        ("pool", False, "alice.rig3", REGTEST_ADDRESS, 0x0),  # group jobs
        ("pool", True, SOLO_ADDRESS + ".rig4", REGTEST_ADDRESS, 0x0),
    ],
)
async def test_miner_finds_blocks(
    tmp_path: Path,
    tp_runner: Any,
    pool_runner: Any,
    miner_class: Any,
    mode: str,
    extended: bool,
    user: str,
    payee: str,
    flags: int,
) -> None:
    async with running_node(tmp_path / "node") as node, node.rpc() as rpc:
        await rpc.call("generatetoaddress", 1, node.address)
        async with tp_runner(node.url, node.cookie_path, tmp_path / "tp") as tp:
            args = [
                "--network", "regtest",
                "--sv2-listen", "127.0.0.1:0",
                "--listen", "127.0.0.1:0",
                "--tp", f"127.0.0.1:{tp.address[1]}",
                "--tp-authority-key", tp.authority_key,
                "--address", REGTEST_ADDRESS,
                "--mode", mode,
                "--share-batch-size", "1",
            ]  # fmt: skip
            datadir = tmp_path / "pool"
            async with pool_runner(args, datadir, ports=2) as (_proc, key, ports):
                assert (datadir / "authority.pub").read_text().strip() == key
                # the --listen port takes SV2 too (first-bytes hook)
                for port in ports:
                    miner = await miner_class.connect(("127.0.0.1", port), key, flags)
                    ch = await miner.open(extended, user=user)
                    for _ in range(2):  # two blocks in a row: the second on the new tip
                        before = await _best(rpc)
                        assert ch.prev is not None
                        assert ch.prev.prev_hash[::-1].hex() == before
                        old_prev = ch.prev.prev_hash
                        reply = await miner.submit(miner.make_share(ch))
                        assert isinstance(reply, SubmitSharesSuccess), reply
                        for _ in range(100):
                            if await _best(rpc) != before:
                                break
                            await asyncio.sleep(0.05)
                        best = await _best(rpc)
                        assert best != before, "the kernel did not take the block"
                        block = await rpc.call("getblock", best, 2)
                        coinbase = block["tx"][0]
                        script = bytes.fromhex(coinbase["vout"][0]["scriptPubKey"]["hex"])
                        assert script == address_to_script(payee, "regtest")
                        assert "5376322f" in coinbase["vin"][0]["coinbase"]  # "Sv2/" tag
                        await miner.wait_new_tip(ch, old_prev)
                    await miner.close()
            db = sqlite3.connect(datadir / "pool.sqlite")
            blocks = db.execute("SELECT block_hash, coinbase_payee, worker FROM blocks").fetchall()
            assert len(blocks) == 4 and {b[1] for b in blocks} == {payee}
            shares = db.execute("SELECT user, worker FROM shares").fetchall()
            assert len(shares) == 4
            assert {s[1] for s in shares} == {user.partition(".")[2]}
