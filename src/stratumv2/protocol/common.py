"""Common messages (spec 3.5; digest 03 §A): connection setup, shared by every subprotocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from stratumv2.protocol.codec import Message, register
from stratumv2.protocol.types import str0_255, sv2_protocol, u16, u32

# SetupConnection.protocol
PROTOCOL_MINING = 0
PROTOCOL_JOB_DECLARATION = 1
PROTOCOL_TEMPLATE_DISTRIBUTION = 2

# SetupConnection.flags, Mining protocol, client -> server
REQUIRES_STANDARD_JOBS = 0x1
REQUIRES_WORK_SELECTION = 0x2
REQUIRES_VERSION_ROLLING = 0x4
# SetupConnection.Success.flags, Mining protocol, server -> client
REQUIRES_FIXED_VERSION = 0x1
REQUIRES_EXTENDED_CHANNELS = 0x2
# SetupConnection.flags, Job Declaration, client -> server
DECLARE_TX_DATA = 0x1

# SetupConnection.Error codes
SETUP_CONNECTION_ERROR_UNSUPPORTED_FEATURE_FLAGS = "unsupported-feature-flags"
SETUP_CONNECTION_ERROR_UNSUPPORTED_PROTOCOL = "unsupported-protocol"
SETUP_CONNECTION_ERROR_MISSING_DECLARE_TX_DATA_FLAG = "missing-declare-tx-data-flag"
SETUP_CONNECTION_ERROR_PROTOCOL_VERSION_MISMATCH = "protocol-version-mismatch"


@register
@dataclass(frozen=True, slots=True)
class SetupConnection(Message):
    """0x00, client -> server: first message after the handshake.

    ``protocol`` is 0 (Mining), 1 (Job Declaration) or 2 (Template Distribution); other values
    are refused when decoding, as SRI does.
    """

    MSG_TYPE: ClassVar[int] = 0x00

    protocol: sv2_protocol
    min_version: u16
    max_version: u16
    flags: u32
    endpoint_host: str0_255
    endpoint_port: u16
    vendor: str0_255
    hardware_version: str0_255
    firmware: str0_255
    device_id: str0_255


@register
@dataclass(frozen=True, slots=True)
class SetupConnectionSuccess(Message):
    """0x01, server -> client: the version picked and the server's flags."""

    MSG_TYPE: ClassVar[int] = 0x01

    used_version: u16
    flags: u32


@register
@dataclass(frozen=True, slots=True)
class SetupConnectionError(Message):
    """0x02, server -> client: refused; ``flags`` are the unsupported feature flags."""

    MSG_TYPE: ClassVar[int] = 0x02

    flags: u32
    error_code: str0_255


@register
@dataclass(frozen=True, slots=True)
class ChannelEndpointChanged(Message):
    """0x03 (channel message): the channel's other endpoint changed; reset extension state."""

    MSG_TYPE: ClassVar[int] = 0x03
    CHANNEL_MSG: ClassVar[bool] = True

    channel_id: u32


@register
@dataclass(frozen=True, slots=True)
class Reconnect(Message):
    """0x04: reconnect to ``new_host``:``new_port`` ("" / 0 = the same)."""

    MSG_TYPE: ClassVar[int] = 0x04

    new_host: str0_255
    new_port: u16
