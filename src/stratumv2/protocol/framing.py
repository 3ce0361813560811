"""The 6-byte SV2 frame header (spec 3.2; digest 01 §2).

``extension_type`` U16 LE (bit 15 = ``channel_msg``), ``msg_type`` U8, ``msg_length`` U24 LE
(payload bytes, header excluded; with Noise still the plaintext length).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from stratumv2.protocol.errors import ProtocolError

HEADER_SIZE = 6
CHANNEL_MSG_BIT = 0x8000
MAX_PAYLOAD_SIZE = 0xFFFFFF
#: default and upper limit of a whole frame (header + largest U24 payload)
MAX_FRAME_SIZE = HEADER_SIZE + MAX_PAYLOAD_SIZE

_HEADER = struct.Struct("<HBHB")


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """A decoded header. ``extension_type`` is without the channel bit (see ``channel_msg``)."""

    extension_type: int
    msg_type: int
    channel_msg: bool
    length: int


def encode_header(extension_type: int, msg_type: int, length: int, channel_msg: bool) -> bytes:
    """The 6 header bytes; ``channel_msg`` sets bit 15 of ``extension_type``."""
    if not 0 <= extension_type <= 0x7FFF:
        raise ValueError(f"extension_type {extension_type} out of range 0..0x7fff")
    if not 0 <= msg_type <= 0xFF:
        raise ValueError(f"msg_type {msg_type} out of range 0..255")
    if not 0 <= length <= MAX_PAYLOAD_SIZE:
        raise ValueError(f"payload length {length} out of range 0..{MAX_PAYLOAD_SIZE}")
    ext = extension_type | CHANNEL_MSG_BIT if channel_msg else extension_type
    return _HEADER.pack(ext, msg_type, length & 0xFFFF, length >> 16)


def decode_header(data: bytes) -> FrameHeader:
    """Parse exactly 6 header bytes."""
    if len(data) != HEADER_SIZE:
        raise ProtocolError(f"frame header must be {HEADER_SIZE} bytes, got {len(data)}")
    ext, msg_type, low, high = _HEADER.unpack(data)
    return FrameHeader(ext & 0x7FFF, msg_type, bool(ext & CHANNEL_MSG_BIT), low | high << 16)
