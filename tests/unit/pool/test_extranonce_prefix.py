"""SetExtranoncePrefix: the core moves a channel to a fresh prefix; the miner's later shares
validate under it, old-prefix work on the new jobs is refused, and the old prefix returns to
the allocator only once no job can use it."""

from __future__ import annotations

from typing import Any

import pytest

from stratumv2.bitcoin.hashes import merkle_root_from_branch, sha256d
from stratumv2.mining.errors import UnknownChannelError
from stratumv2.protocol import (
    NewExtendedMiningJob,
    NewMiningJob,
    SetExtranoncePrefix,
    SubmitSharesError,
)

STANDARD_JOBS = 0x1


def _errors(actions: list[Any]) -> list[str]:
    return [
        a[1].error_code
        for a in actions
        if isinstance(a, tuple) and isinstance(a[1], SubmitSharesError)
    ]


def test_extended_channel_moves_to_new_prefix(kit_factory: Any) -> None:
    kit = kit_factory(share_batch_size=1)
    miner = kit.miner(1)
    miner.open_extended(min_size=8)
    ch = next(iter(miner.channels.values()))
    old_prefix, old_job, size = ch.prefix, ch.active, ch.extranonce_size
    assert not _errors(miner.submit(miner.share(ch.channel_id, extranonce=b"\x01" * size)))

    out = miner.feed(kit.core.set_extranonce_prefix(1, ch.channel_id, kit.now))
    sent = kit.sent(out, 1)
    assert isinstance(sent[0], SetExtranoncePrefix) and sent[0].channel_id == ch.channel_id
    new_prefix = sent[0].extranonce_prefix
    assert new_prefix != old_prefix and len(new_prefix) == len(old_prefix)
    assert isinstance(sent[1], NewExtendedMiningJob) and sent[1].min_ntime is not None
    assert ch.prefix == new_prefix and ch.active == sent[1].job_id != old_job

    # the miner's later shares validate under the new prefix
    for i in range(3):
        share = miner.share(ch.channel_id, extranonce=bytes([i]) * size, start=i << 20)
        assert not _errors(miner.submit(share))
    # the old prefix on the new job is different work: refused
    ch.prefix = old_prefix
    stale_work = miner.share(ch.channel_id, extranonce=b"\x07" * size)
    assert _errors(miner.submit(stale_work)) == ["difficulty-too-low"]
    # the job sent before keeps its own (old) prefix until the tip changes (spec 5.3.18)
    share = miner.share(ch.channel_id, job_id=old_job, extranonce=b"\x08" * size)
    assert not _errors(miner.submit(share))


def test_standard_channel_jobs_use_new_prefix(kit_factory: Any) -> None:
    kit = kit_factory(share_batch_size=1)
    for conn_id, flags in ((1, STANDARD_JOBS), (2, 0)):  # own jobs, and a group member
        miner = kit.miner(conn_id, flags)
        miner.open_standard()
        ch = next(iter(miner.channels.values()))
        out = miner.feed(kit.core.set_extranonce_prefix(conn_id, ch.channel_id, kit.now))
        prefix_msg, job = kit.sent(out, conn_id)
        assert isinstance(prefix_msg, SetExtranoncePrefix) and isinstance(job, NewMiningJob)
        core_job = kit.core.factory.current_job()
        coinbase = core_job.coinbase_tx(prefix_msg.extranonce_prefix)
        expected = merkle_root_from_branch(sha256d(coinbase), core_job.merkle_path)
        assert job.merkle_root == expected
        assert not _errors(miner.submit(miner.share(ch.channel_id)))
        # a later template's job (to the group, or to the channel) is built on it too
        kit.template(2, future=False)
        assert ch.active != job.job_id
        assert not _errors(miner.submit(miner.share(ch.channel_id, start=1 << 22)))


def test_old_prefix_freed_only_after_its_jobs_are_stale(kit_factory: Any) -> None:
    kit = kit_factory()
    miner = kit.miner(1)
    miner.open_extended()
    ch = next(iter(miner.channels.values()))
    allocator = kit.core.allocator
    assert allocator.live_count == 1
    kit.template(2)  # a future job sent on the old prefix
    miner.feed(kit.core.set_extranonce_prefix(1, ch.channel_id, kit.now))
    assert allocator.live_count == 2
    kit.prev_hash(2, prev=b"\x02" * 32)  # activates that job: old prefix still live
    assert allocator.live_count == 2
    kit.template(3)
    kit.prev_hash(3, prev=b"\x03" * 32)
    assert allocator.live_count == 1
    with pytest.raises(UnknownChannelError):
        kit.core.set_extranonce_prefix(1, 99, kit.now)
