"""Every share rejection, with its SV2 error code, on real solved (or unsolved) shares."""

from __future__ import annotations

import dataclasses
from typing import Any

from stratumv2.bitcoin.hashes import merkle_root_from_branch, sha256d
from stratumv2.bitcoin.header import header_hash
from stratumv2.bitcoin.target import MAX_TARGET, target_to_difficulty
from stratumv2.mining.channel import ChannelConfig
from stratumv2.mining.extended import ExtendedChannel
from stratumv2.mining.extranonce import ExtranonceAllocator
from stratumv2.mining.jobs import JobFactory, Payout
from stratumv2.mining.shares import (
    BadExtranonceSize,
    BelowTarget,
    Duplicate,
    InvalidChannelId,
    InvalidJobId,
    InvalidTimestamp,
    InvalidVersionBits,
    Stale,
    Valid,
    solve_header,
)
from stratumv2.mining.standard import StandardChannel
from stratumv2.protocol import (
    NewExtendedMiningJob,
    NewMiningJob,
    SubmitSharesError,
    SubmitSharesExtended,
    SubmitSharesStandard,
)

EASY = MAX_TARGET >> 3
HARD = MAX_TARGET >> 40  # ~1e12 hashes: never met by chance in a test


def standard(sc: Any, **kw: Any) -> tuple[StandardChannel, NewMiningJob]:
    alloc = ExtranonceAllocator(20)
    kw.setdefault("requested_target", EASY)
    ch = StandardChannel(7, "u", alloc.allocate_standard(), **kw)
    job = ch.new_job(sc.factory.current_job(), future=True, now=sc.now)
    ch.on_new_prev_hash(sc.factory.tip)
    return ch, job


def share_for(sc: Any, job: NewMiningJob, target: int, **changes: Any) -> SubmitSharesStandard:
    tip = sc.factory.tip
    version = changes.pop("version", job.version)
    ntime = changes.pop("ntime", tip.min_ntime)
    nonce = solve_header(version, tip.prev_hash, job.merkle_root, ntime, tip.nbits, target)
    assert nonce is not None
    fields = {
        "channel_id": job.channel_id,
        "sequence_number": 42,
        "job_id": job.job_id,
        "nonce": nonce,
        "ntime": ntime,
        "version": version,
    }
    fields.update(changes)
    return SubmitSharesStandard(**fields)


def check_rejected(result: Any, cls: type, code: str) -> None:
    assert isinstance(result, cls), result
    assert not result.accepted
    assert result.response == SubmitSharesError(channel_id=7, sequence_number=42, error_code=code)


def test_valid_share_baseline(hard: Any) -> None:
    ch, job = standard(hard)
    result = ch.validate_share(share_for(hard, job, EASY), hard.now)
    assert isinstance(result, Valid) and result.accepted and result.response is None


def test_unknown_job_id(hard: Any) -> None:
    ch, job = standard(hard)
    share = share_for(hard, job, EASY, job_id=999)
    check_rejected(ch.validate_share(share, hard.now), InvalidJobId, "invalid-job-id")


def test_future_job_not_yet_active(hard: Any) -> None:
    ch, job = standard(hard)
    hard.factory.on_new_template(hard.make_template(2, hard.transactions, future=True))
    future = ch.new_job(hard.factory.job(2), future=True, now=hard.now)
    share = share_for(hard, job, EASY, job_id=future.job_id)
    check_rejected(ch.validate_share(share, hard.now), InvalidJobId, "invalid-job-id")


def test_stale_after_new_prev_hash(hard: Any) -> None:
    ch, job = standard(hard)
    share = share_for(hard, job, EASY)
    hard.factory.on_new_template(hard.make_template(2, hard.transactions[:1], future=True))
    ch.new_job(hard.factory.job(2), future=True, now=hard.now)
    ch.on_new_prev_hash(hard.factory.on_set_new_prev_hash(hard.make_prev_hash(2, prev=b"\1" * 32)))
    check_rejected(ch.validate_share(share, hard.now), Stale, "stale-share")


def test_past_jobs_on_the_same_tip_still_count_until_evicted(hard: Any) -> None:
    ch, job = standard(hard, config=ChannelConfig(max_past_jobs=2))
    first = share_for(hard, job, EASY)
    for template_id in (2, 3):
        hard.factory.on_new_template(
            hard.make_template(template_id, hard.transactions, future=False)
        )
        ch.new_job(hard.factory.current_job(), future=False, now=hard.now)
    assert isinstance(ch.validate_share(first, hard.now), Valid)
    hard.factory.on_new_template(hard.make_template(4, hard.transactions, future=False))
    ch.new_job(hard.factory.current_job(), future=False, now=hard.now)
    second = dataclasses.replace(first, nonce=first.nonce + 1)
    check_rejected(ch.validate_share(second, hard.now), Stale, "stale-share")


def test_below_target(hard: Any) -> None:
    ch, job = standard(hard, requested_target=HARD)
    assert ch.target == HARD
    share = share_for(hard, job, EASY)
    check_rejected(ch.validate_share(share, hard.now), BelowTarget, "difficulty-too-low")


def test_duplicate(hard: Any) -> None:
    ch, job = standard(hard)
    share = share_for(hard, job, EASY)
    assert isinstance(ch.validate_share(share, hard.now), Valid)
    again = dataclasses.replace(share, sequence_number=42)
    check_rejected(ch.validate_share(again, hard.now), Duplicate, "duplicate-share")


def test_ntime_too_old_and_too_new(hard: Any) -> None:
    ch, job = standard(hard)
    tip = hard.factory.tip
    old = share_for(hard, job, EASY, ntime=tip.min_ntime - 1)
    check_rejected(ch.validate_share(old, hard.now), InvalidTimestamp, "invalid-share")
    new = share_for(hard, job, EASY, ntime=hard.now + 7201)
    check_rejected(ch.validate_share(new, hard.now), InvalidTimestamp, "invalid-share")
    edge = share_for(hard, job, EASY, ntime=hard.now + 7200)
    assert isinstance(ch.validate_share(edge, hard.now), Valid)
    lenient, job2 = standard(hard, config=ChannelConfig(max_ntime_drift=None))
    assert isinstance(
        lenient.validate_share(share_for(hard, job2, EASY, ntime=2**32 - 1), 0), Valid
    )


def test_version_bits_outside_mask(hard: Any) -> None:
    ch, job = standard(hard)
    inside = share_for(hard, job, EASY, version=job.version | 0x1FFFFFE0)
    assert isinstance(ch.validate_share(inside, hard.now), Valid)
    for bad in (job.version | 0x1, job.version ^ 0x20000000, job.version | 0x40000000):
        share = share_for(hard, job, EASY, version=bad)
        check_rejected(
            ch.validate_share(share, hard.now),
            InvalidVersionBits,
            "invalid-non-rollable-version-bit",
        )


def extended(
    sc: Any, factory: JobFactory | None = None
) -> tuple[ExtendedChannel, NewExtendedMiningJob]:
    factory = factory or sc.factory
    alloc = ExtranonceAllocator(20)
    ch = ExtendedChannel(7, "u", alloc.allocate_extended(4), requested_target=EASY)
    job = ch.new_job(factory.current_job(), future=True, now=sc.now)
    ch.on_new_prev_hash(factory.tip)
    return ch, job


def ext_share(
    sc: Any, ch: ExtendedChannel, job: NewExtendedMiningJob, extranonce: bytes, version: int
) -> SubmitSharesExtended:
    tip = sc.factory.tip
    cb = job.coinbase_tx_prefix + ch.extranonce_prefix + extranonce + job.coinbase_tx_suffix
    root = merkle_root_from_branch(sha256d(cb), job.merkle_path)
    nonce = solve_header(version, tip.prev_hash, root, tip.min_ntime, tip.nbits, EASY)
    assert nonce is not None
    return SubmitSharesExtended(
        channel_id=7,
        sequence_number=42,
        job_id=job.job_id,
        nonce=nonce,
        ntime=tip.min_ntime,
        version=version,
        extranonce=extranonce,
    )


def test_bad_extranonce_size(hard: Any) -> None:
    ch, job = extended(hard)
    assert ch.extranonce_size == 16
    ok = ext_share(hard, ch, job, bytes(16), job.version)
    assert isinstance(ch.validate_share(ok, hard.now), Valid)
    for size in (15, 17, 0):
        share = dataclasses.replace(ok, extranonce=bytes(size))
        check_rejected(ch.validate_share(share, hard.now), BadExtranonceSize, "bad-extranonce-size")


def test_share_is_hashed_with_its_own_extranonce(hard: Any) -> None:
    ch, job = extended(hard)
    share = ext_share(hard, ch, job, b"\x01" * 16, job.version)
    tip = hard.factory.tip
    for i in range(256):  # another extranonce whose header misses the target
        other = bytes([i + 2]) * 16
        cb = job.coinbase_tx_prefix + ch.extranonce_prefix + other + job.coinbase_tx_suffix
        root = merkle_root_from_branch(sha256d(cb), job.merkle_path)
        digest = header_hash(
            share.version, tip.prev_hash, root, share.ntime, tip.nbits, share.nonce
        )
        if int.from_bytes(digest, "little") > EASY:
            break
    forged = dataclasses.replace(share, extranonce=other)
    check_rejected(ch.validate_share(forged, hard.now), BelowTarget, "difficulty-too-low")
    assert isinstance(ch.validate_share(share, hard.now), Valid)


def test_version_rolling_not_allowed(hard: Any) -> None:
    factory = JobFactory(
        Payout.to_script(hard.pool_script), full_extranonce_size=20, version_rolling_allowed=False
    )
    factory.on_new_template(hard.template)
    factory.on_set_new_prev_hash(hard.prev_hash)
    ch, job = extended(hard, factory)
    assert job.version_rolling_allowed is False
    share = ext_share(hard, ch, job, bytes(16), job.version | 0x2000)
    check_rejected(
        ch.validate_share(share, hard.now), InvalidVersionBits, "version-rolling-not-allowed"
    )
    same = ext_share(hard, ch, job, bytes(16), job.version)
    assert isinstance(ch.validate_share(same, hard.now), Valid)


def test_invalid_channel_id_result() -> None:
    result = InvalidChannelId(7, 42)
    check_rejected(result, InvalidChannelId, "invalid-channel-id")


def test_set_target_applies_to_later_jobs_but_easier_shares_still_count(hard: Any) -> None:
    ch, job = standard(hard, requested_target=HARD)
    msg = ch.set_target(EASY)
    assert msg is not None and int.from_bytes(msg.maximum_target, "little") == EASY
    assert ch.set_target(EASY) is None
    result = ch.validate_share(share_for(hard, job, EASY), hard.now)
    assert isinstance(result, Valid)
    # Credited with the channel target it met, not the (harder) target fixed on the job.
    assert result.difficulty == target_to_difficulty(EASY)
    assert ch.job(job.job_id).target == HARD  # type: ignore[union-attr]
