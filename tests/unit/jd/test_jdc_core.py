"""JdcCore wired in memory to a real JdsCore and a real PoolCore (with custom_jobs): a template
is declared, set on the pool, mined by a downstream channel; the fallback goes solo and back."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest

from stratumv2.bitcoin.block import Block
from stratumv2.bitcoin.target import bits_to_target
from stratumv2.bitcoin.tx import Transaction, TxOut
from stratumv2.mining.shares import solve_header
from stratumv2.protocol import (
    AllocateMiningJobToken,
    AllocateMiningJobTokenSuccess,
    DeclareMiningJob,
    Message,
    NewExtendedMiningJob,
    OpenExtendedMiningChannel,
    OpenExtendedMiningChannelSuccess,
    ProvideMissingTransactionsSuccess,
    PushSolution,
    RequestTransactionDataSuccess,
    SetNewPrevHashMining,
    SetupConnection,
    SubmitSharesExtended,
)
from stratumv2.roles.jd_client.core import (
    JdcConfig,
    JdcCore,
    ModeChanged,
    RequestTxData,
    SetConstraints,
    ToJds,
    ToPool,
)
from stratumv2.roles.jd_server.core import ChainState, JdsConfig, JdsCore, SolvedBlock
from stratumv2.roles.pool.core import PoolConfig, PoolCore, SubmitBlock
from stratumv2.roles.pool.custom_jobs import CustomJobs

SOLO_SCRIPT = bytes.fromhex("0014") + bytes(range(50, 70))
MINER = 10


@dataclass
class Wire:
    """Routes the JDC's actions to the JDS (conn 1) and the pool (conn 1), and back."""

    jd: Any
    jdc: JdcCore
    jds: JdsCore
    pool: PoolCore
    mempool_skip: tuple[int, ...] = ()
    downstream: list[Message] = field(default_factory=list)
    sent_to_jds: list[Message] = field(default_factory=list)
    sent_to_pool: list[Message] = field(default_factory=list)
    modes: list[ModeChanged] = field(default_factory=list)
    solved: list[SolvedBlock] = field(default_factory=list)
    tp_blocks: list[SubmitBlock] = field(default_factory=list)
    pool_blocks: list[bytes] = field(default_factory=list)
    tokens: int = 0
    pool_up: bool = True
    jds_up: bool = True
    held: list[Message] | None = None  # ToPool messages held back (a slow pool)

    def run(self, actions: list[Any]) -> None:
        queue = list(actions)
        now = self.jd.now
        while queue:
            action = queue.pop(0)
            if isinstance(action, tuple):
                if action[0] == MINER and len(action) == 2:
                    self.downstream.append(action[1])
            elif isinstance(action, ModeChanged):
                self.modes.append(action)
            elif isinstance(action, SubmitBlock):
                self.tp_blocks.append(action)
            elif isinstance(action, RequestTxData):
                data = RequestTransactionDataSuccess(
                    template_id=action.template_id,
                    excess_data=b"",
                    transaction_list=tuple(tx.serialize() for tx in self.jd.txs),
                )
                queue.extend(self.jdc.on_transaction_data(data, now))
            elif isinstance(action, ToJds) and self.jds_up:
                self.sent_to_jds.append(action.message)
                queue.extend(self._jds(action.message, now))
            elif isinstance(action, ToPool) and self.held is not None:
                self.held.append(action.message)
            elif isinstance(action, ToPool) and self.pool_up:
                self.sent_to_pool.append(action.message)
                for reply in self.pool.on_connection_message(1, action.message, now):
                    if isinstance(reply, tuple) and len(reply) == 2:
                        queue.extend(self.jdc.on_pool_message(reply[1], now))

    def _jds(self, msg: Message, now: float) -> list[Any]:
        core = self.jds
        if isinstance(msg, SetupConnection):
            replies, _ = core.setup(1, msg)
        elif isinstance(msg, AllocateMiningJobToken):
            self.tokens += 1
            replies = core.allocate(1, msg, now, b"token-%d" % self.tokens)
        elif isinstance(msg, DeclareMiningJob):
            self.tokens += 1
            replies = core.declare(
                1,
                msg,
                self.jd.known(skip=self.mempool_skip),
                ChainState(self.jd.chain.height, self.jd.chain.prev_hash),
                now,
                b"declared-%d" % self.tokens,
            )
        elif isinstance(msg, ProvideMissingTransactionsSuccess):
            self.tokens += 1
            replies = core.provide(1, msg, now, b"declared-%d" % self.tokens)
        elif isinstance(msg, PushSolution):
            solved = core.push_solution(1, msg)
            if solved is not None:
                self.solved.append(solved)
            replies = []
        else:
            replies = []
        out: list[Any] = []
        for reply in replies:
            out.extend(self.jdc.on_jds_message(reply, now))
        return out


@pytest.fixture
def wire(jd: Any) -> Wire:
    pool = PoolCore(PoolConfig(payout_script=jd.pool_script, mode="pool", vardiff=None))
    w = Wire(jd, JdcCore(JdcConfig(solo_script=SOLO_SCRIPT, vardiff=None)), jd.core, pool)
    pool.custom_jobs = CustomJobs(jd.core.declarations, lambda b, h: w.pool_blocks.append(b))
    pool.on_new_template(jd.helpers.make_template(1, jd.txs), jd.now)
    pool.on_set_new_prev_hash(jd.helpers.make_prev_hash(1), jd.now)
    pool.connection_made(1, "jdc", jd.now)
    return w


def start(w: Wire, *, miner: bool = True, hold_pool: bool = False) -> None:
    jd, jdc, now = w.jd, w.jdc, w.jd.now
    w.run(jdc.jds_connected())
    w.run(jdc.pool_connected())
    assert jdc.mode == "pool" and w.modes[-1].mode == "pool"
    if hold_pool:
        w.held = []
    w.run(jdc.on_new_template(jd.helpers.make_template(1, jd.txs), now))
    w.run(jdc.on_set_new_prev_hash(jd.helpers.make_prev_hash(1), now))
    if miner:
        jdc.downstream_connected(MINER, "miner", now)
        w.run(jdc.on_downstream_message(MINER, SetupConnection(
            protocol=0, min_version=2, max_version=2, flags=0, endpoint_host="", endpoint_port=0,
            vendor="", hardware_version="", firmware="", device_id="",
        ), now))  # fmt: skip
        w.run(jdc.on_downstream_message(MINER, OpenExtendedMiningChannel(
            request_id=1, user_identity="rig", nominal_hash_rate=1e3, max_target=b"\xff" * 32,
            min_extranonce_size=4,
        ), now))  # fmt: skip


def latest_job(w: Wire) -> tuple[OpenExtendedMiningChannelSuccess, NewExtendedMiningJob]:
    channel = next(m for m in w.downstream if isinstance(m, OpenExtendedMiningChannelSuccess))
    job = [m for m in w.downstream if isinstance(m, NewExtendedMiningJob)][-1]
    return channel, job


def mine(w: Wire) -> SubmitSharesExtended:
    from stratumv2.bitcoin.hashes import merkle_root_from_branch, sha256d

    channel, job = latest_job(w)
    prev = [m for m in w.downstream if isinstance(m, SetNewPrevHashMining)][-1]
    extranonce = bytes(range(channel.extranonce_size))
    coinbase = (
        job.coinbase_tx_prefix + channel.extranonce_prefix + extranonce + job.coinbase_tx_suffix
    )
    root = merkle_root_from_branch(sha256d(coinbase), job.merkle_path)
    nonce = solve_header(
        job.version, prev.prev_hash, root, prev.min_ntime, prev.nbits, bits_to_target(prev.nbits)
    )
    assert nonce is not None
    return SubmitSharesExtended(
        channel_id=channel.channel_id, sequence_number=1, job_id=job.job_id, nonce=nonce,
        ntime=prev.min_ntime, version=job.version, extranonce=extranonce,
    )  # fmt: skip


def coinbase_of(w: Wire) -> Transaction:
    channel, job = latest_job(w)
    extranonce = bytes(channel.extranonce_size)
    return Transaction.parse(
        job.coinbase_tx_prefix + channel.extranonce_prefix + extranonce + job.coinbase_tx_suffix
    )


def test_declared_job_is_mined_on_the_pool(wire: Wire) -> None:
    start(wire)
    jdc = wire.jdc
    assert any(isinstance(m, DeclareMiningJob) for m in wire.sent_to_jds)
    assert jdc.upstream_jobs, "SetCustomMiningJob.Success should map the template"
    assert len(jdc.latencies) == 1
    # the downstream job pays the pool (JDS output first with the whole value)
    outputs = coinbase_of(wire).outputs
    assert outputs[0] == TxOut(5_000_000_000, wire.jd.pool_script)
    share = mine(wire)
    wire.run(jdc.on_downstream_message(MINER, share, wire.jd.now))
    # the block went to our TP, to the JDS (PushSolution) and, as a share, to the pool
    assert len(wire.tp_blocks) == 1 and len(wire.solved) == 1 and len(wire.pool_blocks) == 1
    tp_block = wire.tp_blocks[0].solution
    jds_block = Block.parse(wire.solved[0].data)
    assert Block.parse(wire.pool_blocks[0]).serialize() == jds_block.serialize()
    assert jds_block.transactions[0].serialize() == tp_block.coinbase_tx
    assert [tx.txid for tx in jds_block.transactions[1:]] == [tx.txid for tx in wire.jd.txs]
    assert jdc.shares_forwarded == 1 and wire.pool.blocks_found == 1


def test_missing_transactions_are_provided(wire: Wire) -> None:
    wire.mempool_skip = (0, 4)
    start(wire, miner=False)
    provided = [m for m in wire.sent_to_jds if isinstance(m, ProvideMissingTransactionsSuccess)]
    assert len(provided) == 1
    assert provided[0].transaction_list == (wire.jd.txs[0].serialize(), wire.jd.txs[4].serialize())
    assert wire.jdc.upstream_jobs and wire.jdc.mode == "pool"


def test_pool_loss_goes_solo_and_back(wire: Wire) -> None:
    start(wire)
    jdc, now = wire.jdc, wire.jd.now
    wire.pool_up = False
    wire.run(jdc.pool_lost("killed", now))
    assert jdc.mode == "solo" and jdc.switches["solo"] == 1
    assert coinbase_of(wire).outputs[0] == TxOut(5_000_000_000, SOLO_SCRIPT)
    # a block found now pays the user and goes to our TP only
    share = mine(wire)
    solved_before = len(wire.solved)
    wire.run(jdc.on_downstream_message(MINER, share, now))
    assert len(wire.tp_blocks) == 1 and len(wire.solved) == solved_before
    cb = Transaction.parse(wire.tp_blocks[0].solution.coinbase_tx)
    assert cb.outputs[0].script_pubkey == SOLO_SCRIPT
    # the pool is back
    wire.pool_up = True
    wire.pool.connection_lost(1, now)
    wire.pool.connection_made(1, "jdc", now)
    wire.run(jdc.pool_connected())
    assert jdc.mode == "pool" and jdc.switches["pool"] == 2
    assert coinbase_of(wire).outputs[0].script_pubkey == wire.jd.pool_script
    assert [m.mode for m in wire.modes] == ["pool", "solo", "pool"]


def test_refused_job_falls_back_then_retries(wire: Wire) -> None:
    start(wire, miner=False)
    jdc, now = wire.jdc, wire.jd.now
    # the JDS starts paying a different script: our next declaration pays the old one
    outputs = (TxOut(0, wire.jd.other_script),)
    wire.jds = JdsCore(JdsConfig(coinbase_outputs=outputs), wire.jds.declarations)
    wire.jds.connection_made(1)
    template = dataclasses.replace(
        wire.jd.helpers.make_template(2, wire.jd.txs), future_template=False
    )
    wire.run(jdc.on_new_template(template, now))
    assert jdc.mode == "solo" and "invalid-coinbase-tx" in wire.modes[-1].reason
    wire.run(jdc.on_tick(now + 1))
    assert jdc.mode == "solo"  # still cooling down
    wire.run(jdc.on_tick(now + jdc.config.retry_after + 1))
    assert jdc.mode == "pool", _debug(wire)


def test_constraints_follow_the_jds_outputs(wire: Wire) -> None:
    actions: list[Any] = []
    wire.run(wire.jdc.jds_connected())
    assert wire.jdc.initial_constraints().max_additional_size == 31
    for a in wire.jdc.on_jds_message(
        AllocateMiningJobTokenSuccess(
            request_id=9, mining_job_token=b"t", coinbase_tx_outputs=b"\x01" + bytes(8) + b"\x03abc"
        ),
        wire.jd.now,
    ):
        actions.append(a)
    assert SetConstraints(31, 0) in actions  # never below the solo output's size


def _debug(w: Wire) -> str:
    return str([m for m in w.modes])


def test_block_found_before_the_pool_accepted_the_job(wire: Wire) -> None:
    start(wire, hold_pool=True)
    jdc = wire.jdc
    assert not jdc.upstream_jobs  # SetCustomMiningJob not answered yet: optimistic mining
    wire.run(jdc.on_downstream_message(MINER, mine(wire), wire.jd.now))
    assert len(wire.tp_blocks) == 1 and not wire.solved
    held, wire.held = wire.held or [], None
    wire.run([ToPool(m) for m in held])
    # on SetCustomMiningJob.Success the early block goes to the JDS and the pool
    assert len(wire.solved) == 1 and len(wire.pool_blocks) == 1 and jdc.shares_forwarded == 1
