"""Job Declaration messages (spec 6; digest 04 §B). None sets the channel bit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from stratumv2.protocol.codec import Message, register
from stratumv2.protocol.types import (
    b0_32,
    b0_64k,
    b0_255,
    seq0_64k_b0_16m,
    seq0_64k_u16,
    seq0_64k_u256,
    str0_255,
    u32,
    u256,
)

# DeclareMiningJob.Error codes
DECLARE_MINING_JOB_ERROR_INVALID_MINING_JOB_TOKEN = "invalid-mining-job-token"
DECLARE_MINING_JOB_ERROR_MISSING_TXS = "missing-txs"
DECLARE_MINING_JOB_ERROR_INVALID_COINBASE_TX = "invalid-coinbase-tx"
DECLARE_MINING_JOB_ERROR_INVALID_COINBASE_TX_INPUT = "invalid-coinbase-tx-input"
DECLARE_MINING_JOB_ERROR_INTERNAL_ERROR = "internal-error"
DECLARE_MINING_JOB_ERROR_STALE_CHAIN_TIP = "stale-chain-tip"
DECLARE_MINING_JOB_ERROR_INVALID_JOB = "invalid-job"


@register
@dataclass(frozen=True, slots=True)
class AllocateMiningJobToken(Message):
    """0x50, JDC -> JDS. Note ``user_identifier`` comes before ``request_id``."""

    MSG_TYPE: ClassVar[int] = 0x50

    user_identifier: str0_255
    request_id: u32


@register
@dataclass(frozen=True, slots=True)
class AllocateMiningJobTokenSuccess(Message):
    """0x51, JDS -> JDC: a token and the pool's outputs (CompactSize-prefixed vector)."""

    MSG_TYPE: ClassVar[int] = 0x51

    request_id: u32
    mining_job_token: b0_255
    coinbase_tx_outputs: b0_64k


@register
@dataclass(frozen=True, slots=True)
class ProvideMissingTransactions(Message):
    """0x55, JDS -> JDC: positions (into ``wtxid_list``) of transactions the JDS lacks."""

    MSG_TYPE: ClassVar[int] = 0x55

    request_id: u32
    unknown_tx_position_list: seq0_64k_u16


@register
@dataclass(frozen=True, slots=True)
class ProvideMissingTransactionsSuccess(Message):
    """0x56, JDC -> JDS: the requested transactions, in the order requested."""

    MSG_TYPE: ClassVar[int] = 0x56

    request_id: u32
    transaction_list: seq0_64k_b0_16m


@register
@dataclass(frozen=True, slots=True)
class DeclareMiningJob(Message):
    """0x57, JDC -> JDS: declare a job (Full-Template mode; coinbase parts keep BIP141)."""

    MSG_TYPE: ClassVar[int] = 0x57

    request_id: u32
    mining_job_token: b0_255
    version: u32
    coinbase_tx_prefix: b0_64k
    coinbase_tx_suffix: b0_64k
    wtxid_list: seq0_64k_u256
    excess_data: b0_64k


@register
@dataclass(frozen=True, slots=True)
class DeclareMiningJobSuccess(Message):
    """0x58, JDS -> JDC: use ``new_mining_job_token`` in SetCustomMiningJob."""

    MSG_TYPE: ClassVar[int] = 0x58

    request_id: u32
    new_mining_job_token: b0_255


@register
@dataclass(frozen=True, slots=True)
class DeclareMiningJobError(Message):
    """0x59, JDS -> JDC."""

    MSG_TYPE: ClassVar[int] = 0x59

    request_id: u32
    error_code: str0_255
    error_details: b0_64k


@register
@dataclass(frozen=True, slots=True)
class PushSolution(Message):
    """0x60, JDC -> JDS: a block found on the last declared job (``extranonce`` is full)."""

    MSG_TYPE: ClassVar[int] = 0x60

    extranonce: b0_32
    prev_hash: u256
    nonce: u32
    ntime: u32
    nbits: u32
    version: u32
