"""SetCustomMiningJob (JDC work selection): the pool rebuilds the JDC's coinbase exactly."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from stratumv2.bitcoin.hashes import merkle_root_from_branch, sha256d
from stratumv2.bitcoin.target import MAX_TARGET, target_to_u256
from stratumv2.bitcoin.tx import Transaction, compact_size
from stratumv2.mining.errors import MiningError
from stratumv2.mining.extranonce import ExtranonceAllocator
from stratumv2.mining.jobs import MiningJob, custom_job
from stratumv2.mining.server import REQUIRES_WORK_SELECTION, ServerChannels
from stratumv2.mining.shares import BlockFound, Stale, solve_header
from stratumv2.protocol import (
    OpenExtendedMiningChannel,
    SetCustomMiningJob,
    SetCustomMiningJobError,
    SetCustomMiningJobSuccess,
    SubmitSharesExtended,
)


def declared(
    job: MiningJob,
    sc: Any,
    request_id: int = 5,
    prev: bytes | None = None,
    channel_id: int = 1,
) -> SetCustomMiningJob:
    """What a JDC sends for a job it built itself (here: with our factory's coinbase)."""
    prefix, suffix = job.coinbase.prefix, job.coinbase.suffix
    # prefix = version(4) | 01 | outpoint(36) | scriptSig length (1) | scriptSig head
    outputs = suffix[4:-4]
    return SetCustomMiningJob(
        channel_id=channel_id,
        request_id=request_id,
        mining_job_token=b"token",
        version=job.version,
        prev_hash=prev or sc.prev_hash.prev_hash,
        min_ntime=sc.prev_hash.header_timestamp,
        nbits=sc.prev_hash.n_bits,
        coinbase_tx_version=2,
        coinbase_prefix=prefix[42:],
        coinbase_tx_input_n_sequence=int.from_bytes(suffix[:4], "little"),
        coinbase_tx_outputs=outputs,
        coinbase_tx_locktime=int.from_bytes(suffix[-4:], "little"),
        merkle_path=job.merkle_path,
    )


def test_custom_job_rebuilds_the_same_coinbase(regtest: Any) -> None:
    job = regtest.factory.current_job()
    rebuilt = custom_job(declared(job, regtest), 20)
    assert rebuilt.coinbase == job.coinbase  # same bytes, same witness
    assert rebuilt.template_id is None and rebuilt.merkle_path == job.merkle_path
    assert rebuilt.coinbase_value == regtest.template.coinbase_tx_value_remaining


def test_malformed_custom_jobs(regtest: Any) -> None:
    job = regtest.factory.current_job()
    good = declared(job, regtest)
    bad_outputs = SetCustomMiningJob(**{**_fields(good), "coinbase_tx_outputs": b"\x02" + bytes(9)})
    with pytest.raises(MiningError) as info:
        custom_job(bad_outputs, 20)
    assert info.value.error_code == "invalid-coinbase-tx-outputs"
    trailing = SetCustomMiningJob(
        **{**_fields(good), "coinbase_tx_outputs": good.coinbase_tx_outputs + b"\x00"}
    )
    with pytest.raises(MiningError):
        custom_job(trailing, 20)
    too_long = SetCustomMiningJob(**{**_fields(good), "coinbase_prefix": bytes(81)})
    with pytest.raises(MiningError) as info:
        custom_job(too_long, 20)
    assert info.value.error_code == "invalid-coinbase-prefix"
    empty = SetCustomMiningJob(**{**_fields(good), "coinbase_tx_outputs": compact_size(0)})
    with pytest.raises(MiningError):
        custom_job(empty, 20)


def _fields(msg: Any) -> dict[str, Any]:
    return {f.name: getattr(msg, f.name) for f in dataclasses.fields(msg)}


def test_work_selection_connection_mines_custom_jobs(regtest: Any) -> None:
    sc = regtest
    conn = ServerChannels(sc.factory, ExtranonceAllocator(20), flags=REQUIRES_WORK_SELECTION)
    (success,) = conn.open_extended(
        OpenExtendedMiningChannel(
            request_id=1,
            user_identity="jdc",
            nominal_hash_rate=1.0,
            max_target=target_to_u256(MAX_TARGET),
            min_extranonce_size=8,
        ),
        sc.now,
    )
    job = sc.factory.current_job()
    ch = success.channel_id
    reply = conn.set_custom_mining_job(declared(job, sc, channel_id=ch))
    assert reply[0] == SetCustomMiningJobSuccess(channel_id=ch, request_id=5, job_id=1)
    extranonce = b"\x11" * success.extranonce_size
    full = success.extranonce_prefix + extranonce
    root = merkle_root_from_branch(sha256d(job.coinbase_tx(full)), job.merkle_path)
    tip = sc.factory.tip
    nonce = solve_header(
        job.version, tip.prev_hash, root, tip.min_ntime, tip.nbits, tip.network_target
    )
    share = SubmitSharesExtended(
        channel_id=ch,
        sequence_number=1,
        job_id=1,
        nonce=nonce,
        ntime=tip.min_ntime,
        version=job.version,
        extranonce=extranonce,
    )
    found = conn.submit_extended(share, sc.now)
    assert isinstance(found, BlockFound) and found.template_id is None
    assert Transaction.parse(found.coinbase_tx).inputs[0].witness == (bytes(32),)
    with pytest.raises(ValueError):
        found.submit_solution()  # the JDC publishes custom-job blocks, not the pool
    # A custom job on another tip makes the first job stale.
    (ok,) = conn.set_custom_mining_job(
        declared(job, sc, request_id=6, prev=b"\x09" * 32, channel_id=ch)
    )
    assert isinstance(ok, SetCustomMiningJobSuccess) and ok.job_id == 2
    again = SubmitSharesExtended(**{**_fields(share), "sequence_number": 2, "nonce": nonce + 1})
    assert isinstance(conn.submit_extended(again, sc.now), Stale)


def test_custom_jobs_refused_without_work_selection(regtest: Any) -> None:
    conn = ServerChannels(regtest.factory, ExtranonceAllocator(20))
    (err,) = conn.set_custom_mining_job(declared(regtest.factory.current_job(), regtest))
    assert err == SetCustomMiningJobError(channel_id=1, request_id=5, error_code="jd-not-supported")
    custom = ServerChannels(regtest.factory, ExtranonceAllocator(20), flags=REQUIRES_WORK_SELECTION)
    (err,) = custom.set_custom_mining_job(declared(regtest.factory.current_job(), regtest))
    assert err.error_code == "invalid-channel-id"
