"""Standard channels: header-only mining on a fixed merkle root (sans-IO, server side)."""

from __future__ import annotations

from stratumv2.bitcoin.hashes import merkle_root_from_branch, sha256_small
from stratumv2.mining.channel import Channel, ChannelJob
from stratumv2.mining.jobs import MiningJob
from stratumv2.mining.shares import (
    HEADER_STRUCT,
    BelowTarget,
    Duplicate,
    InvalidTimestamp,
    ShareResult,
    new_valid,
)
from stratumv2.protocol import NewMiningJob, SubmitSharesStandard

__all__ = ["StandardChannel"]

_sha256 = sha256_small
_pack_header = HEADER_STRUCT.pack
_from_bytes = int.from_bytes


def _merkle_root(cj: ChannelJob) -> bytes:
    root = merkle_root_from_branch(_sha256(_sha256(cj.head + cj.tail).digest()).digest(), cj.path)
    cj.merkle_root = root
    return root


class StandardChannel(Channel):
    """A standard channel: its ``extranonce_prefix`` is the whole extranonce of its coinbase.

    Jobs reach it as ``NewMiningJob`` (:meth:`new_job`) or, inside a group, as the group's
    extended jobs (the merkle root for this channel is then computed at its first share).
    Version rolling is always allowed inside the mask (SRI).
    """

    def new_job(self, job: MiningJob, future: bool, now: float) -> NewMiningJob:
        """Give ``job`` an id on this channel; the ``NewMiningJob`` to send."""
        job_id = self.job_ids.next()
        cj = self.add_job(job_id, job, future)
        return NewMiningJob(
            channel_id=self.channel_id,
            job_id=job_id,
            min_ntime=None if future else self.min_ntime_for_new_job(now),
            version=job.version,
            merkle_root=_merkle_root(cj),
        )

    def job_message(self, job_id: int, job: MiningJob) -> NewMiningJob:
        """``NewMiningJob`` (future) for a job this channel already holds under ``job_id``."""
        return NewMiningJob(
            channel_id=self.channel_id,
            job_id=job_id,
            min_ntime=None,
            version=job.version,
            merkle_root=job.merkle_root(self.extranonce_prefix),
        )

    def validate_share(self, share: SubmitSharesStandard, now: float) -> ShareResult:
        """Check a ``SubmitSharesStandard`` (digest 00 §9 order); never raises."""
        cj = self._current.get(share.job_id)
        if cj is None:
            return self._unknown_job(share.job_id, share.sequence_number)
        ntime = share.ntime
        if ntime < self._min_ntime or ntime > now + self._ntime_drift:
            return InvalidTimestamp(self.channel_id, share.sequence_number)
        version = share.version
        if (version ^ cj.version) & cj.fixed_bits:
            return self._bad_version(cj, version, share.sequence_number)
        header = _pack_header(
            version,
            self._prev_hash,
            cj.merkle_root or _merkle_root(cj),
            ntime,
            self._nbits,
            share.nonce,
        )
        block_hash = _sha256(_sha256(header).digest()).digest()
        value = _from_bytes(block_hash, "little")
        if value <= cj.target and value > self._network_target:
            # The common case, inlined: a valid share that is not a block.
            seen = self._seen
            if value in seen:
                return Duplicate(self.channel_id, share.sequence_number)
            seen.add(value)
            self._batch_last_seq = share.sequence_number
            self._batch_sum += cj.difficulty
            count = self._batch_count + 1
            if count >= self._batch_size:
                self._batch_count = count
                return new_valid(cj.difficulty, self._flush_batch())
            self._batch_count = count
            return cj.valid
        if value > cj.target:
            credit = self._credit_below_job_target(value)
            if credit is None:
                return BelowTarget(self.channel_id, share.sequence_number)
        else:
            credit = cj.valid
        seen = self._seen
        if value in seen:
            return Duplicate(self.channel_id, share.sequence_number)
        seen.add(value)
        if value <= self._network_target:
            return self._block(
                cj, credit, share.sequence_number, header, block_hash, cj.extranonce_prefix
            )
        return self._accept(credit, share.sequence_number)
