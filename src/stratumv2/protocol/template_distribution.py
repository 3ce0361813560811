"""Template Distribution messages (spec 7; digest 04 §A). None sets the channel bit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from stratumv2.protocol.codec import Message, register
from stratumv2.protocol.types import (
    b0_64k,
    b0_255,
    boolean,
    seq0_64k_b0_16m,
    seq0_255_u256,
    str0_255,
    u16,
    u32,
    u64,
    u256,
)

# RequestTransactionData.Error codes
REQUEST_TX_DATA_ERROR_TEMPLATE_ID_NOT_FOUND = "template-id-not-found"
REQUEST_TX_DATA_ERROR_STALE_TEMPLATE_ID = "stale-template-id"


@register
@dataclass(frozen=True, slots=True)
class CoinbaseOutputConstraints(Message):
    """0x70, client -> TP: room the client needs for its own coinbase outputs."""

    MSG_TYPE: ClassVar[int] = 0x70

    coinbase_output_max_additional_size: u32
    coinbase_output_max_additional_sigops: u16


@register
@dataclass(frozen=True, slots=True)
class NewTemplate(Message):
    """0x71, TP -> client: a block template.

    ``coinbase_tx_outputs`` are consensus-serialised outputs simply concatenated (no count
    prefix; the count is ``coinbase_tx_outputs_count``).
    """

    MSG_TYPE: ClassVar[int] = 0x71

    template_id: u64
    future_template: boolean
    version: u32
    coinbase_tx_version: u32
    coinbase_prefix: b0_255
    coinbase_tx_input_sequence: u32
    coinbase_tx_value_remaining: u64
    coinbase_tx_outputs_count: u32
    coinbase_tx_outputs: b0_64k
    coinbase_tx_locktime: u32
    merkle_path: seq0_255_u256


@register
@dataclass(frozen=True, slots=True)
class SetNewPrevHashTd(Message):
    """0x72, TP -> client: Template Distribution SetNewPrevHash (spec field nBits = n_bits)."""

    MSG_TYPE: ClassVar[int] = 0x72

    template_id: u64
    prev_hash: u256
    header_timestamp: u32
    n_bits: u32
    target: u256


@register
@dataclass(frozen=True, slots=True)
class RequestTransactionData(Message):
    """0x73, client -> TP: ask for a template's transactions."""

    MSG_TYPE: ClassVar[int] = 0x73

    template_id: u64


@register
@dataclass(frozen=True, slots=True)
class RequestTransactionDataSuccess(Message):
    """0x74, TP -> client: the template's transactions (witness serialisation, block order)."""

    MSG_TYPE: ClassVar[int] = 0x74

    template_id: u64
    excess_data: b0_64k
    transaction_list: seq0_64k_b0_16m


@register
@dataclass(frozen=True, slots=True)
class RequestTransactionDataError(Message):
    """0x75, TP -> client."""

    MSG_TYPE: ClassVar[int] = 0x75

    template_id: u64
    error_code: str0_255


@register
@dataclass(frozen=True, slots=True)
class SubmitSolution(Message):
    """0x76, client -> TP: a block solution; ``coinbase_tx`` is the full (witness) coinbase."""

    MSG_TYPE: ClassVar[int] = 0x76

    template_id: u64
    version: u32
    header_timestamp: u32
    header_nonce: u32
    coinbase_tx: b0_64k
