"""Pure mapping between an SV2 extended channel and SV1 (what a translator does per job/share).

SV2 `NewExtendedMiningJob` + the active `SetNewPrevHash` -> `mining.notify` (`MiningNotify`);
an SV1 `mining.submit` (`SubmitShare`) -> the fields of `SubmitSharesExtended`. The SV1
extranonce1 is the channel's `extranonce_prefix` followed by any bytes the translator keeps
for itself (one slot per device when several devices share one channel); extranonce2 is the
device's part. coinb1/coinb2 are the SV2 coinbase prefix and suffix as they are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from stratumv2.bitcoin.hashes import merkle_root_from_branch, sha256d
from stratumv2.bitcoin.header import serialize_header
from stratumv2.bitcoin.target import (
    difficulty_to_target,
    target_to_difficulty,
    target_to_u256,
    u256_to_target,
)
from stratumv2.sv1.errors import Sv1ErrorCode, Sv1ProtocolError
from stratumv2.sv1.session import SubmitShare
from stratumv2.sv1.wire import MiningNotify

__all__ = [
    "ExtendedJobFields",
    "ExtendedShareFields",
    "PrevHashFields",
    "difficulty_to_u256_target",
    "notify_from_extended_job",
    "share_coinbase",
    "share_header",
    "share_to_extended",
    "sv1_job_id",
    "sv2_job_id",
    "u256_target_to_difficulty",
]

JOB_ID_RESEND_DELIMITER = "#"


class ExtendedJobFields(Protocol):
    """The fields of SV2 `NewExtendedMiningJob` this mapping reads."""

    @property
    def job_id(self) -> int: ...
    @property
    def min_ntime(self) -> int | None: ...
    @property
    def version(self) -> int: ...
    @property
    def merkle_path(self) -> Sequence[bytes]: ...
    @property
    def coinbase_tx_prefix(self) -> bytes: ...
    @property
    def coinbase_tx_suffix(self) -> bytes: ...


class PrevHashFields(Protocol):
    """The fields of SV2 `SetNewPrevHash` (Mining) this mapping reads."""

    @property
    def prev_hash(self) -> bytes: ...
    @property
    def min_ntime(self) -> int: ...
    @property
    def nbits(self) -> int: ...


def sv1_job_id(sv2_job_id: int, resend: int = 0) -> str:
    """The SV1 job id for an SV2 job id: its decimal string, `"<id>#<n>"` for the n-th re-send.

    ESP-Miner ignores a notify whose id it has seen, so a re-sent job needs a new id.
    """
    if resend:
        return f"{sv2_job_id}{JOB_ID_RESEND_DELIMITER}{resend}"
    return str(sv2_job_id)


_JOB_ID = re.compile(r"([0-9]{1,10})(?:#[0-9]{1,10})?")


def sv2_job_id(job_id: str) -> int:
    """The SV2 job id inside an SV1 job id from `sv1_job_id`; code 21 if it is not one."""
    match = _JOB_ID.fullmatch(job_id)
    if match is None or int(match.group(1)) > 0xFFFFFFFF:
        raise Sv1ProtocolError(
            f"not a translated job id: {job_id[:40]!r}", code=Sv1ErrorCode.JOB_NOT_FOUND
        )
    return int(match.group(1))


def notify_from_extended_job(
    job: ExtendedJobFields, prev_hash: PrevHashFields, *, clean_jobs: bool, resend: int = 0
) -> MiningNotify:
    """`mining.notify` for an activated extended job.

    ntime is the job's `min_ntime` when it has one (a non-future job), else the prev hash's.
    `MiningNotify.prev_hash` keeps the header byte order; the word swap happens on encoding.
    """
    ntime = job.min_ntime if job.min_ntime is not None else prev_hash.min_ntime
    return MiningNotify(
        job_id=sv1_job_id(job.job_id, resend),
        prev_hash=bytes(prev_hash.prev_hash),
        coinb1=bytes(job.coinbase_tx_prefix),
        coinb2=bytes(job.coinbase_tx_suffix),
        merkle_branch=tuple(bytes(h) for h in job.merkle_path),
        version=job.version,
        nbits=prev_hash.nbits,
        ntime=ntime,
        clean_jobs=clean_jobs,
    )


@dataclass(frozen=True, slots=True)
class ExtendedShareFields:
    """`SubmitSharesExtended` fields from one SV1 share (channel id and sequence are the role's)."""

    job_id: int
    nonce: int
    ntime: int
    version: int
    extranonce: bytes


def share_to_extended(share: SubmitShare, *, extranonce_prefix_size: int) -> ExtendedShareFields:
    """Map a checked SV1 share onto the extended channel it came through.

    `extranonce_prefix_size` is the length of the channel's `extranonce_prefix`, which starts
    the device's extranonce1; the share's extranonce is what follows it, then extranonce2, so
    its length is the channel's `extranonce_size`. `version` is the full header version.
    """
    if not 0 <= extranonce_prefix_size <= len(share.extranonce1):
        raise ValueError("extranonce_prefix_size exceeds the session's extranonce1")
    return ExtendedShareFields(
        job_id=sv2_job_id(share.job_id),
        nonce=share.nonce,
        ntime=share.ntime,
        version=share.version,
        extranonce=share.extranonce1[extranonce_prefix_size:] + share.extranonce2,
    )


def u256_target_to_difficulty(target: bytes) -> float:
    """SV1 difficulty for an SV2 target (U256, little-endian): `DIFF1_TARGET / target`."""
    return target_to_difficulty(u256_to_target(target))


def difficulty_to_u256_target(difficulty: float) -> bytes:
    """The SV2 U256 target for an SV1 difficulty."""
    return target_to_u256(difficulty_to_target(difficulty))


def share_coinbase(share: SubmitShare) -> bytes:
    """The coinbase transaction (BIP141-stripped) the device hashed for this share."""
    job = share.job
    return job.coinb1 + share.extranonce1 + share.extranonce2 + job.coinb2


def share_header(share: SubmitShare) -> bytes:
    """The 80-byte header the device hashed (for the role's own target check)."""
    root = merkle_root_from_branch(sha256d(share_coinbase(share)), share.job.merkle_branch)
    job = share.job
    return serialize_header(share.version, job.prev_hash, root, share.ntime, job.nbits, share.nonce)
