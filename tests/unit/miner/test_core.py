"""The miner core against the mining core's channels, in memory: jobs in, valid shares out."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from stratumv2.bitcoin.header import BlockHeader
from stratumv2.bitcoin.target import MAX_TARGET, bits_to_target, target_to_u256
from stratumv2.mining.shares import BlockFound, Valid
from stratumv2.protocol import (
    REQUIRES_STANDARD_JOBS,
    REQUIRES_VERSION_ROLLING,
    Message,
    NewExtendedMiningJob,
    OpenExtendedMiningChannel,
    OpenMiningChannelError,
    OpenStandardMiningChannel,
    SetExtranoncePrefix,
    SetNewPrevHashMining,
    SetTarget,
    SetupConnection,
    SetupConnectionError,
    SubmitSharesError,
    SubmitSharesExtended,
    SubmitSharesStandard,
    SubmitSharesSuccess,
)
from stratumv2.roles.miner.core import (
    ChannelClosed,
    ChannelOpened,
    MinerConfig,
    MinerCore,
    SetupFailed,
    ShareRejected,
    SharesAccepted,
    Solution,
    TargetChanged,
    WorkChanged,
    WorkStopped,
    WorkUnit,
)
from stratumv2.roles.miner.workers import round_parameters, scan

NOW = 1_700_000_000
REGTEST_BITS = 0x207FFFFF


def drain(miner: MinerCore) -> list[Any]:
    events = []
    while (event := miner.next_event()) is not None:
        events.append(event)
    return events


def deliver(miner: MinerCore, pool: Any, messages: list[Message]) -> None:
    """Carry messages both ways until nobody has anything more to say."""
    for message in messages:
        for reply in miner.on_message(message, NOW):
            deliver(miner, pool, pool.handle(reply))


def connect(pool: Any, **config: Any) -> MinerCore:
    miner = MinerCore(MinerConfig(**config))
    (setup,) = miner.start()
    deliver(miner, pool, pool.handle(setup))
    return miner


def solve(work: WorkUnit, round_index: int = 0, count: int = 1) -> list[Solution]:
    """Scan rounds of ``work`` in-process until ``count`` solutions are found."""
    found: list[Solution] = []
    extranonce, version, ntime = round_parameters(work, round_index)
    start = 0
    while len(found) < count:
        for nonce, digest in scan(
            work, work.target, extranonce, version, ntime, start, start + 4096
        ):
            found.append(Solution(work.work_id, nonce, ntime, version, extranonce, digest))
        start += 4096
    return found[:count]


def submit_all(miner: MinerCore, pool: Any, solutions: list[Solution]) -> None:
    for solution in solutions:
        share = miner.submit(solution)
        assert share is not None
        deliver(miner, pool, pool.handle(share))


def test_setup_connection_flags() -> None:
    (setup,) = MinerCore(MinerConfig(requires_standard_jobs=True)).start()
    assert isinstance(setup, SetupConnection)
    assert setup.protocol == 0 and setup.min_version == setup.max_version == 2
    assert setup.flags == REQUIRES_STANDARD_JOBS | REQUIRES_VERSION_ROLLING
    (setup,) = MinerCore(MinerConfig(version_rolling=False)).start()
    assert isinstance(setup, SetupConnection) and setup.flags == 0


@pytest.mark.parametrize("standard_jobs", [True, False])
def test_standard_channel_shares_are_valid(mini_pool: Any, standard_jobs: bool) -> None:
    pool = mini_pool()
    miner = connect(
        pool, channel="standard", requires_standard_jobs=standard_jobs, user_identity="alice"
    )
    events = drain(miner)
    opened = next(e for e in events if isinstance(e, ChannelOpened))
    assert opened.extranonce_size == 0 and opened.target == pool.channel.target
    (work_event,) = [e for e in events if isinstance(e, WorkChanged)]
    work = work_event.work
    assert work.extranonce_size == 0 and len(work.merkle_root) == 32
    assert work.ntime >= NOW and work.version_mask == 0x1FFFFFE0
    assert pool.channel.user_identity == "alice"
    # two rounds: the job's own version and a rolled one
    submit_all(miner, pool, solve(work, 0, 2) + solve(work, 5, 1))
    assert all(isinstance(r, Valid) for r in pool.results), pool.results
    assert miner.accepted == 3 and miner.rejected == 0 and miner.submitted == 3
    assert {e.last_sequence_number for e in drain(miner) if isinstance(e, SharesAccepted)} == {
        1,
        2,
        3,
    }

    # A new template on the same tip (group-addressed unless standard jobs): new work.
    deliver(miner, pool, pool.new_template())
    (changed,) = [e for e in drain(miner) if isinstance(e, WorkChanged)]
    assert not changed.clean and changed.work.job_id != work.job_id
    submit_all(miner, pool, solve(changed.work))
    assert isinstance(pool.results[-1], Valid)
    # The earlier job is still valid on this tip (a past job).
    assert miner.is_current(work.work_id)

    # A new block: future job + SetNewPrevHash -> clean work, the old work goes stale.
    deliver(miner, pool, pool.new_tip(bytes(32)))
    (fresh,) = [e for e in drain(miner) if isinstance(e, WorkChanged)]
    assert fresh.clean and fresh.work.prev_hash == bytes(32)
    assert not miner.is_current(work.work_id)
    assert miner.submit(solve(work, 9)[0]) is None
    submit_all(miner, pool, solve(fresh.work))
    assert isinstance(pool.results[-1], Valid) and miner.accepted == 5


def test_extended_channel_rolls_extranonce(mini_pool: Any) -> None:
    pool = mini_pool()
    miner = connect(pool, channel="extended", min_extranonce_size=4)
    events = drain(miner)
    opened = next(e for e in events if isinstance(e, ChannelOpened))
    assert opened.extranonce_size == pool.channel.extranonce_size >= 4
    assert opened.group_channel_id == 100
    (work_event,) = [e for e in events if isinstance(e, WorkChanged)]
    work = work_event.work
    assert work.extranonce_size == opened.extranonce_size
    assert work.coinbase_head.endswith(opened.extranonce_prefix)
    submit_all(miner, pool, solve(work, 0) + solve(work, 1) + solve(work, 300))
    assert all(isinstance(r, Valid) for r in pool.results), pool.results
    assert miner.accepted == 3
    # Group-addressed job and SetNewPrevHash reach the channel.
    messages = pool.new_tip(bytes([7]) * 32)
    assert any(isinstance(m, NewExtendedMiningJob) and m.channel_id == 100 for m in messages)
    deliver(miner, pool, messages)
    (fresh,) = [e for e in drain(miner) if isinstance(e, WorkChanged)]
    assert fresh.clean and fresh.work.prev_hash == bytes([7]) * 32
    submit_all(miner, pool, solve(fresh.work, 2))
    assert isinstance(pool.results[-1], Valid)


def test_blocks_are_found_and_counted(mini_pool: Any) -> None:
    pool = mini_pool(bits=REGTEST_BITS)
    miner = connect(pool, channel="extended")
    (work_event,) = [e for e in drain(miner) if isinstance(e, WorkChanged)]
    work = work_event.work
    assert work.network_target == bits_to_target(REGTEST_BITS) == pool.channel.target
    (solution,) = solve(work)
    share = miner.submit(solution)
    assert isinstance(share, SubmitSharesExtended) and miner.blocks_found == 1
    deliver(miner, pool, pool.handle(share))
    (found,) = pool.results
    assert isinstance(found, BlockFound)
    header = BlockHeader.parse(found.header)
    assert header.merkle_root == work.merkle_root_for(solution.extranonce)
    assert found.block_hash == solution.hash


def test_set_target_and_rejections(mini_pool: Any) -> None:
    pool = mini_pool()
    miner = connect(pool, channel="standard", requires_standard_jobs=True)
    (work_event,) = [e for e in drain(miner) if isinstance(e, WorkChanged)]
    work = work_event.work
    harder = work.target >> 8
    miner.on_message(SetTarget(channel_id=1, maximum_target=target_to_u256(harder)), NOW)
    assert drain(miner) == [TargetChanged(harder)] and miner.target == harder
    weak = next(s for s in solve(work, 0, 20) if s.value > harder)
    assert miner.submit(weak) is None  # below the new target: not sent
    # A share the pool refuses is counted by error code.
    share = miner.submit(solve(replace(work, target=harder), 3)[0])
    assert isinstance(share, SubmitSharesStandard)
    miner.on_message(
        SubmitSharesError(channel_id=1, sequence_number=share.sequence_number, error_code="x"),
        NOW,
    )
    assert drain(miner) == [ShareRejected(share.sequence_number, "x")]
    assert miner.rejected == 1 and miner.rejected_by_code == {"x": 1}
    # Messages for other channels are ignored.
    miner.on_message(
        SubmitSharesSuccess(
            channel_id=9, last_sequence_number=1, new_submits_accepted_count=5, new_shares_sum=1
        ),
        NOW,
    )
    assert miner.accepted == 0


def test_duplicate_share_detected_by_pool(mini_pool: Any) -> None:
    pool = mini_pool()
    miner = connect(pool, channel="standard")
    (work_event,) = [e for e in drain(miner) if isinstance(e, WorkChanged)]
    (solution,) = solve(work_event.work)
    submit_all(miner, pool, [solution, solution])
    assert miner.accepted == 1 and miner.rejected_by_code == {"duplicate-share": 1}


def test_set_extranonce_prefix_applies_to_later_jobs(mini_pool: Any) -> None:
    pool = mini_pool()
    miner = connect(pool, channel="extended")
    drain(miner)
    new_prefix = bytes([9]) * len(pool.channel.extranonce_prefix)
    miner.on_message(SetExtranoncePrefix(channel_id=1, extranonce_prefix=new_prefix), NOW)
    deliver(miner, pool, pool.new_template())
    (changed,) = [e for e in drain(miner) if isinstance(e, WorkChanged)]
    assert changed.work.coinbase_head.endswith(new_prefix)


def test_refusals_become_events() -> None:
    miner = MinerCore(MinerConfig(channel="extended"))
    miner.start()
    miner.on_message(SetupConnectionError(flags=0, error_code="unsupported-protocol"), NOW)
    assert drain(miner) == [SetupFailed("unsupported-protocol")]

    from stratumv2.protocol import SetupConnectionSuccess

    miner = MinerCore(MinerConfig(channel="extended", user_identity="bob", min_extranonce_size=6))
    miner.start()
    (open_msg,) = miner.on_message(SetupConnectionSuccess(used_version=2, flags=0), NOW)
    assert isinstance(open_msg, OpenExtendedMiningChannel)
    assert open_msg.user_identity == "bob" and open_msg.min_extranonce_size == 6
    assert open_msg.max_target == target_to_u256(MAX_TARGET)
    miner.on_message(OpenMiningChannelError(request_id=1, error_code="unknown-user"), NOW)
    assert drain(miner) == [ChannelClosed("unknown-user")]

    miner = MinerCore(MinerConfig(channel="standard", nominal_hashrate=5e6))
    miner.start()
    (open_msg,) = miner.on_message(SetupConnectionSuccess(used_version=2, flags=0), NOW)
    assert isinstance(open_msg, OpenStandardMiningChannel) and open_msg.nominal_hash_rate == 5e6


def test_round_parameters_are_disjoint() -> None:
    work = WorkUnit(
        1,
        1,
        0x20000000,
        bytes(32),
        REGTEST_BITS,
        NOW,
        MAX_TARGET,
        MAX_TARGET,
        0x1FFFFFE0,
        coinbase_head=b"a",
        coinbase_tail=b"b",
        extranonce_size=1,
    )
    seen = {round_parameters(work, r) for r in range(2000)}
    assert len(seen) == 2000
    for extranonce, version, ntime in seen:
        assert version & ~0x1FFFFFE0 == 0x20000000 and ntime == NOW and len(extranonce) == 1
    fixed = WorkUnit(
        1,
        1,
        0x20000000,
        bytes(32),
        REGTEST_BITS,
        NOW,
        MAX_TARGET,
        MAX_TARGET,
        merkle_root=bytes(32),
    )
    assert [round_parameters(fixed, r)[2] for r in range(3)] == [NOW, NOW + 1, NOW + 2]


def test_prev_hash_for_an_unknown_job_stops_work(mini_pool: Any) -> None:
    pool = mini_pool()
    miner = connect(pool, channel="standard", requires_standard_jobs=True)
    (work_event,) = [e for e in drain(miner) if isinstance(e, WorkChanged)]
    miner.on_message(
        SetNewPrevHashMining(
            channel_id=1, job_id=999, prev_hash=bytes(32), min_ntime=NOW, nbits=REGTEST_BITS
        ),
        NOW,
    )
    assert drain(miner) == [WorkStopped("SetNewPrevHash for unknown job 999")]
    assert miner.work is None and not miner.is_current(work_event.work.work_id)
