"""Work selection on the pool: ``SetCustomMiningJob`` from a JDC (digest 03 §0x22, 04 §C.2).

A connection that set ``REQUIRES_WORK_SELECTION`` is served here instead of by the template
fan-out of :class:`~stratumv2.roles.pool.core.PoolCore`: its extended channels get no pool
jobs, only the custom jobs the client sets. A ``SetCustomMiningJob`` is accepted only when
its token names a job declared to our (embedded) JDS, in the shared
:class:`~stratumv2.roles.jd_server.core.JobDeclarations`, and when it repeats that job's
coinbase (scriptSig prefix, outputs, version, sequence, locktime), merkle path and chain tip:
so the coinbase pays the pool as declared. Shares on custom jobs are validated like any
other; a block found on one is rebuilt from the declared transactions and handed to
``on_block`` (the embedded JDS submits it to its node).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from stratumv2.app.store import BlockRecord
from stratumv2.bitcoin.address import script_to_address
from stratumv2.bitcoin.target import MAX_TARGET, hashrate_to_target, target_to_u256
from stratumv2.mining.errors import INVALID_CHANNEL_ID, INVALID_USER_IDENTITY, MiningError
from stratumv2.mining.extended import ExtendedChannel
from stratumv2.mining.shares import BlockFound, Rejected, Valid
from stratumv2.mining.vardiff import Vardiff
from stratumv2.protocol import (
    Message,
    OpenExtendedMiningChannel,
    OpenExtendedMiningChannelSuccess,
    OpenMiningChannelError,
    OpenStandardMiningChannel,
    SetCustomMiningJob,
    SetCustomMiningJobError,
    SubmitSharesError,
    SubmitSharesExtended,
)
from stratumv2.protocol import mining as _mining
from stratumv2.roles.jd_server.core import DeclaredJob, JobDeclarations

if TYPE_CHECKING:
    from stratumv2.roles.pool.core import Action, PoolCore, _ChannelState, _Connection

__all__ = ["CustomJobs"]

BlockSink = Callable[[bytes, int], None]
"""Takes a serialized block and its height (the embedded JDS submits it)."""


class CustomJobs:
    """The pool's work-selection handler (see the module docstring).

    ``now`` is passed by the pool core; ``on_block`` receives every block found on a custom
    job. Counters: ``accepted``, ``refused``, ``blocks``.
    """

    def __init__(self, declarations: JobDeclarations, on_block: BlockSink | None = None) -> None:
        self.declarations = declarations
        self.on_block = on_block
        self.accepted = 0
        self.refused = 0
        self.blocks = 0
        self._jobs: dict[tuple[int, int, int], DeclaredJob] = {}

    def on_message(
        self, core: PoolCore, conn: _Connection, message: Message, now: float
    ) -> list[Action] | None:
        """Handle a message of a work-selection connection; None: the core's usual path."""
        kind = type(message)
        if kind is SetCustomMiningJob:
            return self._set_job(core, conn, message, now)  # type: ignore[arg-type]
        if kind is SubmitSharesExtended:
            return self._share(core, conn, message, now)  # type: ignore[arg-type]
        if kind is OpenExtendedMiningChannel:
            return self._open(core, conn, message, now)  # type: ignore[arg-type]
        if kind is OpenStandardMiningChannel:
            error = OpenMiningChannelError(
                request_id=message.request_id,  # type: ignore[attr-defined]
                error_code="standard-channels-not-supported-for-custom-work",
            )
            return [(conn.id, error)]
        return None

    # ---- channels -------------------------------------------------------------------

    def _open(
        self, core: PoolCore, conn: _Connection, msg: OpenExtendedMiningChannel, now: float
    ) -> list[Action]:
        from stratumv2.roles.pool.core import _ChannelState, parse_user_identity

        def refuse(code: str) -> list[Action]:
            return [(conn.id, OpenMiningChannelError(request_id=msg.request_id, error_code=code))]

        if not msg.user_identity:
            return refuse(INVALID_USER_IDENTITY)
        hashrate = msg.nominal_hash_rate
        if not math.isfinite(hashrate) or hashrate < 0:
            return refuse("invalid-nominal-hashrate")
        if len(conn.channels) >= core.config.max_channels_per_connection:
            return refuse(_mining.OPEN_CHANNEL_ERROR_CHANNEL_CAPACITY_EXHAUSTED)
        tip = core.tip
        network_target = tip.network_target if tip is not None else MAX_TARGET
        vardiff: Vardiff | None = None
        if core.config.vardiff is not None:
            vardiff = Vardiff(core.config.vardiff, hashrate, now, network_target)
            requested = vardiff.target
        else:
            spm = core.config.shares_per_minute
            requested = hashrate_to_target(hashrate, spm) if hashrate > 0 else MAX_TARGET
        try:
            allocation = core.allocator.allocate_extended(msg.min_extranonce_size)
        except MiningError as exc:
            return refuse(exc.error_code)
        channel_id = conn.new_id()
        channel = ExtendedChannel(
            channel_id,
            msg.user_identity,
            allocation,
            requested_target=requested,
            max_target=int.from_bytes(msg.max_target, "little"),
            nominal_hashrate=hashrate,
            network_target=network_target,
            payout=core.default_payout,
            config=core.channel_config,
        )
        user, worker = parse_user_identity(msg.user_identity)
        conn.channels[channel_id] = _ChannelState(channel, user, worker, vardiff)
        success = OpenExtendedMiningChannelSuccess(
            request_id=msg.request_id,
            channel_id=channel_id,
            target=target_to_u256(channel.target),
            extranonce_size=channel.extranonce_size,
            extranonce_prefix=channel.extranonce_prefix,
            group_channel_id=0,
        )
        return [(conn.id, success)]

    # ---- SetCustomMiningJob -----------------------------------------------------------

    def _set_job(
        self, core: PoolCore, conn: _Connection, msg: SetCustomMiningJob, now: float
    ) -> list[Action]:
        def refuse(code: str) -> list[Action]:
            self.refused += 1
            error = SetCustomMiningJobError(
                channel_id=msg.channel_id, request_id=msg.request_id, error_code=code
            )
            return [(conn.id, error)]

        state = conn.channels.get(msg.channel_id)
        channel = state.channel if state is not None else None
        if not isinstance(channel, ExtendedChannel):
            return refuse(INVALID_CHANNEL_ID)
        job = self.declarations.job(msg.mining_job_token, now)
        if job is None:
            return refuse("invalid-mining-job-token")
        code = _mismatch(job, msg, channel.allocation.full_size)
        if code is not None:
            return refuse(code)
        try:
            replies = channel.set_custom_job(msg)
        except MiningError as exc:
            return refuse(exc.error_code)
        self.accepted += 1
        job_id = replies[0].job_id  # type: ignore[union-attr]
        self._jobs[(conn.id, msg.channel_id, job_id)] = job
        if len(self._jobs) > 4096:
            del self._jobs[next(iter(self._jobs))]
        return [(conn.id, reply) for reply in replies]

    # ---- shares -----------------------------------------------------------------------

    def _share(
        self, core: PoolCore, conn: _Connection, msg: SubmitSharesExtended, now: float
    ) -> list[Action]:
        state = conn.channels.get(msg.channel_id)
        channel = state.channel if state is not None else None
        if state is None or not isinstance(channel, ExtendedChannel):
            core.shares_rejected += 1
            error = SubmitSharesError(
                channel_id=msg.channel_id,
                sequence_number=msg.sequence_number,
                error_code=INVALID_CHANNEL_ID,
            )
            return [(conn.id, error)]
        result = channel.validate_share(msg, now)
        if type(result) is Valid:
            return core._accepted(conn, state, msg, result, now)
        if isinstance(result, Rejected):
            core.shares_rejected += 1
            return [(conn.id, result.response)]
        assert isinstance(result, BlockFound)
        self.blocks += 1
        core.blocks_found += 1
        job = self._jobs.get((conn.id, msg.channel_id, msg.job_id))
        out: list[Action] = []
        if job is not None:
            from stratumv2.roles.pool.core import RecordBlock

            out.append(RecordBlock(_block_record(job, result, state, core.config.network, now)))
        if job is not None and self.on_block is not None:
            header = result.header
            _, block = job.block(
                result.full_extranonce,
                header[4:36],
                result.ntime,
                int.from_bytes(header[72:76], "little"),
                result.nonce,
                result.version,
            )
            self.on_block(block, job.height)
        core.shares_accepted += 1
        core._record(state, msg, result.difficulty, now, result.block_hash)
        out.append(core._store_with_acks(((conn.id, result.ack),), now))
        return out


def _block_record(
    job: DeclaredJob, found: BlockFound, state: _ChannelState, network: str, now: float
) -> BlockRecord:
    """The store's record of a block found on a declared job: paid as the JDC declared."""
    paying = [out for out in job.coinbase.outputs if out.value > 0]
    payee = ""
    if paying:
        try:
            payee = script_to_address(paying[0].script_pubkey, network)
        except ValueError:
            payee = paying[0].script_pubkey.hex()
    return BlockRecord(
        height=job.height,
        block_hash=found.block_hash[::-1].hex(),
        coinbase_payee=payee,
        reward=sum(out.value for out in job.coinbase.outputs),
        time=now,
        user=state.user,
        worker=state.worker,
    )


def _mismatch(job: DeclaredJob, msg: SetCustomMiningJob, full_extranonce_size: int) -> str | None:
    """The ``SetCustomMiningJob.Error`` code when ``msg`` is not the declared ``job``."""
    if msg.prev_hash != job.prev_hash:
        return "stale-chain-tip"
    if msg.version != job.version:
        return "invalid-version"
    coinbase = job.coinbase
    if msg.coinbase_tx_version != coinbase.version:
        return "invalid-coinbase-tx-version"
    if msg.coinbase_prefix != job.script_sig_prefix or full_extranonce_size != job.extranonce_size:
        return "invalid-coinbase-prefix"
    if msg.coinbase_tx_input_n_sequence != coinbase.inputs[0].sequence:
        return "invalid-coinbase-tx-input-n-sequence"
    if msg.coinbase_tx_outputs != job.outputs_vector:
        return "invalid-coinbase-tx-outputs"
    if msg.coinbase_tx_locktime != coinbase.locktime:
        return "invalid-coinbase-tx-locktime"
    if tuple(msg.merkle_path) != job.merkle_path:
        return "invalid-merkle-path"
    return None
