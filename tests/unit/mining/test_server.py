"""ServerChannels: one connection's channels driven with protocol messages, SRI-style."""

from __future__ import annotations

from typing import Any

from stratumv2.bitcoin.hashes import merkle_root_from_branch, sha256d
from stratumv2.bitcoin.target import MAX_TARGET, hashrate_to_target, target_to_u256
from stratumv2.bitcoin.tx import Transaction
from stratumv2.mining.extranonce import ExtranonceAllocator
from stratumv2.mining.jobs import JobFactory, Payout
from stratumv2.mining.server import (
    REQUIRES_STANDARD_JOBS,
    REQUIRES_WORK_SELECTION,
    ServerChannels,
)
from stratumv2.mining.shares import BlockFound, InvalidChannelId, Valid, solve_header
from stratumv2.protocol import (
    CloseChannel,
    NewExtendedMiningJob,
    NewMiningJob,
    OpenExtendedMiningChannel,
    OpenExtendedMiningChannelSuccess,
    OpenMiningChannelError,
    OpenStandardMiningChannel,
    OpenStandardMiningChannelSuccess,
    SetNewPrevHashMining,
    SetTarget,
    SubmitSharesExtended,
    SubmitSharesStandard,
    UpdateChannel,
    UpdateChannelError,
)

FF = target_to_u256(MAX_TARGET)


def std_open(req: int = 1, hashrate: float = 1e6) -> OpenStandardMiningChannel:
    return OpenStandardMiningChannel(
        request_id=req, user_identity="w", nominal_hash_rate=hashrate, max_target=FF
    )


def ext_open(req: int = 2, size: int = 8, hashrate: float = 1e6) -> OpenExtendedMiningChannel:
    return OpenExtendedMiningChannel(
        request_id=req,
        user_identity="p",
        nominal_hash_rate=hashrate,
        max_target=FF,
        min_extranonce_size=size,
    )


def server(sc: Any, flags: int = 0) -> ServerChannels:
    return ServerChannels(sc.factory, ExtranonceAllocator(20), flags=flags)


def test_standard_jobs_only_connection(regtest: Any) -> None:
    sc = regtest
    conn = server(sc, REQUIRES_STANDARD_JOBS)
    success, job, act = conn.open_standard(std_open(), sc.now)
    assert isinstance(success, OpenStandardMiningChannelSuccess)
    assert success.group_channel_id == 0 and len(success.extranonce_prefix) == 20
    # Regtest: the hashrate's target is harder than the network's, so the network's is used.
    assert int.from_bytes(success.target, "little") == sc.factory.tip.network_target
    assert isinstance(job, NewMiningJob) and job.min_ntime is None
    assert act == SetNewPrevHashMining(
        channel_id=success.channel_id,
        job_id=job.job_id,
        prev_hash=sc.prev_hash.prev_hash,
        min_ntime=sc.prev_hash.header_timestamp,
        nbits=sc.prev_hash.n_bits,
    )
    (refused,) = conn.open_extended(ext_open(), sc.now)
    assert refused == OpenMiningChannelError(
        request_id=2, error_code="extended-channels-not-supported-for-standard-jobs"
    )
    # Templates become per-channel NewMiningJobs.
    sc.factory.on_new_template(sc.make_template(2, sc.transactions[:2], future=False))
    (again,) = conn.on_new_template(2, sc.now)
    assert isinstance(again, NewMiningJob) and again.min_ntime == sc.now
    tip = sc.factory.tip
    nonce = solve_header(
        again.version, tip.prev_hash, again.merkle_root, sc.now, tip.nbits, tip.network_target
    )
    share = SubmitSharesStandard(
        channel_id=success.channel_id,
        sequence_number=9,
        job_id=again.job_id,
        nonce=nonce,
        ntime=sc.now,
        version=again.version,
    )
    found = conn.submit_standard(share, sc.now)
    assert isinstance(found, BlockFound) and found.template_id == 2


def test_grouped_connection_sri_flow(hard: Any) -> None:
    sc = hard
    conn = server(sc)
    s_success, s_job, _ = conn.open_standard(std_open(hashrate=1e9), sc.now)
    e_success, e_job, _ = conn.open_extended(ext_open(hashrate=1.0), sc.now)
    assert isinstance(e_success, OpenExtendedMiningChannelSuccess)
    group_id = s_success.group_channel_id
    assert group_id == e_success.group_channel_id != 0
    assert len({group_id, s_success.channel_id, e_success.channel_id}) == 3
    assert e_success.extranonce_size == 16 and len(e_success.extranonce_prefix) == 4
    assert int.from_bytes(s_success.target, "little") == hashrate_to_target(1e9, 6.0)
    assert isinstance(s_job, NewMiningJob) and isinstance(e_job, NewExtendedMiningJob)
    assert s_job.channel_id == s_success.channel_id and e_job.channel_id == e_success.channel_id

    # A new tip: one future job and one SetNewPrevHash, both to the group.
    txs = sc.make_transactions(3, salt=9)
    sc.factory.on_new_template(sc.make_template(2, txs, future=True))
    (future,) = conn.on_new_template(2, sc.now)
    assert isinstance(future, NewExtendedMiningJob) and future.channel_id == group_id
    tip = sc.factory.on_set_new_prev_hash(sc.make_prev_hash(2, sc.prev_hash.n_bits, b"\7" * 32))
    (act,) = conn.on_new_prev_hash(tip, sc.now)
    assert act.channel_id == group_id and act.job_id == future.job_id

    # The extended member mines the group job with its own extranonce.
    ext_id = e_success.channel_id
    extranonce = b"\x05" * 16
    cb = future.coinbase_tx_prefix + e_success.extranonce_prefix + extranonce
    root = merkle_root_from_branch(sha256d(cb + future.coinbase_tx_suffix), future.merkle_path)
    target = int.from_bytes(e_success.target, "little")
    nonce = solve_header(future.version, tip.prev_hash, root, tip.min_ntime, tip.nbits, target)
    share = SubmitSharesExtended(
        channel_id=ext_id,
        sequence_number=1,
        job_id=future.job_id,
        nonce=nonce,
        ntime=tip.min_ntime,
        version=future.version,
        extranonce=extranonce,
    )
    assert isinstance(conn.submit_extended(share, sc.now), Valid)
    wrong_kind = SubmitSharesStandard(
        channel_id=ext_id, sequence_number=2, job_id=1, nonce=0, ntime=0, version=0
    )
    assert isinstance(conn.submit_standard(wrong_kind, sc.now), InvalidChannelId)
    unknown = SubmitSharesExtended(
        channel_id=99, sequence_number=3, job_id=1, nonce=0, ntime=0, version=0, extranonce=b""
    )
    result = conn.submit_extended(unknown, sc.now)
    assert isinstance(result, InvalidChannelId) and result.response.error_code == (
        "invalid-channel-id"
    )


def test_solo_payout_gets_its_own_group(regtest: Any) -> None:
    sc = regtest
    conn = server(sc)
    solo = Payout.to_script(sc.solo_script)
    pool_success, _, _ = conn.open_extended(ext_open(req=1), sc.now)
    solo_success, solo_job, _ = conn.open_extended(ext_open(req=2), sc.now, payout=solo)
    assert pool_success.group_channel_id != solo_success.group_channel_id
    tx = Transaction.parse(
        solo_job.coinbase_tx_prefix
        + solo_success.extranonce_prefix
        + bytes(16)
        + solo_job.coinbase_tx_suffix
    )
    assert tx.outputs[0].script_pubkey == sc.solo_script
    sc.factory.on_new_template(sc.make_template(2, sc.transactions, future=False))
    jobs = conn.on_new_template(2, sc.now)
    assert sorted(j.channel_id for j in jobs) == sorted(conn.groups)


def test_open_errors(hard: Any) -> None:
    conn = server(hard)
    (err,) = conn.open_extended(ext_open(size=17), hard.now)
    assert err.error_code == "min-extranonce-size-too-large"
    (err,) = conn.open_standard(std_open(hashrate=-1.0), hard.now)
    assert err.error_code == "invalid-nominal-hashrate"
    custom = server(hard, REQUIRES_WORK_SELECTION)
    (err,) = custom.open_standard(std_open(), hard.now)
    assert err.error_code == "standard-channels-not-supported-for-custom-work"
    (ok,) = custom.open_extended(ext_open(), hard.now)  # no template jobs on this connection
    assert isinstance(ok, OpenExtendedMiningChannelSuccess)
    assert conn.allocator.live_count == 0


def test_open_before_any_template_then_jobs_arrive(regtest: Any) -> None:
    sc = regtest
    factory = JobFactory(Payout.to_script(b"\x51"), full_extranonce_size=20)
    conn = ServerChannels(factory, ExtranonceAllocator(20))
    (success,) = conn.open_standard(std_open(), sc.now)
    assert isinstance(success, OpenStandardMiningChannelSuccess)
    factory.on_new_template(sc.template)
    (future,) = conn.on_new_template(1, sc.now)
    assert isinstance(future, NewExtendedMiningJob) and future.min_ntime is None
    tip = factory.on_set_new_prev_hash(sc.prev_hash)
    # The channel opened before any tip; the regtest target now raises its target.
    set_target, act = conn.on_new_prev_hash(tip, sc.now)
    assert set_target == SetTarget(
        channel_id=success.channel_id, maximum_target=target_to_u256(tip.network_target)
    )
    assert act.job_id == future.job_id and act.channel_id == success.group_channel_id
    channel = conn.channel(success.channel_id)
    assert channel is not None and channel.active_job_id == future.job_id


def test_update_and_close(hard: Any) -> None:
    conn = server(hard)
    s, _, _ = conn.open_standard(std_open(), hard.now)
    e, _, _ = conn.open_extended(ext_open(), hard.now)
    assert conn.update_channel(
        UpdateChannel(channel_id=77, nominal_hash_rate=1.0, maximum_target=FF)
    ) == [UpdateChannelError(channel_id=77, error_code="invalid-channel-id")]
    assert conn.update_channel(
        UpdateChannel(channel_id=s.channel_id, nominal_hash_rate=-5.0, maximum_target=FF)
    ) == [UpdateChannelError(channel_id=s.channel_id, error_code="invalid-nominal-hashrate")]
    (set_target,) = conn.update_channel(
        UpdateChannel(channel_id=s.channel_id, nominal_hash_rate=1e12, maximum_target=FF)
    )
    assert set_target == SetTarget(
        channel_id=s.channel_id, maximum_target=target_to_u256(hashrate_to_target(1e12, 6.0))
    )
    assert conn.allocator.live_count == 2
    assert conn.close_channel(CloseChannel(channel_id=s.group_channel_id, reason_code="")) == [
        s.channel_id,
        e.channel_id,
    ]
    assert conn.allocator.live_count == 0 and not conn.channels
    assert conn.close_channel(CloseChannel(channel_id=s.channel_id, reason_code="")) == []


def test_channel_opened_between_future_template_and_its_tip(hard: Any) -> None:
    sc = hard
    conn = server(sc)
    first, _, _ = conn.open_extended(ext_open(req=1), sc.now)
    sc.factory.on_new_template(sc.make_template(2, sc.transactions[:1], future=True))
    (pending,) = conn.on_new_template(2, sc.now)
    opened = conn.open_extended(ext_open(req=2), sc.now)
    success, own_job, own_act, missed = opened
    assert own_act.job_id == own_job.job_id != pending.job_id
    # The group's pending future job is sent on the new channel's own id.
    assert isinstance(missed, NewExtendedMiningJob)
    assert (missed.channel_id, missed.job_id, missed.min_ntime) == (
        success.channel_id,
        pending.job_id,
        None,
    )
    assert missed.coinbase_tx_prefix == pending.coinbase_tx_prefix
    tip = sc.factory.on_set_new_prev_hash(sc.make_prev_hash(2, sc.prev_hash.n_bits, b"\3" * 32))
    (act,) = conn.on_new_prev_hash(tip, sc.now)
    assert act.channel_id == first.group_channel_id and act.job_id == pending.job_id
    for channel_id in (first.channel_id, success.channel_id):
        channel = conn.channel(channel_id)
        assert channel is not None and channel.active_job_id == pending.job_id
