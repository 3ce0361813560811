"""The pool's SetCustomMiningJob path (roles/pool/custom_jobs.py) against the real PoolCore and
a JdsCore sharing its JobDeclarations: only declared jobs, repeated exactly, are accepted."""

from __future__ import annotations

import dataclasses
from typing import Any

from stratumv2.bitcoin.block import Block
from stratumv2.bitcoin.target import bits_to_target
from stratumv2.mining.shares import solve_header
from stratumv2.protocol import (
    AllocateMiningJobToken,
    OpenExtendedMiningChannel,
    OpenExtendedMiningChannelSuccess,
    SetCustomMiningJob,
    SetCustomMiningJobError,
    SetCustomMiningJobSuccess,
    SetupConnection,
    SetupConnectionError,
    SetupConnectionSuccess,
    SubmitSharesExtended,
    SubmitSharesSuccess,
)
from stratumv2.roles.pool.core import PoolConfig, PoolCore, RecordBlock, StoreShares
from stratumv2.roles.pool.custom_jobs import CustomJobs

WORK_SELECTION_FLAGS = 0x6


def setup(flags: int) -> SetupConnection:
    return SetupConnection(
        protocol=0,
        min_version=2,
        max_version=2,
        flags=flags,
        endpoint_host="",
        endpoint_port=0,
        vendor="jdc",
        hardware_version="",
        firmware="",
        device_id="",
    )


def pool_with_jds(jd: Any, blocks: list[tuple[bytes, int]]) -> PoolCore:
    core = PoolCore(PoolConfig(payout_script=jd.pool_script, mode="pool", vardiff=None))
    core.custom_jobs = CustomJobs(jd.core.declarations, lambda b, h: blocks.append((b, h)))
    core.on_new_template(jd.helpers.make_template(1, jd.txs), jd.now)
    core.on_set_new_prev_hash(jd.helpers.make_prev_hash(1), jd.now)
    return core


def open_channel(core: PoolCore, jd: Any, conn_id: int = 1) -> OpenExtendedMiningChannelSuccess:
    core.connection_made(conn_id, "127.0.0.1:1", jd.now)
    [(_, ok)] = core.on_connection_message(conn_id, setup(WORK_SELECTION_FLAGS), jd.now)
    assert isinstance(ok, SetupConnectionSuccess)
    open_msg = OpenExtendedMiningChannel(
        request_id=1,
        user_identity="jdc",
        nominal_hash_rate=1e6,
        max_target=b"\xff" * 32,
        min_extranonce_size=8,
    )
    replies = core.on_connection_message(conn_id, open_msg, jd.now)
    assert len(replies) == 1  # no pool jobs on a work-selection connection
    success = replies[0][1]  # type: ignore[index]
    assert isinstance(success, OpenExtendedMiningChannelSuccess)
    return success


def declared_token(jd: Any, name: bytes = b"new") -> bytes:
    jd.core.allocate(
        1, AllocateMiningJobToken(user_identifier="u", request_id=1), jd.now, b"t" + name
    )
    msg = jd.helpers.declare_message(jd.job(), jd.txs, b"t" + name)
    jd.core.declare(1, msg, jd.known(), jd.chain, jd.now, name)
    return name


def test_without_jds_work_selection_is_refused(jd: Any) -> None:
    core = PoolCore(PoolConfig(payout_script=jd.pool_script))
    core.connection_made(1, "x", jd.now)
    [(_, reply), _] = core.on_connection_message(1, setup(WORK_SELECTION_FLAGS), jd.now)
    assert isinstance(reply, SetupConnectionError) and reply.flags == 0x2


def test_declared_job_is_accepted_and_mined(jd: Any) -> None:
    blocks: list[tuple[bytes, int]] = []
    core = pool_with_jds(jd, blocks)
    channel = open_channel(core, jd)
    token = declared_token(jd)
    msg = jd.helpers.custom_message(jd.job(), token, channel_id=channel.channel_id)
    [(_, reply)] = core.on_connection_message(1, msg, jd.now)
    assert isinstance(reply, SetCustomMiningJobSuccess)
    # a new template on the pool's own TP sends nothing to the work-selection connection
    assert core.on_new_template(jd.helpers.make_template(2, jd.txs[:2]), jd.now) == []
    # a share on the custom job that is also a block
    extranonce = bytes(channel.extranonce_size)
    full = channel.extranonce_prefix + extranonce
    job = jd.job()
    nonce = solve_header(
        job.version,
        msg.prev_hash,
        job.merkle_root(full),
        msg.min_ntime,
        msg.nbits,
        bits_to_target(msg.nbits),
    )
    assert nonce is not None
    share = SubmitSharesExtended(
        channel_id=channel.channel_id,
        sequence_number=1,
        job_id=reply.job_id,
        nonce=nonce,
        ntime=msg.min_ntime,
        version=job.version,
        extranonce=extranonce,
    )
    actions = core.on_connection_message(1, share, jd.now)
    [store] = [a for a in actions if isinstance(a, StoreShares)]
    assert isinstance(store.acks[0][1], SubmitSharesSuccess)
    assert core.blocks_found == 1 and len(blocks) == 1
    block = Block.parse(blocks[0][0])
    assert [tx.txid for tx in block.transactions[1:]] == [tx.txid for tx in jd.txs]
    assert block.transactions[0].serialize() == job.coinbase_with_witness(full)
    assert block.header.nonce == nonce and blocks[0][1] == jd.chain.height + 1
    # the pool's store gets the block too, paid as the JDC declared
    [record] = [a.record for a in actions if isinstance(a, RecordBlock)]
    assert record.block_hash == block.hash()[::-1].hex()
    assert record.height == jd.chain.height + 1
    assert record.reward == sum(out.value for out in block.transactions[0].outputs)
    assert record.coinbase_payee


def test_undeclared_or_altered_jobs_are_refused(jd: Any) -> None:
    core = pool_with_jds(jd, [])
    channel = open_channel(core, jd)
    token = declared_token(jd)
    good = jd.helpers.custom_message(jd.job(), token, channel_id=channel.channel_id)

    def code(msg: SetCustomMiningJob) -> str:
        [(_, reply)] = core.on_connection_message(1, msg, jd.now)
        assert isinstance(reply, SetCustomMiningJobError)
        return reply.error_code

    def altered(**changes: Any) -> SetCustomMiningJob:
        fields = {f.name: getattr(good, f.name) for f in dataclasses.fields(good)}
        return SetCustomMiningJob(**{**fields, **changes})

    assert code(altered(mining_job_token=b"unknown")) == "invalid-mining-job-token"
    other = jd.helpers.custom_message(jd.job(jd.other_script), token, channel_id=channel.channel_id)
    assert code(other) == "invalid-coinbase-tx-outputs"
    assert code(altered(prev_hash=bytes(32))) == "stale-chain-tip"
    assert code(altered(coinbase_prefix=good.coinbase_prefix + b"x")) == "invalid-coinbase-prefix"
    assert code(altered(merkle_path=good.merkle_path[:-1])) == "invalid-merkle-path"
    assert code(altered(channel_id=99)) == "invalid-channel-id"
    # expired declaration
    later = jd.now + jd.core.declarations.lifetime + 1
    [(_, reply)] = core.on_connection_message(1, good, later)
    assert (
        isinstance(reply, SetCustomMiningJobError)
        and reply.error_code == "invalid-mining-job-token"
    )
    assert core.custom_jobs is not None and core.custom_jobs.refused == 7
