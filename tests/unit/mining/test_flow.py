"""Template in -> jobs out -> solved shares in -> Valid / BlockFound, all in memory."""

from __future__ import annotations

from typing import Any

from stratumv2.bitcoin.block import find_witness_commitment, witness_commitment
from stratumv2.bitcoin.coinbase import assemble_block, coinbase_height
from stratumv2.bitcoin.hashes import merkle_root_from_branch, sha256d
from stratumv2.bitcoin.header import BlockHeader
from stratumv2.bitcoin.target import MAX_TARGET, bits_to_target
from stratumv2.bitcoin.tx import Transaction
from stratumv2.mining.channel import ChannelConfig
from stratumv2.mining.extended import ExtendedChannel
from stratumv2.mining.extranonce import ExtranonceAllocator
from stratumv2.mining.group import GroupChannel
from stratumv2.mining.jobs import Payout
from stratumv2.mining.shares import BlockFound, Stale, Valid, solve_header
from stratumv2.mining.standard import StandardChannel
from stratumv2.protocol import (
    NewExtendedMiningJob,
    NewMiningJob,
    SetNewPrevHashMining,
    SubmitSharesExtended,
    SubmitSharesStandard,
)

EASY = MAX_TARGET >> 4  # one hash in 16 meets it


def open_standard(sc: Any, alloc: ExtranonceAllocator, channel_id: int = 1, **kw: Any) -> tuple:
    kw.setdefault("network_target", sc.factory.tip.network_target)
    ch = StandardChannel(channel_id, "worker", alloc.allocate_standard(), **kw)
    job = ch.new_job(sc.factory.current_job(kw.get("payout")), future=True, now=sc.now)
    (activate,) = ch.on_new_prev_hash(sc.factory.tip)
    assert isinstance(job, NewMiningJob) and job.min_ntime is None
    assert isinstance(activate, SetNewPrevHashMining) and activate.job_id == job.job_id
    return ch, job, activate


def open_extended(sc: Any, alloc: ExtranonceAllocator, channel_id: int = 2, **kw: Any) -> tuple:
    kw.setdefault("network_target", sc.factory.tip.network_target)
    ch = ExtendedChannel(channel_id, "proxy", alloc.allocate_extended(8), **kw)
    job = ch.new_job(sc.factory.current_job(kw.get("payout")), future=True, now=sc.now)
    (activate,) = ch.on_new_prev_hash(sc.factory.tip)
    assert isinstance(job, NewExtendedMiningJob) and job.min_ntime is None
    return ch, job, activate


def solve_standard(
    job: NewMiningJob, act: SetNewPrevHashMining, target: int, seq: int = 1, start: int = 0
) -> SubmitSharesStandard:
    nonce = solve_header(
        job.version, act.prev_hash, job.merkle_root, act.min_ntime, act.nbits, target, start
    )
    assert nonce is not None
    return SubmitSharesStandard(
        channel_id=job.channel_id,
        sequence_number=seq,
        job_id=job.job_id,
        nonce=nonce,
        ntime=act.min_ntime,
        version=job.version,
    )


def solve_extended(
    channel_id: int,
    prefix: bytes,
    job: NewExtendedMiningJob,
    act: SetNewPrevHashMining,
    target: int,
    extranonce: bytes,
    seq: int = 1,
    version_bits: int = 0,
) -> SubmitSharesExtended:
    """What a miner does with an extended job (written from the spec, not the pool code)."""
    coinbase = job.coinbase_tx_prefix + prefix + extranonce + job.coinbase_tx_suffix
    root = merkle_root_from_branch(sha256d(coinbase), job.merkle_path)
    version = job.version | version_bits
    nonce = solve_header(version, act.prev_hash, root, act.min_ntime, act.nbits, target)
    assert nonce is not None
    return SubmitSharesExtended(
        channel_id=channel_id,
        sequence_number=seq,
        job_id=job.job_id,
        nonce=nonce,
        ntime=act.min_ntime,
        version=version,
        extranonce=extranonce,
    )


def check_block(sc: Any, found: BlockFound, payout_script: bytes) -> None:
    """The block's coinbase pays the payout, has BIP34 and the witness commitment; PoW ok."""
    cb = Transaction.parse(found.coinbase_tx)
    assert cb.is_coinbase and cb.has_witness and cb.inputs[0].witness == (bytes(32),)
    assert coinbase_height(cb.inputs[0].script_sig) == sc.height
    assert cb.outputs[0].script_pubkey == payout_script
    assert cb.outputs[0].value == sc.template.coinbase_tx_value_remaining
    wtxids = [tx.wtxid for tx in sc.transactions]
    assert find_witness_commitment(cb) == witness_commitment(wtxids)
    assert cb.locktime == sc.height - 1 and cb.inputs[0].sequence == 0xFFFFFFFE
    assert int.from_bytes(found.block_hash, "little") <= bits_to_target(sc.prev_hash.n_bits)
    header = BlockHeader.parse(found.header)
    assert header.hash() == found.block_hash
    block = assemble_block(
        version=header.version,
        prev_hash=header.prev_hash,
        time=header.time,
        bits=header.bits,
        nonce=header.nonce,
        coinbase=found.coinbase_tx,
        transactions=sc.transactions,
    )
    assert block.header.merkle_root == header.merkle_root
    assert block.hash() == found.block_hash
    solution = found.submit_solution()
    assert solution.template_id == sc.template.template_id
    assert (solution.version, solution.header_timestamp, solution.header_nonce) == (
        header.version,
        header.time,
        header.nonce,
    )
    assert solution.coinbase_tx == found.coinbase_tx


def test_standard_and_extended_channels_find_regtest_blocks(regtest: Any) -> None:
    sc = regtest
    alloc = ExtranonceAllocator(20, static_prefix=b"\x01")
    std, std_job, std_act = open_standard(sc, alloc, requested_target=EASY)
    ext, ext_job, ext_act = open_extended(sc, alloc, requested_target=EASY)
    # On regtest the network target is easier than EASY: the channel target is raised to it.
    network = bits_to_target(sc.prev_hash.n_bits)
    assert std.target == ext.target == network

    found = std.validate_share(solve_standard(std_job, std_act, network), sc.now)
    assert isinstance(found, BlockFound), found
    check_block(sc, found, sc.pool_script)
    assert found.ack.new_submits_accepted_count == 1 and found.ack.last_sequence_number == 1

    share = solve_extended(
        2,
        ext.extranonce_prefix,
        ext_job,
        ext_act,
        network,
        b"\x99" * ext.extranonce_size,
        version_bits=0x2000,
    )
    found = ext.validate_share(share, sc.now)
    assert isinstance(found, BlockFound), found
    assert found.full_extranonce == ext.extranonce_prefix + b"\x99" * ext.extranonce_size
    assert found.version == ext_job.version | 0x2000
    check_block(sc, found, sc.pool_script)


def test_hard_network_target_gives_valid_shares_and_batched_acks(hard: Any) -> None:
    sc = hard
    alloc = ExtranonceAllocator(20)
    cfg = ChannelConfig(share_batch_size=3)
    std, job, act = open_standard(sc, alloc, requested_target=EASY, config=cfg)
    assert std.target == EASY
    results = []
    start = 0
    for seq in range(1, 8):
        share = solve_standard(job, act, EASY, seq=seq, start=start)
        start = share.nonce + 1
        results.append(std.validate_share(share, sc.now))
    assert all(isinstance(r, Valid) for r in results), results
    acks = [r.response for r in results if r.response is not None]
    assert [a.last_sequence_number for a in acks] == [3, 6]
    assert all(a.new_submits_accepted_count == 3 for a in acks)
    assert acks[0].new_shares_sum == int(3 * results[0].difficulty) == acks[1].new_shares_sum
    rest = std.flush_acks()
    assert rest is not None and rest.new_submits_accepted_count == 1
    assert rest.last_sequence_number == 7 and std.flush_acks() is None


def test_solo_payout_per_channel(regtest: Any) -> None:
    sc = regtest
    alloc = ExtranonceAllocator(20)
    solo = Payout.to_script(sc.solo_script)
    ch, job, act = open_standard(sc, alloc, requested_target=EASY, payout=solo)
    found = ch.validate_share(solve_standard(job, act, ch.target), sc.now)
    assert isinstance(found, BlockFound)
    check_block(sc, found, sc.solo_script)
    # The default payout's job is a different coinbase, built once and cached.
    assert sc.factory.current_job() is sc.factory.current_job()
    assert sc.factory.current_job(solo) is not sc.factory.current_job()


def test_group_serves_standard_and_extended_members(hard: Any) -> None:
    sc = hard
    alloc = ExtranonceAllocator(20)
    group = GroupChannel(100, full_extranonce_size=20)
    std = StandardChannel(
        1, "a", alloc.allocate_standard(), requested_target=EASY, job_ids=group.job_ids
    )
    ext = ExtendedChannel(
        2, "b", alloc.allocate_extended(), requested_target=EASY, job_ids=group.job_ids
    )
    for ch in (std, ext):
        group.add_member(ch)
        ch.new_job(sc.factory.current_job(), future=True, now=sc.now)
        ch.on_new_prev_hash(sc.factory.tip)
    assert std.active_job_id == 1 and ext.active_job_id == 2  # ids never collide

    # A fee bump on the same tip: one job for the whole group, active at once.
    sc.factory.on_new_template(sc.make_template(2, sc.transactions[:3], future=False))
    job = group.new_job(sc.factory.current_job(), future=False, now=sc.now)
    assert job.channel_id == 100 and job.job_id == 3 and job.min_ntime == sc.now
    act = SetNewPrevHashMining(
        channel_id=100,
        job_id=3,
        prev_hash=sc.prev_hash.prev_hash,
        min_ntime=sc.prev_hash.header_timestamp,
        nbits=sc.prev_hash.n_bits,
    )
    assert isinstance(
        ext.validate_share(
            solve_extended(2, ext.extranonce_prefix, job, act, EASY, bytes(16)), sc.now
        ),
        Valid,
    )
    # The standard member mines the group's extended job with its whole prefix as extranonce.
    share = solve_extended(1, std.extranonce_prefix, job, act, EASY, b"")
    std_share = SubmitSharesStandard(
        channel_id=1,
        sequence_number=5,
        job_id=3,
        nonce=share.nonce,
        ntime=share.ntime,
        version=share.version,
    )
    assert isinstance(std.validate_share(std_share, sc.now), Valid)

    # A new tip: future template, then SetNewPrevHash to the group; older jobs become stale.
    txs = sc.make_transactions(2, salt=7)
    sc.factory.on_new_template(sc.make_template(3, txs, future=True))
    future = group.new_job(sc.factory.job(3), future=True, now=sc.now)
    assert future.min_ntime is None and future.job_id == 4
    tip = sc.factory.on_set_new_prev_hash(
        sc.make_prev_hash(3, sc.prev_hash.n_bits, prev=b"\x42" * 32)
    )
    msgs = group.on_new_prev_hash(tip)
    assert msgs == [
        SetNewPrevHashMining(
            channel_id=100,
            job_id=4,
            prev_hash=b"\x42" * 32,
            min_ntime=tip.min_ntime,
            nbits=tip.nbits,
        )
    ]
    stale = std.validate_share(std_share, sc.now)
    assert isinstance(stale, Stale) and stale.error_code == "stale-share"
    assert std.active_job_id == ext.active_job_id == 4


def test_set_extranonce_prefix_applies_to_later_jobs(hard: Any) -> None:
    sc = hard
    alloc = ExtranonceAllocator(20)
    ch, job, act = open_standard(sc, alloc, requested_target=EASY)
    old_share = solve_standard(job, act, EASY, seq=1)
    moved = alloc.allocate_standard()
    msg = ch.set_extranonce_prefix(moved)
    assert msg.channel_id == 1 and msg.extranonce_prefix == moved.prefix
    sc.factory.on_new_template(sc.make_template(2, sc.transactions, future=False))
    new_job = ch.new_job(sc.factory.current_job(), future=False, now=sc.now)
    assert new_job.merkle_root == sc.factory.current_job().merkle_root(moved.prefix)
    assert new_job.merkle_root != sc.factory.current_job().merkle_root(job_prefix(ch, job))
    assert isinstance(ch.validate_share(old_share, sc.now), Valid)  # old job, old prefix
    new_share = solve_standard(new_job, act, EASY, seq=2)
    assert isinstance(ch.validate_share(new_share, sc.now), Valid)


def job_prefix(ch: StandardChannel, job: NewMiningJob) -> bytes:
    cj = ch.job(job.job_id)
    assert cj is not None
    return cj.extranonce_prefix
