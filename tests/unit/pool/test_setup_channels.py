"""SetupConnection, channel opening, groups, UpdateChannel, CloseChannel, job fan-out."""

from __future__ import annotations

from typing import Any

from stratumv2.bitcoin.target import bits_to_target, u256_to_target
from stratumv2.protocol import (
    CloseChannel,
    NewExtendedMiningJob,
    NewMiningJob,
    OpenExtendedMiningChannelSuccess,
    OpenMiningChannelError,
    OpenStandardMiningChannelSuccess,
    SetNewPrevHashMining,
    SetTarget,
    SetupConnectionError,
    SetupConnectionSuccess,
    SubmitSharesError,
    UpdateChannel,
    UpdateChannelError,
    decode_frame,
)
from stratumv2.roles.pool.core import Disconnect

STANDARD_JOBS = 0x1


def _sent(actions: list[Any], conn_id: int | None = None) -> list[Any]:
    out = []
    for a in actions:
        if isinstance(a, tuple) and (conn_id is None or a[0] == conn_id):
            out.append(decode_frame(a[1] + a[2]) if len(a) == 3 else a[1])
    return out


def test_setup_success_version_2(kit: Any) -> None:
    kit.core.connection_made(1, "127.0.0.1:1", kit.now)
    out = kit.core.on_connection_message(1, kit.setup_message(0x4, lo=2, hi=5), kit.now)
    assert out == [(1, SetupConnectionSuccess(used_version=2, flags=0))]


def test_setup_unsupported_protocol(kit: Any) -> None:
    for protocol in (1, 2):
        kit.core.connection_made(protocol, "127.0.0.1:1", kit.now)
        out = kit.core.on_connection_message(
            protocol, kit.setup_message(protocol=protocol), kit.now
        )
        assert out[0] == (
            protocol,
            SetupConnectionError(flags=0, error_code="unsupported-protocol"),
        )
        assert isinstance(out[1], Disconnect)


def test_setup_version_mismatch(kit: Any) -> None:
    kit.core.connection_made(1, "127.0.0.1:1", kit.now)
    out = kit.core.on_connection_message(1, kit.setup_message(lo=3, hi=4), kit.now)
    assert out[0] == (1, SetupConnectionError(flags=0, error_code="protocol-version-mismatch"))
    assert isinstance(out[1], Disconnect)


def test_setup_unsupported_flags_lists_them(kit: Any) -> None:
    kit.core.connection_made(1, "127.0.0.1:1", kit.now)
    out = kit.core.on_connection_message(1, kit.setup_message(0x2 | 0x10 | 0x1), kit.now)
    assert out[0] == (1, SetupConnectionError(flags=0x12, error_code="unsupported-feature-flags"))
    assert isinstance(out[1], Disconnect)


def test_message_before_setup_disconnects(kit: Any) -> None:
    kit.core.connection_made(1, "127.0.0.1:1", kit.now)
    out = kit.core.on_connection_message(1, CloseChannel(channel_id=1, reason_code="x"), kit.now)
    assert len(out) == 1 and isinstance(out[0], Disconnect)


def test_standard_jobs_connection_gets_own_jobs(kit: Any) -> None:
    miner = kit.miner(1, STANDARD_JOBS)
    msgs = _sent(miner.open_standard())
    ok, job, activate = msgs
    assert isinstance(ok, OpenStandardMiningChannelSuccess) and ok.group_channel_id == 0
    assert len(ok.extranonce_prefix) == 20
    assert isinstance(job, NewMiningJob) and job.min_ntime is None
    assert isinstance(activate, SetNewPrevHashMining) and activate.job_id == job.job_id
    assert activate.channel_id == ok.channel_id
    # extended channels are refused on such a connection
    (err,) = _sent(miner.open_extended())
    assert err == OpenMiningChannelError(
        request_id=2, error_code="extended-channels-not-supported-for-standard-jobs"
    )
    # a new future template: one NewMiningJob per channel; new tip: one SetNewPrevHash
    miner.open_standard()
    out = kit.template(2)
    assert [type(m) for m in _sent(out)] == [NewMiningJob, NewMiningJob]
    out = kit.prev_hash(2, prev=bytes(32))
    assert [type(m) for m in _sent(out)] == [SetNewPrevHashMining, SetNewPrevHashMining]


def test_group_channel_fan_out_once_per_connection(kit: Any) -> None:
    miner = kit.miner(1)
    first = _sent(miner.open_standard())
    second = _sent(miner.open_extended())
    assert isinstance(first[0], OpenStandardMiningChannelSuccess)
    assert isinstance(second[0], OpenExtendedMiningChannelSuccess)
    group = first[0].group_channel_id
    assert group and group == second[0].group_channel_id
    assert group not in (first[0].channel_id, second[0].channel_id)
    assert isinstance(second[1], NewExtendedMiningJob) and second[1].channel_id == 3
    # prefixes never overlap; the full extranonce has one size for the whole group
    assert len(second[0].extranonce_prefix) + second[0].extranonce_size == 20
    assert not first[0].extranonce_prefix.startswith(second[0].extranonce_prefix)
    out = kit.template(2)
    (job,) = _sent(out, 1)
    assert isinstance(job, NewExtendedMiningJob) and job.channel_id == group
    out = kit.prev_hash(2, prev=bytes(32))
    (act,) = _sent(out, 1)
    assert isinstance(act, SetNewPrevHashMining) and act.channel_id == group
    assert act.job_id == job.job_id
    # both members can mine the group job
    for channel_id in (first[0].channel_id, second[0].channel_id):
        ch = miner.channels[channel_id]
        assert ch.active == job.job_id and ch.prev.prev_hash == bytes(32)
        out = miner.submit(miner.share(channel_id))
        assert not any(isinstance(m, SubmitSharesError) for m in _sent(out))


def test_solo_user_address_gets_its_own_group(kit: Any) -> None:
    miner = kit.miner(1)
    a = _sent(miner.open_standard(user="alice"))[0]
    b = _sent(miner.open_standard(user=kit.solo_address + ".rig"))[0]
    assert a.group_channel_id != b.group_channel_id


def test_non_future_template_gives_active_jobs(kit: Any) -> None:
    miner = kit.miner(1, STANDARD_JOBS)
    miner.open_standard()
    (job,) = _sent(kit.template(2, future=False))
    assert isinstance(job, NewMiningJob) and job.min_ntime is not None
    assert miner.channels[1].active == job.job_id


def test_open_errors(kit: Any) -> None:
    miner = kit.miner(1)
    nan = float("nan")
    assert _sent(miner.open_standard(user=""))[0].error_code == "invalid-user-identity"
    assert _sent(miner.open_standard(user="a\x00b"))[0].error_code == "invalid-user-identity"
    assert _sent(miner.open_standard(hashrate=-1.0))[0].error_code == "invalid-nominal-hashrate"
    assert _sent(miner.open_standard(hashrate=nan))[0].error_code == "invalid-nominal-hashrate"
    hard = (1).to_bytes(32, "little")
    assert _sent(miner.open_standard(max_target=hard))[0].error_code == "max-target-out-of-range"
    assert _sent(miner.open_extended(min_size=64))[0].error_code == "min-extranonce-size-too-large"
    assert not miner.channels


def test_target_never_harder_than_network(kit_factory: Any, regtest_bits: int) -> None:
    kit = kit_factory(regtest_bits)
    miner = kit.miner(1)
    ok = _sent(miner.open_standard(hashrate=1e15))[0]
    assert u256_to_target(ok.target) == bits_to_target(regtest_bits)


def test_update_channel_sets_target_and_errors(kit: Any) -> None:
    miner = kit.miner(1)
    ok = _sent(miner.open_standard(hashrate=1000.0))[0]
    old = u256_to_target(ok.target)
    out = miner.feed(
        kit.core.on_connection_message(
            1,
            UpdateChannel(channel_id=ok.channel_id, nominal_hash_rate=1e6, maximum_target=kit.ff),
            kit.now,
        )
    )
    (st,) = _sent(out)
    assert isinstance(st, SetTarget) and u256_to_target(st.maximum_target) < old
    # a lower maximum_target is followed at once
    low = (u256_to_target(st.maximum_target) // 2).to_bytes(32, "little")
    (st2,) = _sent(
        kit.core.on_connection_message(
            1,
            UpdateChannel(channel_id=ok.channel_id, nominal_hash_rate=1e6, maximum_target=low),
            kit.now,
        )
    )
    assert st2.maximum_target == low
    (err,) = _sent(
        kit.core.on_connection_message(
            1, UpdateChannel(channel_id=99, nominal_hash_rate=1.0, maximum_target=kit.ff), kit.now
        )
    )
    assert err == UpdateChannelError(channel_id=99, error_code="invalid-channel-id")
    (err,) = _sent(
        kit.core.on_connection_message(
            1,
            UpdateChannel(channel_id=ok.channel_id, nominal_hash_rate=-5.0, maximum_target=kit.ff),
            kit.now,
        )
    )
    assert err.error_code == "invalid-nominal-hashrate"


def test_close_channel_and_group(kit: Any) -> None:
    miner = kit.miner(1)
    a = _sent(miner.open_standard())[0]
    b = _sent(miner.open_standard())[0]
    live = kit.core.allocator.live_count
    kit.core.on_connection_message(
        1, CloseChannel(channel_id=a.channel_id, reason_code=""), kit.now
    )
    assert kit.core.channel(1, a.channel_id) is None and kit.core.channel(1, b.channel_id)
    out = miner.submit(miner.share(a.channel_id))
    assert _sent(out)[0].error_code == "invalid-channel-id"
    kit.core.on_connection_message(
        1, CloseChannel(channel_id=b.group_channel_id, reason_code=""), kit.now
    )
    assert kit.core.channel_count() == 0
    assert kit.core.allocator.live_count == live - 2


def test_connection_lost_frees_prefixes(kit: Any) -> None:
    miner = kit.miner(1)
    miner.open_standard()
    miner.open_extended()
    assert kit.core.allocator.live_count == 2
    kit.core.connection_lost(1, kit.now)
    assert kit.core.allocator.live_count == 0 and not kit.core.connections


def test_channel_opened_between_future_template_and_tip(kit: Any) -> None:
    kit.template(2)  # future, before any channel
    miner = kit.miner(1, STANDARD_JOBS)
    miner.open_standard()
    group_miner = kit.miner(2)
    group_miner.open_extended()
    kit.prev_hash(2, prev=bytes(32))
    for m in (miner, group_miner):
        (ch,) = m.channels.values()
        assert ch.prev.prev_hash == bytes(32) and ch.active in ch.jobs
        out = m.submit(m.share(ch.channel_id))
        assert not any(isinstance(x, SubmitSharesError) for x in _sent(out))


def test_fast_path_frames_equal_the_codec(kit: Any) -> None:
    from stratumv2.protocol import encode_frame

    miner = kit.miner(1, STANDARD_JOBS)
    miner.open_standard()
    kit.miner(2).open_extended()
    kit.template(2)
    out = kit.core.on_set_new_prev_hash(_prev(kit), kit.now)
    frames = [a for a in out if isinstance(a, tuple) and len(a) == 3]
    assert len(frames) == 2  # the standalone channel, and the group of connection 2
    for _, header, payload in frames:
        msg = decode_frame(header + payload)
        assert isinstance(msg, SetNewPrevHashMining)
        assert encode_frame(msg) == header + payload
    kit.broadcast(out)
    kit.core.activate_pending(kit.now)
    assert kit.core.channel(1, 1).tip.prev_hash == bytes(32)


def _prev(kit: Any) -> Any:
    from stratumv2.bitcoin.target import bits_to_target
    from stratumv2.protocol import SetNewPrevHashTd

    return SetNewPrevHashTd(
        template_id=2,
        prev_hash=bytes(32),
        header_timestamp=int(kit.now),
        n_bits=kit.bits,
        target=bits_to_target(kit.bits).to_bytes(32, "little"),
    )


def test_open_before_first_template_is_answered_at_first_tip(kit: Any) -> None:
    from stratumv2.protocol import OpenStandardMiningChannel
    from stratumv2.roles.pool.core import PoolConfig, PoolCore

    core = PoolCore(PoolConfig(payout_script=kit.pool_script))
    core.connection_made(1, "127.0.0.1:1", kit.now)
    core.on_connection_message(1, kit.setup_message(STANDARD_JOBS), kit.now)
    open_msg = OpenStandardMiningChannel(
        request_id=7, user_identity="a", nominal_hash_rate=1e6, max_target=kit.ff
    )
    assert core.on_connection_message(1, open_msg, kit.now) == []
    core.on_new_template(kit.make_template(1), kit.now)
    out = _sent(core.on_set_new_prev_hash(kit.make_prev_hash(1, kit.bits), kit.now))
    assert isinstance(out[0], OpenStandardMiningChannelSuccess) and out[0].request_id == 7
    assert isinstance(out[1], NewMiningJob) and isinstance(out[2], SetNewPrevHashMining)


def test_standard_job_frames_equal_the_codec(kit: Any) -> None:
    from stratumv2.protocol import NewMiningJob, encode_frame

    miner = kit.miner(1, STANDARD_JOBS)
    miner.open_standard()
    channel = kit.core.channel(1, 1)
    for template_id, future in ((2, True), (3, False)):
        out = kit.template(template_id, future=future)
        (frame,) = [a for a in out if isinstance(a, tuple) and len(a) == 3]
        msg = decode_frame(frame[1] + frame[2])
        assert isinstance(msg, NewMiningJob) and encode_frame(msg) == frame[1] + frame[2]
        assert (msg.min_ntime is None) == future
        job = kit.core.factory.job(template_id)
        assert msg.merkle_root == job.merkle_root(channel.extranonce_prefix)
        if not future:  # the channel validates its shares against that very root
            assert channel.job(msg.job_id).merkle_root == msg.merkle_root
    # the active job's shares are accepted under that root
    assert not [
        a
        for a in miner.submit(miner.share(1))
        if isinstance(a, tuple) and type(a[1]).__name__ == "SubmitSharesError"
    ]
