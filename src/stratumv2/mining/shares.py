"""Share validation results (SRI style) and a CPU header solver for miners and tests.

Validating a share returns one of these results, never raises: :class:`Valid`,
:class:`BlockFound` (also valid, and it meets the network target), or a :class:`Rejected`
subclass whose ``error_code`` is the ``SubmitShares.Error`` string to reply with.
Every result has ``response``: the message to send back now (``SubmitShares.Success`` when a
batch completes or a block is found, ``SubmitShares.Error`` for a rejection), or None.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from stratumv2.mining.errors import (
    BAD_EXTRANONCE_SIZE,
    DIFFICULTY_TOO_LOW,
    DUPLICATE_SHARE,
    INVALID_CHANNEL_ID,
    INVALID_JOB_ID,
    INVALID_NON_ROLLABLE_VERSION_BIT,
    INVALID_SHARE,
    STALE_SHARE,
    VERSION_ROLLING_NOT_ALLOWED,
)
from stratumv2.protocol import SubmitSharesError, SubmitSharesSuccess, SubmitSolution

__all__ = [
    "BadExtranonceSize",
    "BelowTarget",
    "BlockFound",
    "Duplicate",
    "InvalidChannelId",
    "InvalidJobId",
    "InvalidShare",
    "InvalidTimestamp",
    "InvalidVersionBits",
    "Rejected",
    "ShareResult",
    "Stale",
    "Valid",
    "solve_header",
]

HEADER_STRUCT = struct.Struct("<I32s32sIII")
"""Header layout with the version as U32, as SV2 carries it (same bytes as Core's int32)."""


@dataclass(frozen=True, slots=True)
class Valid:
    """An accepted share; ``difficulty`` is what it is credited (its job target's)."""

    difficulty: float
    ack: SubmitSharesSuccess | None = None

    accepted: ClassVar[bool] = True

    @property
    def response(self) -> SubmitSharesSuccess | None:
        """The ``SubmitShares.Success`` to send now (a batch completed), or None."""
        return self.ack


@dataclass(frozen=True, slots=True)
class BlockFound:
    """An accepted share that also meets the network target: a block.

    ``header`` is the 80-byte header, ``coinbase_tx`` the full coinbase with its witness
    (as a block and ``SubmitSolution`` carry it), ``template_id`` None for a job that did not
    come from our Template Provider (then the block is the job declarator's to push).
    """

    difficulty: float
    ack: SubmitSharesSuccess
    channel_id: int
    job_id: int
    template_id: int | None
    header: bytes
    block_hash: bytes
    coinbase_tx: bytes
    full_extranonce: bytes

    accepted: ClassVar[bool] = True

    @property
    def response(self) -> SubmitSharesSuccess:
        """The ``SubmitShares.Success`` to send now (SRI acknowledges blocks at once)."""
        return self.ack

    @property
    def version(self) -> int:
        """Header version (rolled bits included)."""
        return int.from_bytes(self.header[0:4], "little")

    @property
    def ntime(self) -> int:
        """Header nTime."""
        return int.from_bytes(self.header[68:72], "little")

    @property
    def nonce(self) -> int:
        """Header nonce."""
        return int.from_bytes(self.header[76:80], "little")

    def submit_solution(self) -> SubmitSolution:
        """The Template Distribution ``SubmitSolution`` that publishes this block."""
        if self.template_id is None:
            raise ValueError("this block's job did not come from a template")
        return SubmitSolution(
            template_id=self.template_id,
            version=self.version,
            header_timestamp=self.ntime,
            header_nonce=self.nonce,
            coinbase_tx=self.coinbase_tx,
        )


@dataclass(frozen=True, slots=True)
class Rejected:
    """A refused share; ``error_code`` is the ``SubmitShares.Error`` code."""

    channel_id: int
    sequence_number: int

    accepted: ClassVar[bool] = False
    ERROR_CODE: ClassVar[str] = INVALID_SHARE

    @property
    def error_code(self) -> str:
        """The SV2 error code string."""
        return self.ERROR_CODE

    @property
    def response(self) -> SubmitSharesError:
        """The ``SubmitShares.Error`` to send."""
        return SubmitSharesError(
            channel_id=self.channel_id,
            sequence_number=self.sequence_number,
            error_code=self.error_code,
        )


@dataclass(frozen=True, slots=True)
class InvalidChannelId(Rejected):
    """No such channel on this connection."""

    ERROR_CODE: ClassVar[str] = INVALID_CHANNEL_ID


@dataclass(frozen=True, slots=True)
class Stale(Rejected):
    """The job belongs to an earlier chain tip."""

    ERROR_CODE: ClassVar[str] = STALE_SHARE


@dataclass(frozen=True, slots=True)
class InvalidJobId(Rejected):
    """The job id was never sent on this channel (or is long gone)."""

    ERROR_CODE: ClassVar[str] = INVALID_JOB_ID


@dataclass(frozen=True, slots=True)
class BadExtranonceSize(Rejected):
    """``SubmitSharesExtended.extranonce`` is not ``extranonce_size`` bytes."""

    ERROR_CODE: ClassVar[str] = BAD_EXTRANONCE_SIZE


@dataclass(frozen=True, slots=True)
class InvalidTimestamp(Rejected):
    """nTime below the tip's ``min_ntime`` or too far in the future (SRI: ``invalid-share``)."""

    ERROR_CODE: ClassVar[str] = INVALID_SHARE


@dataclass(frozen=True, slots=True)
class InvalidVersionBits(Rejected):
    """Version bits changed outside the rolling mask, or rolling is not allowed."""

    rolling_allowed: bool = True

    @property
    def error_code(self) -> str:
        """``invalid-non-rollable-version-bit`` or ``version-rolling-not-allowed``."""
        if self.rolling_allowed:
            return INVALID_NON_ROLLABLE_VERSION_BIT
        return VERSION_ROLLING_NOT_ALLOWED


@dataclass(frozen=True, slots=True)
class BelowTarget(Rejected):
    """The share's hash does not meet the channel target."""

    ERROR_CODE: ClassVar[str] = DIFFICULTY_TOO_LOW


@dataclass(frozen=True, slots=True)
class Duplicate(Rejected):
    """The same share was already accepted on this chain tip."""

    ERROR_CODE: ClassVar[str] = DUPLICATE_SHARE


@dataclass(frozen=True, slots=True)
class InvalidShare(Rejected):
    """Any other malformed share."""


def _slot_setter(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name].__set__
    raise AttributeError(name)  # pragma: no cover - a renamed field


def _check_fields(cls: type, names: tuple[str, ...]) -> None:
    # The slot-built objects below must set every field: fail at import, not later.
    if {f.name for f in fields(cls)} != set(names):
        raise TypeError(f"{cls.__name__} fields changed: update {__name__}.new_*")


_check_fields(Valid, ("difficulty", "ack"))
_ACK_FIELDS = (
    "channel_id",
    "last_sequence_number",
    "new_submits_accepted_count",
    "new_shares_sum",
    "tlv_data",
)
_check_fields(SubmitSharesSuccess, _ACK_FIELDS)
_new_object = object.__new__
_set_valid_difficulty = _slot_setter(Valid, "difficulty")
_set_valid_ack = _slot_setter(Valid, "ack")
_set_ack_fields = [_slot_setter(SubmitSharesSuccess, name) for name in _ACK_FIELDS]


def new_valid(difficulty: float, ack: SubmitSharesSuccess | None) -> Valid:
    """``Valid(difficulty, ack)`` built through its slots: the same frozen object, without
    the frozen-dataclass ``__init__`` (several times slower; this runs once per ack batch)."""
    valid = _new_object(Valid)
    _set_valid_difficulty(valid, difficulty)
    _set_valid_ack(valid, ack)
    return valid


def new_ack(
    channel_id: int, last_sequence_number: int, count: int, shares_sum: int
) -> SubmitSharesSuccess:
    """``SubmitSharesSuccess(...)`` built through its slots (as the codec's decoder does)."""
    ack: SubmitSharesSuccess = _new_object(SubmitSharesSuccess)
    set_channel, set_last, set_count, set_sum, set_tlv = _set_ack_fields
    set_channel(ack, channel_id)
    set_last(ack, last_sequence_number)
    set_count(ack, count)
    set_sum(ack, shares_sum)
    set_tlv(ack, b"")
    return ack


ShareResult = Valid | BlockFound | Rejected
"""What share validation returns."""


def solve_header(
    version: int,
    prev_hash: bytes,
    merkle_root: bytes,
    ntime: int,
    nbits: int,
    target: int,
    start_nonce: int = 0,
    max_nonce: int = 0xFFFFFFFF,
) -> int | None:
    """First nonce in ``[start_nonce, max_nonce]`` whose header hash is <= ``target``.

    A plain CPU loop (SHA-256 midstate of the first 64 header bytes reused): for tests,
    demos and the CPU miner on easy targets.
    """
    header = HEADER_STRUCT.pack(version & 0xFFFFFFFF, prev_hash, merkle_root, ntime, nbits, 0)
    midstate = hashlib.sha256(header[:64])
    tail = header[64:76]
    sha256 = hashlib.sha256
    from_bytes = int.from_bytes
    pack_nonce = struct.Struct("<I").pack
    for nonce in range(start_nonce, max_nonce + 1):
        inner = midstate.copy()
        inner.update(tail + pack_nonce(nonce))
        if from_bytes(sha256(inner.digest()).digest(), "little") <= target:
            return nonce
    return None
