"""Shares through the pool core: one test per SubmitShares.Error code, acks after storage,
blocks submitted first, payouts, rate limit."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from stratumv2.bitcoin.tx import Transaction
from stratumv2.mining.jobs import JobFactory
from stratumv2.protocol import SubmitSharesError, SubmitSharesSuccess, SubmitSolution
from stratumv2.roles.pool.core import Disconnect, StoreShares, SubmitBlock

STANDARD_JOBS = 0x1


def _errors(actions: list[Any]) -> list[str]:
    return [
        a[1].error_code
        for a in actions
        if isinstance(a, tuple) and isinstance(a[1], SubmitSharesError)
    ]


def _one_error(actions: list[Any]) -> str:
    (code,) = _errors(actions)
    return code


def test_valid_shares_acked_in_batches_after_store(kit: Any) -> None:
    miner = kit.miner(1)
    miner.open_standard()
    out1 = miner.submit(miner.share(1))
    out2 = miner.submit(miner.share(1, start=1 << 20))
    assert not out1 and not out2  # nothing acked before the batch is full
    out3 = miner.submit(miner.share(1, start=1 << 21))
    (store,) = out3
    assert isinstance(store, StoreShares) and len(store.records) == 3
    ((conn_id, ack),) = store.acks
    assert conn_id == 1 and isinstance(ack, SubmitSharesSuccess)
    assert ack.new_submits_accepted_count == 3 and ack.last_sequence_number == 3
    assert {r.user for r in store.share_records()} == {"alice"} and {
        r.worker for r in store.share_records()
    } == {"w1"}
    assert all(r.accepted and r.difficulty > 0 for r in store.share_records())


def test_tick_flushes_incomplete_batch(kit: Any) -> None:
    miner = kit.miner(1)
    miner.open_standard()
    miner.submit(miner.share(1))
    stores = []
    for i in range(4):  # each tick visits a quarter of the connections
        stores += [a for a in kit.tick(kit.now + 1 + i) if isinstance(a, StoreShares)]
    (store,) = stores
    assert len(store.records) == 1 and store.acks[0][1].new_submits_accepted_count == 1
    assert store.acks[0][1].last_sequence_number == miner.seq


def test_invalid_channel_id_unknown_and_foreign(kit: Any) -> None:
    alice, bob = kit.miner(1), kit.miner(2)
    alice.open_standard()
    bob.open_standard()
    share = alice.share(1)
    assert (
        _one_error(kit.core.on_connection_message(1, replace(share, channel_id=77), kit.now))
        == "invalid-channel-id"
    )
    # bob's channel 1 is not alice's channel 1: alice's share is checked on bob's channel
    # and fails there; a channel id bob does not have is invalid-channel-id
    alice.open_standard()
    share3 = alice.share(3)
    assert _one_error(kit.core.on_connection_message(2, share3, kit.now)) == "invalid-channel-id"


def test_standard_share_on_extended_channel_is_invalid_channel(kit: Any) -> None:
    miner = kit.miner(1)
    miner.open_extended()
    ext = miner.share(1)
    from stratumv2.protocol import SubmitSharesStandard

    std = SubmitSharesStandard(
        channel_id=1,
        sequence_number=9,
        job_id=ext.job_id,
        nonce=0,
        ntime=ext.ntime,
        version=ext.version,
    )
    assert _one_error(miner.submit(std)) == "invalid-channel-id"


def test_stale_share(kit: Any) -> None:
    miner = kit.miner(1, STANDARD_JOBS)
    miner.open_standard()
    old = miner.share(1)
    kit.template(2)
    kit.prev_hash(2, prev=bytes(32))
    assert _one_error(miner.submit(old)) == "stale-share"


def test_invalid_job_id(kit: Any) -> None:
    miner = kit.miner(1)
    miner.open_standard()
    share = miner.share(1)
    assert _one_error(miner.submit(replace(share, job_id=999))) == "invalid-job-id"


def test_bad_extranonce_size(kit: Any) -> None:
    miner = kit.miner(1)
    miner.open_extended()
    size = miner.channels[1].extranonce_size
    share = miner.share(1, extranonce=bytes(size - 1))
    assert _one_error(miner.submit(share)) == "bad-extranonce-size"


def test_invalid_share_ntime_before_min_ntime(kit: Any) -> None:
    miner = kit.miner(1)
    miner.open_standard()
    ntime = miner.channels[1].prev.min_ntime - 1
    assert _one_error(miner.submit(miner.share(1, ntime=ntime))) == "invalid-share"


def test_invalid_non_rollable_version_bit(kit: Any) -> None:
    miner = kit.miner(1)
    miner.open_extended()
    job_version = miner.channels[1].jobs[miner.channels[1].active].version
    share = miner.share(1, version=job_version | 0x2)  # bit 1 is outside 0x1FFFFFE0
    assert _one_error(miner.submit(share)) == "invalid-non-rollable-version-bit"
    rolled = miner.share(1, version=job_version | 0x00400000)  # inside the mask: fine
    assert not _errors(miner.submit(rolled))


def test_version_rolling_not_allowed(kit: Any) -> None:
    core = kit.core
    core.factory = JobFactory(
        core.default_payout, full_extranonce_size=20, version_rolling_allowed=False
    )
    kit.template(5)
    kit.prev_hash(5, prev=bytes(32))
    miner = kit.miner(1)
    miner.open_extended()
    job = miner.channels[1].jobs[miner.channels[1].active]
    assert job.version_rolling_allowed is False
    share = miner.share(1, version=job.version | 0x00400000)
    assert _one_error(miner.submit(share)) == "version-rolling-not-allowed"


def test_difficulty_too_low(kit: Any) -> None:
    miner = kit.miner(1)
    miner.open_standard()
    assert _one_error(miner.submit(miner.share(1, miss=True))) == "difficulty-too-low"


def test_duplicate_share(kit: Any) -> None:
    miner = kit.miner(1)
    miner.open_standard()
    share = miner.share(1)
    assert not _errors(miner.submit(share))
    assert _one_error(miner.submit(share)) == "duplicate-share"


def test_rejected_shares_are_recorded_as_rejects(kit: Any) -> None:
    miner = kit.miner(1)
    miner.open_standard()
    miner.submit(miner.share(1, miss=True))
    (store,) = [a for a in kit.tick(kit.now + 10) if isinstance(a, StoreShares)]  # ack_interval
    (rec,) = store.share_records()
    assert not rec.accepted and rec.reject_reason == "difficulty-too-low"


def test_rate_limit_error_then_disconnect(kit_factory: Any) -> None:
    kit = kit_factory(share_rate=10.0, share_burst=5.0, flood_disconnect=3)
    miner = kit.miner(1)
    miner.open_standard()  # costs one token
    share = miner.share(1, miss=True)
    codes = []
    for _ in range(4):
        codes += _errors(miner.submit(share))
    assert codes == ["difficulty-too-low"] * 4
    assert _one_error(miner.submit(share)) == "rate-limited"
    assert _one_error(miner.submit(share)) == "rate-limited"
    assert _one_error(miner.submit(share)) == "rate-limited"
    (bye,) = miner.submit(share)
    assert isinstance(bye, Disconnect) and bye.conn_id == 1
    # tokens come back with time: a later share is judged again
    assert _one_error(miner.submit(share, now=kit.now + 1)) == "difficulty-too-low"
    # other connections are not affected
    other = kit.miner(2)
    other.open_standard()
    assert _one_error(other.submit(other.share(1, miss=True))) == "difficulty-too-low"


def _block_scenario(kit_factory: Any, regtest_bits: int, **config: Any) -> Any:
    return kit_factory(regtest_bits, **config)


def test_block_submitted_first_solo_user_address(kit_factory: Any, regtest_bits: int) -> None:
    kit = kit_factory(regtest_bits)
    from stratumv2.bitcoin.address import address_to_script

    miner = kit.miner(1, STANDARD_JOBS)
    miner.open_standard(user=kit.solo_address + ".rig1")
    out = miner.submit(miner.share(1))
    assert isinstance(out[0], SubmitBlock)
    block = out[0]
    assert isinstance(block.solution, SubmitSolution) and block.solution.template_id == 1
    cb = Transaction.parse(block.solution.coinbase_tx)
    assert cb.outputs[0].script_pubkey == address_to_script(kit.solo_address, "regtest")
    assert block.record.coinbase_payee == kit.solo_address and block.record.height == 321
    assert block.record.worker == "rig1" and block.record.reward == 5_000_000_000
    store = out[1]
    assert isinstance(store, StoreShares) and store.acks[0][1].new_submits_accepted_count == 1


def test_block_pool_mode_pays_pool_address(kit_factory: Any, regtest_bits: int) -> None:
    kit = kit_factory(regtest_bits, mode="pool")
    miner = kit.miner(1)
    miner.open_extended(user=kit.solo_address)  # an address as username does not matter here
    out = miner.submit(miner.share(1, extranonce=b"\x01" * miner.channels[1].extranonce_size))
    assert isinstance(out[0], SubmitBlock)
    cb = Transaction.parse(out[0].solution.coinbase_tx)
    assert cb.outputs[0].script_pubkey == kit.pool_script
    assert cb.outputs[0].value == 5_000_000_000


def test_non_address_user_in_solo_pays_default(kit_factory: Any, regtest_bits: int) -> None:
    kit = kit_factory(regtest_bits)
    miner = kit.miner(1)
    miner.open_standard(user="bc1qnotvalidforregtest")
    out = miner.submit(miner.share(1))
    cb = Transaction.parse(out[0].solution.coinbase_tx)
    assert cb.outputs[0].script_pubkey == kit.pool_script
