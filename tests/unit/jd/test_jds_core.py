"""JdsCore: tokens, declarations (missing transactions, refusals with SRI's codes), solutions."""

from __future__ import annotations

from typing import Any

from stratumv2.bitcoin.block import Block
from stratumv2.bitcoin.hashes import merkle_root
from stratumv2.bitcoin.header import BlockHeader
from stratumv2.bitcoin.target import bits_to_target, hash_meets_target
from stratumv2.protocol import (
    AllocateMiningJobToken,
    AllocateMiningJobTokenSuccess,
    DeclareMiningJob,
    DeclareMiningJobError,
    DeclareMiningJobSuccess,
    ProvideMissingTransactions,
    ProvideMissingTransactionsSuccess,
    PushSolution,
    SetupConnection,
    SetupConnectionError,
    SetupConnectionSuccess,
)
from stratumv2.roles.jd_server.core import ChainState


def setup_message(flags: int) -> SetupConnection:
    return SetupConnection(
        protocol=1,
        min_version=2,
        max_version=2,
        flags=flags,
        endpoint_host="",
        endpoint_port=0,
        vendor="",
        hardware_version="",
        firmware="",
        device_id="",
    )


def token_for(
    jd: Any, token: bytes = b"tok-1", conn_id: int = 1, now: float | None = None
) -> bytes:
    now = jd.now if now is None else now
    [reply] = jd.core.allocate(
        conn_id, AllocateMiningJobToken(user_identifier="u", request_id=3), now, token
    )
    assert isinstance(reply, AllocateMiningJobTokenSuccess)
    assert reply.mining_job_token == token and reply.request_id == 3
    # CompactSize count 1, value 0, the pool's script
    assert (
        reply.coinbase_tx_outputs
        == b"\x01" + bytes(8) + bytes([len(jd.pool_script)]) + jd.pool_script
    )
    return token


def test_setup_requires_declare_tx_data(jd: Any) -> None:
    replies, ok = jd.core.setup(1, setup_message(0))
    assert not ok and isinstance(replies[0], SetupConnectionError)
    assert replies[0].error_code == "missing-declare-tx-data-flag"
    replies, ok = jd.core.setup(1, setup_message(1))
    assert ok and isinstance(replies[0], SetupConnectionSuccess)


def test_declaration_with_known_transactions(jd: Any) -> None:
    token = token_for(jd)
    job = jd.job()
    msg = jd.helpers.declare_message(job, jd.txs, token)
    [reply] = jd.core.declare(1, msg, jd.known(), jd.chain, jd.now, b"new-1")
    assert reply == DeclareMiningJobSuccess(request_id=7, new_mining_job_token=b"new-1")
    declared = jd.core.declarations.job(b"new-1", jd.now + 1)
    assert declared is not None
    assert declared.merkle_path == job.merkle_path
    assert declared.transactions == tuple(tx.serialize() for tx in jd.txs)
    assert declared.extranonce_size == 20 and declared.height == jd.chain.height + 1
    # a token is single use
    [again] = jd.core.declare(1, msg, jd.known(), jd.chain, jd.now, b"new-2")
    assert isinstance(again, DeclareMiningJobError)
    assert again.error_code == "invalid-mining-job-token"


def test_missing_transactions_are_asked_for(jd: Any) -> None:
    token = token_for(jd)
    msg = jd.helpers.declare_message(jd.job(), jd.txs, token)
    [ask] = jd.core.declare(1, msg, jd.known(skip=(1, 3)), jd.chain, jd.now, b"unused")
    assert ask == ProvideMissingTransactions(request_id=7, unknown_tx_position_list=(1, 3))
    provided = ProvideMissingTransactionsSuccess(
        request_id=7, transaction_list=(jd.txs[1].serialize(), jd.txs[3].serialize())
    )
    [reply] = jd.core.provide(1, provided, jd.now, b"new-1")
    assert isinstance(reply, DeclareMiningJobSuccess)
    declared = jd.core.declarations.job(b"new-1", jd.now)
    assert declared is not None and declared.txids == tuple(tx.txid for tx in jd.txs)


def test_wrong_missing_transaction_is_refused(jd: Any) -> None:
    token = token_for(jd)
    msg = jd.helpers.declare_message(jd.job(), jd.txs, token)
    jd.core.declare(1, msg, jd.known(skip=(2,)), jd.chain, jd.now, b"unused")
    wrong = ProvideMissingTransactionsSuccess(
        request_id=7, transaction_list=(jd.txs[0].serialize(),)
    )
    [reply] = jd.core.provide(1, wrong, jd.now, b"new-1")
    assert isinstance(reply, DeclareMiningJobError) and reply.error_code == "missing-txs"
    assert jd.core.declarations.job(b"new-1", jd.now) is None


def test_token_checks(jd: Any) -> None:
    job = jd.job()
    unknown = jd.helpers.declare_message(job, jd.txs, b"never-allocated")
    [reply] = jd.core.declare(1, unknown, jd.known(), jd.chain, jd.now, b"n")
    assert (
        isinstance(reply, DeclareMiningJobError) and reply.error_code == "invalid-mining-job-token"
    )
    expired = token_for(jd, b"old", now=jd.now - 601)
    [reply] = jd.core.declare(
        1, jd.helpers.declare_message(job, jd.txs, expired), jd.known(), jd.chain, jd.now, b"n"
    )
    assert (
        isinstance(reply, DeclareMiningJobError) and reply.error_code == "invalid-mining-job-token"
    )
    jd.core.connection_made(2)
    others = token_for(jd, b"conn2", conn_id=2)
    [reply] = jd.core.declare(
        1, jd.helpers.declare_message(job, jd.txs, others), jd.known(), jd.chain, jd.now, b"n"
    )
    assert (
        isinstance(reply, DeclareMiningJobError) and reply.error_code == "invalid-mining-job-token"
    )


def test_invalid_coinbases(jd: Any) -> None:
    # pays someone else
    msg = jd.helpers.declare_message(jd.job(jd.other_script), jd.txs, token_for(jd, b"a"))
    [reply] = jd.core.declare(1, msg, jd.known(), jd.chain, jd.now, b"n")
    assert isinstance(reply, DeclareMiningJobError) and reply.error_code == "invalid-coinbase-tx"
    # stripped coinbase (no BIP141 marker)
    job = jd.job()
    good = jd.helpers.declare_message(job, jd.txs, token_for(jd, b"b"))
    stripped = DeclareMiningJob(**{**_fields(good), "coinbase_tx_prefix": job.coinbase.prefix})
    [reply] = jd.core.declare(1, stripped, jd.known(), jd.chain, jd.now, b"n")
    assert isinstance(reply, DeclareMiningJobError) and reply.error_code == "invalid-coinbase-tx"
    # garbage suffix
    broken = DeclareMiningJob(
        **{
            **_fields(good),
            "mining_job_token": token_for(jd, b"c"),
            "coinbase_tx_suffix": b"\x00\x01",
        }
    )
    [reply] = jd.core.declare(1, broken, jd.known(), jd.chain, jd.now, b"n")
    assert isinstance(reply, DeclareMiningJobError) and reply.error_code == "invalid-coinbase-tx"
    # a height that is not the next block
    later = DeclareMiningJob(**{**_fields(good), "mining_job_token": token_for(jd, b"d")})
    [reply] = jd.core.declare(
        1, later, jd.known(), ChainState(jd.chain.height + 1, bytes(32)), jd.now, b"n"
    )
    assert isinstance(reply, DeclareMiningJobError) and reply.error_code == "stale-chain-tip"
    assert jd.core.refused == 4 and jd.core.declared == 0


def test_push_solution_rebuilds_the_block(jd: Any) -> None:
    job = jd.job()
    msg = jd.helpers.declare_message(job, jd.txs, token_for(jd))
    jd.core.declare(1, msg, jd.known(), jd.chain, jd.now, b"new-1")
    extranonce = bytes(range(20))
    target = bits_to_target(jd.bits)
    root = job.merkle_root(extranonce)
    nonce = 0
    while True:
        header = BlockHeader(job.version, jd.chain.prev_hash, root, int(jd.now), jd.bits, nonce)
        if hash_meets_target(header.hash(), target):
            break
        nonce += 1
    push = PushSolution(
        extranonce=extranonce,
        prev_hash=jd.chain.prev_hash,
        nonce=nonce,
        ntime=int(jd.now),
        nbits=jd.bits,
        version=job.version,
    )
    solved = jd.core.push_solution(1, push)
    assert solved is not None and solved.block_hash == header.hash()
    block = Block.parse(solved.data)
    assert block.header == header
    assert [tx.txid for tx in block.transactions[1:]] == [tx.txid for tx in jd.txs]
    assert merkle_root([tx.txid for tx in block.transactions]) == root
    assert block.transactions[0].serialize() == job.coinbase_with_witness(extranonce)
    # the same solution under a hard target does not solve the job
    hard = PushSolution(**{**_fields(push), "nbits": jd.hard_bits})
    assert jd.core.push_solution(1, hard) is None
    # nor on another connection
    assert jd.core.push_solution(2, push) is None


def _fields(msg: Any) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(msg, f.name) for f in dataclasses.fields(msg)}


def test_unused_tokens_per_connection_are_bounded(jd: Any) -> None:
    registry = jd.core.declarations
    for i in range(100):
        registry.allocate(b"t%d" % i, 1, jd.now, per_connection=64)
    assert registry.allocated_count == 64
    assert not registry.take_token(b"t0", 1, jd.now) and registry.take_token(b"t99", 1, jd.now)
