"""kill -9 of `sv2 pool --mode pool` while shares stream in: every acknowledged share is in
the store (shares are committed before their SubmitShares.Success is sent)."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from stratumv2.protocol import CoinbaseOutputConstraints, SubmitSharesSuccess
from stratumv2.roles.regtest_node.testing import REGTEST_ADDRESS

pytestmark = pytest.mark.slow


async def test_kill9_loses_no_acknowledged_share(
    tmp_path: Path, scripted_tp_runner: Any, pool_runner: Any, miner_class: Any
) -> None:
    config = tmp_path / "pool.toml"
    config.write_text(
        'network = "regtest"\nmode = "pool"\nshare_batch_size = 5\n'
        f'address = "{REGTEST_ADDRESS}"\n[vardiff]\nenabled = false\n'
    )
    async with scripted_tp_runner() as (tp, received):
        args = [
            "--config", str(config),
            "--sv2-listen", "127.0.0.1:0",
            "--listen", "",
            "--tp", f"127.0.0.1:{tp.port}",
            "--tp-authority-key", tp.authority_public_key,
        ]  # fmt: skip
        datadir = tmp_path / "pool"
        async with pool_runner(args, datadir) as (proc, key, ports):
            miner = await miner_class.connect(("127.0.0.1", ports[0]), key)
            ch = await miner.open(False, user="alice.rig", hashrate=100.0)
            shares = [miner.make_share(ch, nonce_start=i << 16) for i in range(400)]
            for share in shares:
                miner.conn.send_nowait(share)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            while sum(a.new_submits_accepted_count for a in miner.acks) < 50:
                assert loop.time() < deadline, f"acks: {len(miner.acks)} errors: {miner.errors}"
                await asyncio.sleep(0.001)
            proc.send_signal(signal.SIGKILL)
            acked = sum(a.new_submits_accepted_count for a in miner.acks)
            await proc.wait()
            assert all(isinstance(a, SubmitSharesSuccess) for a in miner.acks)
            # the pool told the TP, before anything else, the room its coinbase outputs need
            assert isinstance(received[0], CoinbaseOutputConstraints)
            assert received[0].coinbase_output_max_additional_size >= 43  # one P2WSH output
            assert not miner.errors
            await miner.close()
    db = sqlite3.connect(datadir / "pool.sqlite")
    stored = db.execute("SELECT COUNT(*) FROM shares WHERE user = 'alice'").fetchone()[0]
    print(f"acked {acked}, stored {stored}")
    assert stored >= acked >= 50
    assert stored <= len(shares)
