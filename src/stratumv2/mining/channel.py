"""What standard and extended channels have in common (server side, sans-IO).

A channel keeps: its extranonce allocation, its target (never harder than the network
target), the jobs it was sent (future ones, and the active and past ones on the current chain
tip), the tip's ``prev_hash``/``nbits``/``min_ntime``, the hashes of shares accepted on this
tip (duplicates) and the ``SubmitShares.Success`` batch counters. Share checks follow SRI's
order (digest 00 §9); the subclasses implement the hashing for their share message.

Job ids come from a :class:`JobIdCounter`: the channel's own, or its group's (members of a
group must not reuse an id the group uses).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stratumv2.bitcoin.target import MAX_TARGET, target_to_difficulty, target_to_u256
from stratumv2.mining.errors import NoTemplateError
from stratumv2.mining.extranonce import ExtranonceAllocation
from stratumv2.mining.jobs import ChainTip, MiningJob, Payout
from stratumv2.mining.shares import (
    BlockFound,
    InvalidJobId,
    InvalidVersionBits,
    Rejected,
    Stale,
    Valid,
    new_ack,
    new_valid,
)
from stratumv2.protocol import (
    SetExtranoncePrefix,
    SetNewPrevHashMining,
    SetTarget,
    SubmitSharesSuccess,
)

__all__ = [
    "DEFAULT_MAX_NTIME_DRIFT",
    "DEFAULT_VERSION_ROLLING_MASK",
    "Channel",
    "ChannelConfig",
    "JobIdCounter",
]

DEFAULT_VERSION_ROLLING_MASK = 0x1FFFFFE0
"""BIP320 general-purpose version bits (SRI ``VERSION_ROLLING_MASK``)."""

DEFAULT_MAX_NTIME_DRIFT = 7200
"""Seconds a share's nTime may be ahead of ``now`` (Bitcoin's 2-hour future limit)."""


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """Per-pool channel settings.

    ``share_batch_size``: accepted shares per ``SubmitShares.Success`` (SRI config of the same
    name). ``max_past_jobs``: earlier jobs on the current tip that still take shares (SRI
    default 16). ``max_ntime_drift``: None disables the future-nTime check (SRI has none).
    """

    share_batch_size: int = 10
    max_past_jobs: int = 16
    version_rolling_mask: int = DEFAULT_VERSION_ROLLING_MASK
    max_ntime_drift: int | None = DEFAULT_MAX_NTIME_DRIFT


class JobIdCounter:
    """Job ids for one channel or group: 1, 2, 3... (SRI ``JobIdFactory``), wrapping at 2^32."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last = 0

    def next(self) -> int:
        """A fresh job id."""
        self.last = self.last % 0xFFFFFFFF + 1
        return self.last


class ChannelJob:
    """A job as one channel knows it: id, target fixed at activation, precomputed bits."""

    __slots__ = (
        "difficulty",
        "extranonce_prefix",
        "fixed_bits",
        "head",
        "job",
        "job_id",
        "merkle_root",
        "path",
        "tail",
        "target",
        "valid",
        "version",
    )

    def __init__(self, job_id: int, job: MiningJob, extranonce_prefix: bytes, mask: int) -> None:
        self.job_id = job_id
        self.job = job
        self.version = job.version
        self.extranonce_prefix = extranonce_prefix
        # Header version bits a share must leave as the job has them.
        self.fixed_bits = (~mask & 0xFFFFFFFF) if job.version_rolling_allowed else 0xFFFFFFFF
        self.head = job.coinbase.prefix + extranonce_prefix
        self.tail = job.coinbase.suffix
        self.path = job.merkle_path
        self.merkle_root: bytes | None = None
        self.target = 0
        self.difficulty = 0.0
        self.valid = Valid(0.0)

    def set_target(self, target: int) -> None:
        """Fix the job's target (and the cached result its shares are credited with)."""
        self.target = target
        self.difficulty = target_to_difficulty(target) if target else 0.0
        self.valid = Valid(self.difficulty)


class Channel:
    """Base of :class:`StandardChannel` and :class:`ExtendedChannel`.

    ``requested_target`` is what the pool wants (from the nominal hashrate or vardiff),
    ``max_target`` the device's limit from the open message. The effective ``target`` is
    ``min(requested, max_target)``, raised to the network target when that is easier, so a
    share never fails a channel target that a block would meet. Pass the current tip's
    ``network_target`` when opening so the open-Success already carries the final target.
    """

    def __init__(
        self,
        channel_id: int,
        user_identity: str,
        allocation: ExtranonceAllocation,
        *,
        requested_target: int,
        max_target: int = MAX_TARGET,
        nominal_hashrate: float = 0.0,
        group_channel_id: int = 0,
        network_target: int = 0,
        payout: Payout | None = None,
        job_ids: JobIdCounter | None = None,
        config: ChannelConfig | None = None,
    ) -> None:
        self.channel_id = channel_id
        self.user_identity = user_identity
        self.allocation = allocation
        self.extranonce_prefix = allocation.prefix
        self.nominal_hashrate = nominal_hashrate
        self.group_channel_id = group_channel_id
        self.payout = payout
        self.job_ids = job_ids or JobIdCounter()
        self.config = config or ChannelConfig()
        self.max_target = max_target
        self.requested_target = requested_target
        self._network_target = network_target
        self.target = self._effective_target()
        self._future: dict[int, ChannelJob] = {}
        self._future_by_template: dict[int, int] = {}
        self._current: dict[int, ChannelJob] = {}
        self.active_job_id: int | None = None
        self._first_job_id: int | None = None
        self._prev_hash = b""
        self._nbits = 0
        self._min_ntime = 0
        self._tip: ChainTip | None = None
        self._seen: set[int] = set()  # hashes (as integers) accepted on this tip
        self._batch_count = 0
        self._batch_sum = 0.0
        self._batch_last_seq = 0
        self._batch_size = self.config.share_batch_size
        drift = self.config.max_ntime_drift
        # an int when set: ``now + drift`` then stays an int for integer ``now``, and the
        # int/int comparison with the share's nTime is much cheaper than int/float
        self._ntime_drift: float = math.inf if drift is None else drift
        self.blocks_found = 0

    # ---- targets ----------------------------------------------------------------------

    def _effective_target(self) -> int:
        return max(min(self.requested_target, self.max_target), self._network_target)

    def set_target(self, requested_target: int, max_target: int | None = None) -> SetTarget | None:
        """Change the wanted target (vardiff, ``UpdateChannel``); the ``SetTarget`` to send.

        Returns None when the effective target did not change. Like the spec says, the new
        target applies to jobs activated or sent after it.
        """
        self.requested_target = requested_target
        if max_target is not None:
            self.max_target = max_target
        return self._retarget()

    def _retarget(self) -> SetTarget | None:
        old = self.target
        self.target = self._effective_target()
        if self.target == old:
            return None
        return SetTarget(channel_id=self.channel_id, maximum_target=target_to_u256(self.target))

    @property
    def network_target(self) -> int:
        """Target from the current tip's nBits (0 before the first tip)."""
        return self._network_target

    # ---- extranonce ------------------------------------------------------------------

    def set_extranonce_prefix(self, allocation: ExtranonceAllocation) -> SetExtranoncePrefix:
        """Move the channel to a new allocation (same sizes); the message to send.

        Jobs sent before keep the old prefix (spec: the new one applies to later jobs); the
        caller frees the old allocation once those jobs are stale.
        """
        old = self.allocation
        if (allocation.size, allocation.full_size) != (old.size, old.full_size):
            raise ValueError("a new extranonce prefix must keep the channel's sizes")
        self.allocation = allocation
        self.extranonce_prefix = allocation.prefix
        return SetExtranoncePrefix(channel_id=self.channel_id, extranonce_prefix=allocation.prefix)

    # ---- jobs -------------------------------------------------------------------------

    @property
    def tip(self) -> ChainTip | None:
        """The chain tip of the active job."""
        return self._tip

    def add_job(self, job_id: int, job: MiningJob, future: bool) -> ChannelJob:
        """Record a job sent to this channel (directly or through its group).

        A future job waits for :meth:`activate`; an immediate one joins the current tip as the
        active job, with the channel's current target.
        """
        cj = ChannelJob(job_id, job, self.extranonce_prefix, self._rolling_mask())
        if self._first_job_id is None:
            self._first_job_id = job_id
        if future:
            self._future[job_id] = cj
            if job.template_id is not None:
                self._future_by_template[job.template_id] = job_id
            return cj
        if self._tip is None:
            raise NoTemplateError("an active job needs a chain tip first")
        cj.set_target(self.target)
        current = self._current
        current[job_id] = cj
        while len(current) > self.config.max_past_jobs + 1:
            del current[next(iter(current))]
        self.active_job_id = job_id
        return cj

    def _rolling_mask(self) -> int:
        return self.config.version_rolling_mask

    def has_future_job(self, job_id: int) -> bool:
        """True if ``job_id`` is a future job waiting for its ``SetNewPrevHash``."""
        return job_id in self._future

    def future_job_id(self, template_id: int) -> int | None:
        """Id of this channel's future job for ``template_id``, if it has one."""
        return self._future_by_template.get(template_id)

    def activate(self, job_id: int, tip: ChainTip) -> SetTarget | None:
        """A new chain tip activates future job ``job_id``; every other job becomes stale.

        Returns the ``SetTarget`` to send first when the network target moved ours.
        """
        cj = self._future.pop(job_id, None)
        if cj is None:
            raise NoTemplateError(f"job {job_id} is not a future job of channel {self.channel_id}")
        self._tip = tip
        self._prev_hash = tip.prev_hash
        self._nbits = tip.nbits
        self._min_ntime = tip.min_ntime
        self._network_target = tip.network_target
        set_target = self._retarget()
        cj.set_target(self.target)
        self._current = {job_id: cj}
        self._future.clear()
        self._future_by_template.clear()
        self._seen.clear()
        self.active_job_id = job_id
        return set_target

    def on_new_prev_hash(self, tip: ChainTip) -> list[SetTarget | SetNewPrevHashMining]:
        """Activate this channel's future job for ``tip.template_id``; the messages to send."""
        job_id = self._future_by_template.get(tip.template_id)
        if job_id is None:
            raise NoTemplateError(
                f"channel {self.channel_id} has no future job for template {tip.template_id}"
            )
        set_target = self.activate(job_id, tip)
        activate = SetNewPrevHashMining(
            channel_id=self.channel_id,
            job_id=job_id,
            prev_hash=tip.prev_hash,
            min_ntime=tip.min_ntime,
            nbits=tip.nbits,
        )
        return [set_target, activate] if set_target else [activate]

    def job(self, job_id: int) -> ChannelJob | None:
        """A job that takes shares now (active or past on the current tip)."""
        return self._current.get(job_id)

    def min_ntime_for_new_job(self, now: float) -> int:
        """``min_ntime`` to send with a job that is active at once."""
        return max(self._min_ntime, int(now))

    # ---- share bookkeeping ------------------------------------------------------------

    def _unknown_job(self, job_id: int, sequence_number: int) -> Rejected:
        first = self._first_job_id
        if (
            job_id not in self._future
            and first is not None
            and first <= job_id <= self.job_ids.last
        ):
            return Stale(self.channel_id, sequence_number)
        return InvalidJobId(self.channel_id, sequence_number)

    def _bad_version(self, cj: ChannelJob, version: int, sequence_number: int) -> Rejected:
        return InvalidVersionBits(
            self.channel_id, sequence_number, rolling_allowed=cj.job.version_rolling_allowed
        )

    def _accept(self, valid: Valid, sequence_number: int) -> Valid:
        # The subclasses inline this on their hot path; keep both in step.
        self._batch_last_seq = sequence_number
        self._batch_sum += valid.difficulty
        self._batch_count += 1
        if self._batch_count >= self._batch_size:
            return new_valid(valid.difficulty, self._flush_batch())
        return valid

    def _flush_batch(self) -> SubmitSharesSuccess:
        ack = new_ack(
            self.channel_id, self._batch_last_seq, self._batch_count, int(self._batch_sum)
        )
        self._batch_count = 0
        self._batch_sum = 0.0
        return ack

    def flush_acks(self) -> SubmitSharesSuccess | None:
        """Acknowledge the shares accepted since the last ``SubmitShares.Success``, if any.

        A role may call this on a timer so that a slow miner still sees its shares counted.
        """
        return self._flush_batch() if self._batch_count else None

    def _block(
        self,
        cj: ChannelJob,
        credit: Valid,
        sequence_number: int,
        header: bytes,
        block_hash: bytes,
        full_extranonce: bytes,
    ) -> BlockFound:
        self.blocks_found += 1
        self._batch_last_seq = sequence_number
        self._batch_sum += credit.difficulty
        self._batch_count += 1
        return BlockFound(
            difficulty=credit.difficulty,
            ack=self._flush_batch(),
            channel_id=self.channel_id,
            job_id=cj.job_id,
            template_id=cj.job.template_id,
            header=header,
            block_hash=block_hash,
            coinbase_tx=cj.job.coinbase_with_witness(full_extranonce),
            full_extranonce=full_extranonce,
        )

    def _credit_below_job_target(self, value: int) -> Valid | None:
        """Credit for a share that misses its job's target; None if it must be refused.

        It still counts when it meets the channel's current (easier) target, i.e. after a
        ``SetTarget`` the miner applied at once, or when it is a block.
        """
        if value <= self.target:
            return Valid(target_to_difficulty(self.target))
        if value <= self._network_target:
            return Valid(target_to_difficulty(self._network_target))
        return None
