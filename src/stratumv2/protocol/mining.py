"""Mining protocol messages (spec 5; digest 03 §B). Field order is wire order.

``SetNewPrevHashMining`` is the Mining protocol's SetNewPrevHash (0x20); the Template
Distribution one is ``template_distribution.SetNewPrevHashTd`` (0x72).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from stratumv2.protocol.codec import Message, register
from stratumv2.protocol.types import (
    b0_32,
    b0_64k,
    b0_255,
    boolean,
    f32,
    option_u32,
    seq0_64k_u32,
    seq0_255_u256,
    str0_255,
    u16,
    u32,
    u64,
    u256,
)

# OpenMiningChannel.Error codes
OPEN_CHANNEL_ERROR_STANDARD_CHANNELS_NOT_SUPPORTED_FOR_CUSTOM_WORK = (
    "standard-channels-not-supported-for-custom-work"
)
OPEN_CHANNEL_ERROR_EXTENDED_CHANNELS_NOT_SUPPORTED_FOR_STANDARD_JOBS = (
    "extended-channels-not-supported-for-standard-jobs"
)
OPEN_CHANNEL_ERROR_INVALID_USER_IDENTITY = "invalid-user-identity"
OPEN_CHANNEL_ERROR_INVALID_NOMINAL_HASHRATE = "invalid-nominal-hashrate"
OPEN_CHANNEL_ERROR_MIN_EXTRANONCE_SIZE_TOO_LARGE = "min-extranonce-size-too-large"
OPEN_CHANNEL_ERROR_MAX_TARGET_OUT_OF_RANGE = "max-target-out-of-range"
OPEN_CHANNEL_ERROR_UNSUPPORTED_MIN_EXTRANONCE_SIZE = "unsupported-min-extranonce-size"
OPEN_CHANNEL_ERROR_UNKNOWN_USER = "unknown-user"
OPEN_CHANNEL_ERROR_CHANNEL_CAPACITY_EXHAUSTED = "channel-capacity-exhausted"

# UpdateChannel.Error codes
UPDATE_CHANNEL_ERROR_INVALID_NOMINAL_HASHRATE = "invalid-nominal-hashrate"
UPDATE_CHANNEL_ERROR_INVALID_CHANNEL_ID = "invalid-channel-id"

# SubmitShares.Error codes
SUBMIT_SHARES_ERROR_INVALID_CHANNEL_ID = "invalid-channel-id"
SUBMIT_SHARES_ERROR_INVALID_SHARE = "invalid-share"
SUBMIT_SHARES_ERROR_STALE_SHARE = "stale-share"
SUBMIT_SHARES_ERROR_INVALID_JOB_ID = "invalid-job-id"
SUBMIT_SHARES_ERROR_DIFFICULTY_TOO_LOW = "difficulty-too-low"
SUBMIT_SHARES_ERROR_DUPLICATE_SHARE = "duplicate-share"
SUBMIT_SHARES_ERROR_BAD_EXTRANONCE_SIZE = "bad-extranonce-size"
SUBMIT_SHARES_ERROR_VERSION_ROLLING_NOT_ALLOWED = "version-rolling-not-allowed"
SUBMIT_SHARES_ERROR_INVALID_NON_ROLLABLE_VERSION_BIT = "invalid-non-rollable-version-bit"

# SetCustomMiningJob.Error codes
SET_CUSTOM_JOB_ERROR_JD_NOT_SUPPORTED = "jd-not-supported"
SET_CUSTOM_JOB_ERROR_INVALID_CHANNEL_ID = "invalid-channel-id"
SET_CUSTOM_JOB_ERROR_INVALID_MINING_JOB_TOKEN = "invalid-mining-job-token"
SET_CUSTOM_JOB_ERROR_JOB_NOT_YET_VALIDATED = "job-not-yet-validated"
SET_CUSTOM_JOB_ERROR_STALE_CHAIN_TIP = "stale-chain-tip"
SET_CUSTOM_JOB_ERROR_INVALID_MIN_NTIME = "invalid-min-ntime"
SET_CUSTOM_JOB_ERROR_INVALID_NBITS = "invalid-nbits"
SET_CUSTOM_JOB_ERROR_INVALID_VERSION = "invalid-version"
SET_CUSTOM_JOB_ERROR_INVALID_COINBASE_TX = "invalid-coinbase-tx"
SET_CUSTOM_JOB_ERROR_INVALID_COINBASE_TX_VERSION = "invalid-coinbase-tx-version"
SET_CUSTOM_JOB_ERROR_INVALID_COINBASE_PREFIX = "invalid-coinbase-prefix"
SET_CUSTOM_JOB_ERROR_INVALID_COINBASE_TX_INPUT_N_SEQUENCE = "invalid-coinbase-tx-input-n-sequence"
SET_CUSTOM_JOB_ERROR_INVALID_COINBASE_TX_OUTPUTS = "invalid-coinbase-tx-outputs"
SET_CUSTOM_JOB_ERROR_INVALID_COINBASE_TX_LOCKTIME = "invalid-coinbase-tx-locktime"
SET_CUSTOM_JOB_ERROR_INVALID_MERKLE_PATH = "invalid-merkle-path"


@register
@dataclass(frozen=True, slots=True)
class OpenStandardMiningChannel(Message):
    """0x10, client -> server: open a standard channel (header-only mining)."""

    MSG_TYPE: ClassVar[int] = 0x10

    request_id: u32
    user_identity: str0_255
    nominal_hash_rate: f32
    max_target: u256


@register
@dataclass(frozen=True, slots=True)
class OpenStandardMiningChannelSuccess(Message):
    """0x11, server -> client: the standard channel is open."""

    MSG_TYPE: ClassVar[int] = 0x11

    request_id: u32
    channel_id: u32
    target: u256
    extranonce_prefix: b0_32
    group_channel_id: u32


@register
@dataclass(frozen=True, slots=True)
class OpenMiningChannelError(Message):
    """0x12, server -> client: opening a standard or extended channel failed."""

    MSG_TYPE: ClassVar[int] = 0x12

    request_id: u32
    error_code: str0_255


@register
@dataclass(frozen=True, slots=True)
class OpenExtendedMiningChannel(Message):
    """0x13, client -> server: open an extended channel (the client rolls the extranonce)."""

    MSG_TYPE: ClassVar[int] = 0x13

    request_id: u32
    user_identity: str0_255
    nominal_hash_rate: f32
    max_target: u256
    min_extranonce_size: u16


@register
@dataclass(frozen=True, slots=True)
class OpenExtendedMiningChannelSuccess(Message):
    """0x14, server -> client. Note ``extranonce_size`` comes before ``extranonce_prefix``."""

    MSG_TYPE: ClassVar[int] = 0x14

    request_id: u32
    channel_id: u32
    target: u256
    extranonce_size: u16
    extranonce_prefix: b0_32
    group_channel_id: u32


@register
@dataclass(frozen=True, slots=True)
class NewMiningJob(Message):
    """0x15 (channel message): a job for a standard channel; ``min_ntime`` None = future job."""

    MSG_TYPE: ClassVar[int] = 0x15
    CHANNEL_MSG: ClassVar[bool] = True

    channel_id: u32
    job_id: u32
    min_ntime: option_u32
    version: u32
    merkle_root: u256


@register
@dataclass(frozen=True, slots=True)
class UpdateChannel(Message):
    """0x16 (channel message), client -> server: new nominal hashrate / maximum target."""

    MSG_TYPE: ClassVar[int] = 0x16
    CHANNEL_MSG: ClassVar[bool] = True

    channel_id: u32
    nominal_hash_rate: f32
    maximum_target: u256


@register
@dataclass(frozen=True, slots=True)
class UpdateChannelError(Message):
    """0x17 (channel message), server -> client."""

    MSG_TYPE: ClassVar[int] = 0x17
    CHANNEL_MSG: ClassVar[bool] = True

    channel_id: u32
    error_code: str0_255


@register
@dataclass(frozen=True, slots=True)
class CloseChannel(Message):
    """0x18 (channel message), both directions."""

    MSG_TYPE: ClassVar[int] = 0x18
    CHANNEL_MSG: ClassVar[bool] = True

    channel_id: u32
    reason_code: str0_255


@register
@dataclass(frozen=True, slots=True)
class SetExtranoncePrefix(Message):
    """0x19 (channel message): new extranonce prefix for jobs sent after it."""

    MSG_TYPE: ClassVar[int] = 0x19
    CHANNEL_MSG: ClassVar[bool] = True

    channel_id: u32
    extranonce_prefix: b0_32


@register
@dataclass(frozen=True, slots=True)
class SubmitSharesStandard(Message):
    """0x1a (channel message): a share on a standard channel."""

    MSG_TYPE: ClassVar[int] = 0x1A
    CHANNEL_MSG: ClassVar[bool] = True

    channel_id: u32
    sequence_number: u32
    job_id: u32
    nonce: u32
    ntime: u32
    version: u32


@register
@dataclass(frozen=True, slots=True)
class SubmitSharesExtended(Message):
    """0x1b (channel message): a share on an extended channel (``extranonce`` = rolled part).

    The 0x0002 user_identity TLV, when negotiated, travels in ``tlv_data``.
    """

    MSG_TYPE: ClassVar[int] = 0x1B
    CHANNEL_MSG: ClassVar[bool] = True

    channel_id: u32
    sequence_number: u32
    job_id: u32
    nonce: u32
    ntime: u32
    version: u32
    extranonce: b0_32


@register
@dataclass(frozen=True, slots=True)
class SubmitSharesSuccess(Message):
    """0x1c (channel message): a batch of shares was accepted."""

    MSG_TYPE: ClassVar[int] = 0x1C
    CHANNEL_MSG: ClassVar[bool] = True

    channel_id: u32
    last_sequence_number: u32
    new_submits_accepted_count: u32
    new_shares_sum: u64


@register
@dataclass(frozen=True, slots=True)
class SubmitSharesError(Message):
    """0x1d (channel message): a share was rejected."""

    MSG_TYPE: ClassVar[int] = 0x1D
    CHANNEL_MSG: ClassVar[bool] = True

    channel_id: u32
    sequence_number: u32
    error_code: str0_255


@register
@dataclass(frozen=True, slots=True)
class NewExtendedMiningJob(Message):
    """0x1f (channel message): a job for an extended or group channel.

    Coinbase prefix/suffix are BIP141-stripped; ``merkle_path`` is deepest first.
    """

    MSG_TYPE: ClassVar[int] = 0x1F
    CHANNEL_MSG: ClassVar[bool] = True

    channel_id: u32
    job_id: u32
    min_ntime: option_u32
    version: u32
    version_rolling_allowed: boolean
    merkle_path: seq0_255_u256
    coinbase_tx_prefix: b0_64k
    coinbase_tx_suffix: b0_64k


@register
@dataclass(frozen=True, slots=True)
class SetNewPrevHashMining(Message):
    """0x20 (channel message): Mining SetNewPrevHash — activate the future job ``job_id``."""

    MSG_TYPE: ClassVar[int] = 0x20
    CHANNEL_MSG: ClassVar[bool] = True

    channel_id: u32
    job_id: u32
    prev_hash: u256
    min_ntime: u32
    nbits: u32


@register
@dataclass(frozen=True, slots=True)
class SetTarget(Message):
    """0x21 (channel message): new maximum target for the channel (or group)."""

    MSG_TYPE: ClassVar[int] = 0x21
    CHANNEL_MSG: ClassVar[bool] = True

    channel_id: u32
    maximum_target: u256


@register
@dataclass(frozen=True, slots=True)
class SetCustomMiningJob(Message):
    """0x22 (channel message), client -> server: a job the client selected (work selection).

    ``coinbase_tx_outputs`` is a CompactSize-prefixed vector of outputs.
    """

    MSG_TYPE: ClassVar[int] = 0x22
    CHANNEL_MSG: ClassVar[bool] = True

    channel_id: u32
    request_id: u32
    mining_job_token: b0_255
    version: u32
    prev_hash: u256
    min_ntime: u32
    nbits: u32
    coinbase_tx_version: u32
    coinbase_prefix: b0_255
    coinbase_tx_input_n_sequence: u32
    coinbase_tx_outputs: b0_64k
    coinbase_tx_locktime: u32
    merkle_path: seq0_255_u256


@register
@dataclass(frozen=True, slots=True)
class SetCustomMiningJobSuccess(Message):
    """0x23 (channel message): the custom job was accepted as ``job_id``."""

    MSG_TYPE: ClassVar[int] = 0x23
    CHANNEL_MSG: ClassVar[bool] = True

    channel_id: u32
    request_id: u32
    job_id: u32


@register
@dataclass(frozen=True, slots=True)
class SetCustomMiningJobError(Message):
    """0x24 (channel message): the custom job was refused."""

    MSG_TYPE: ClassVar[int] = 0x24
    CHANNEL_MSG: ClassVar[bool] = True

    channel_id: u32
    request_id: u32
    error_code: str0_255


@register
@dataclass(frozen=True, slots=True)
class SetGroupChannel(Message):
    """0x25 (NOT a channel message): the members of a group channel."""

    MSG_TYPE: ClassVar[int] = 0x25

    group_channel_id: u32
    channel_ids: seq0_64k_u32
