"""Extended channels: the miner rolls its part of the extranonce (sans-IO, server side)."""

from __future__ import annotations

from stratumv2.bitcoin.hashes import sha256_small
from stratumv2.bitcoin.target import bits_to_target
from stratumv2.mining.channel import Channel
from stratumv2.mining.jobs import ChainTip, MiningJob, custom_job
from stratumv2.mining.shares import (
    HEADER_STRUCT,
    BadExtranonceSize,
    BelowTarget,
    Duplicate,
    InvalidTimestamp,
    ShareResult,
    Valid,
)
from stratumv2.protocol import (
    NewExtendedMiningJob,
    SetCustomMiningJob,
    SetCustomMiningJobSuccess,
    SetTarget,
    SubmitSharesExtended,
)

__all__ = ["ExtendedChannel"]

_sha256 = sha256_small  # same digests, a third cheaper per call on these short inputs
_pack_header = HEADER_STRUCT.pack
_from_bytes = int.from_bytes


class ExtendedChannel(Channel):
    """An extended channel: ``extranonce_prefix`` fixed by us, ``extranonce_size`` bytes rolled.

    Shares carry exactly ``extranonce_size`` bytes; the coinbase is
    ``job prefix | extranonce_prefix | extranonce | job suffix``.
    """

    @property
    def extranonce_size(self) -> int:
        """Rollable bytes (``OpenExtendedMiningChannel.Success.extranonce_size``)."""
        return self.allocation.size

    def new_job(self, job: MiningJob, future: bool, now: float) -> NewExtendedMiningJob:
        """Give ``job`` an id on this channel; the ``NewExtendedMiningJob`` to send."""
        job_id = self.job_ids.next()
        self.add_job(job_id, job, future)
        return extended_job_message(
            self.channel_id,
            job_id,
            job,
            None if future else self.min_ntime_for_new_job(now),
        )

    def set_custom_job(
        self, message: SetCustomMiningJob
    ) -> list[SetCustomMiningJobSuccess | SetTarget]:
        """Take a ``SetCustomMiningJob`` (the token already checked by the caller).

        A job on a new ``prev_hash``/``nbits`` is a new tip for this channel: it becomes the
        only valid job (older ones are stale). Raises :class:`MiningError` with the
        ``SetCustomMiningJob.Error`` code when the job is malformed.
        """
        job = custom_job(message, self.allocation.full_size)
        job_id = self.job_ids.next()
        tip = self.tip
        messages: list[SetCustomMiningJobSuccess | SetTarget] = [
            SetCustomMiningJobSuccess(
                channel_id=self.channel_id, request_id=message.request_id, job_id=job_id
            )
        ]
        if tip is not None and (tip.prev_hash, tip.nbits) == (message.prev_hash, message.nbits):
            self.add_job(job_id, job, future=False)
            return messages
        self.add_job(job_id, job, future=True)
        new_tip = ChainTip(
            template_id=0,  # a tip learned from a custom job has no template of ours
            prev_hash=message.prev_hash,
            min_ntime=message.min_ntime,
            nbits=message.nbits,
            network_target=bits_to_target(message.nbits),
        )
        set_target = self.activate(job_id, new_tip)
        if set_target is not None:
            messages.append(set_target)
        return messages

    def job_message(self, job_id: int, job: MiningJob) -> NewExtendedMiningJob:
        """``NewExtendedMiningJob`` (future) for a job this channel holds under ``job_id``."""
        return extended_job_message(self.channel_id, job_id, job, None)

    def validate_share(self, share: SubmitSharesExtended, now: float) -> ShareResult:
        """Check a ``SubmitSharesExtended`` (digest 00 §9 order); never raises."""
        cj = self._current.get(share.job_id)
        if cj is None:
            return self._unknown_job(share.job_id, share.sequence_number)
        extranonce = share.extranonce
        if len(extranonce) != self.allocation.size:
            return BadExtranonceSize(self.channel_id, share.sequence_number)
        ntime = share.ntime
        if ntime < self._min_ntime or ntime > now + self._ntime_drift:
            return InvalidTimestamp(self.channel_id, share.sequence_number)
        version = share.version
        if (version ^ cj.version) & cj.fixed_bits:
            return self._bad_version(cj, version, share.sequence_number)
        sha256 = _sha256
        node = sha256(sha256(cj.head + extranonce + cj.tail).digest()).digest()
        for sibling in cj.path:
            node = sha256(sha256(node + sibling).digest()).digest()
        header = _pack_header(version, self._prev_hash, node, ntime, self._nbits, share.nonce)
        block_hash = sha256(sha256(header).digest()).digest()
        value = _from_bytes(block_hash, "little")
        seen = self._seen
        count = len(seen)
        if value > cj.target:
            credit = self._credit_below_job_target(value)
            if credit is None:
                return BelowTarget(self.channel_id, share.sequence_number)
        elif value > self._network_target:
            # The common case, inlined: a valid share that is not a block.
            seen.add(value)
            if len(seen) == count:
                return Duplicate(self.channel_id, share.sequence_number)
            self._batch_last_seq = share.sequence_number
            self._batch_sum += cj.difficulty
            self._batch_count += 1
            if self._batch_count >= self._batch_size:
                return Valid(cj.difficulty, self._flush_batch())
            return cj.valid
        else:
            credit = cj.valid
        seen.add(value)
        if len(seen) == count:
            return Duplicate(self.channel_id, share.sequence_number)
        if value <= self._network_target:
            return self._block(
                cj,
                credit,
                share.sequence_number,
                header,
                block_hash,
                cj.extranonce_prefix + extranonce,
            )
        return self._accept(credit, share.sequence_number)


def extended_job_message(
    channel_id: int, job_id: int, job: MiningJob, min_ntime: int | None
) -> NewExtendedMiningJob:
    """``NewExtendedMiningJob`` for ``job`` addressed to a channel or a group."""
    return NewExtendedMiningJob(
        channel_id=channel_id,
        job_id=job_id,
        min_ntime=min_ntime,
        version=job.version,
        version_rolling_allowed=job.version_rolling_allowed,
        merkle_path=job.merkle_path,
        coinbase_tx_prefix=job.coinbase.prefix,
        coinbase_tx_suffix=job.coinbase.suffix,
    )
