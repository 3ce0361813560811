"""SetExtranoncePrefix over Noise: the pool service moves a live extended channel to a new
prefix; the miner follows it and its next shares are accepted."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from stratumv2.net.pump import new_secret
from stratumv2.noise import Keypair
from stratumv2.protocol import SubmitSharesSuccess
from stratumv2.roles.pool.core import PoolConfig, PoolCore
from stratumv2.roles.pool.service import PoolService

SCRIPT = bytes.fromhex("0014751e76e8199196d454941c45d1b3a323f1433bd6")


async def test_service_moves_a_channel_to_a_new_prefix(
    tmp_path: Path, miner_class: Any, hard_templates: Any
) -> None:
    template, prev_hash = hard_templates
    core = PoolCore(PoolConfig(payout_script=SCRIPT, vardiff=None, share_batch_size=1))
    service = PoolService(core, Keypair(new_secret()))
    (address,) = await service.start(("127.0.0.1", 0))
    try:
        await service.on_td_event(template())
        await service.on_td_event(prev_hash())
        miner = await miner_class.connect(address, service.authority_public_key)
        ch = await miner.open(True, user="alice.rig", hashrate=100.0)
        assert isinstance(await miner.submit(miner.make_share(ch)), SubmitSharesSuccess)
        old_prefix, old_job = ch.prefix, ch.active
        (conn_id,) = [i for i, c in service.connections.items() if c.peer == miner.conn.local]
        ch.changed.clear()
        await service.set_extranonce_prefix(conn_id, ch.channel_id)
        await asyncio.wait_for(ch.changed.wait(), 5)  # the new job, after the new prefix
        assert ch.prefix != old_prefix and ch.active != old_job
        for i in range(3):
            reply = await miner.submit(miner.make_share(ch, nonce_start=i << 20))
            assert isinstance(reply, SubmitSharesSuccess), reply
        await miner.close()
    finally:
        await service.close()
