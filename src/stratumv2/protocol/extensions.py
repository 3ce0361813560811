"""Extension 0x0001, Extensions Negotiation (digest 05 §1.1), and TLV helpers (digest 01 §5).

TLV byte order follows SRI: ``extension_type`` U16 LE, ``field_type`` U8, ``length`` U16 LE,
then the value.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from stratumv2.protocol.codec import Message, register
from stratumv2.protocol.types import seq0_64k_u16, u16

EXTENSION_NEGOTIATION = 0x0001
EXTENSION_WORKER_HASHRATE_TRACKING = 0x0002
#: field type of the user_identity TLV of extension 0x0002 (on SubmitSharesExtended)
TLV_FIELD_USER_IDENTITY = 0x01
MAX_USER_IDENTITY_TLV_LENGTH = 32


@register
@dataclass(frozen=True, slots=True)
class RequestExtensions(Message):
    """Ext 0x0001 / 0x00, client -> server. Note ``request_id`` is a U16 here."""

    MSG_TYPE: ClassVar[int] = 0x00
    EXTENSION_TYPE: ClassVar[int] = EXTENSION_NEGOTIATION

    request_id: u16
    requested_extensions: seq0_64k_u16


@register
@dataclass(frozen=True, slots=True)
class RequestExtensionsSuccess(Message):
    """Ext 0x0001 / 0x01, server -> client: the extensions now in use."""

    MSG_TYPE: ClassVar[int] = 0x01
    EXTENSION_TYPE: ClassVar[int] = EXTENSION_NEGOTIATION

    request_id: u16
    supported_extensions: seq0_64k_u16


@register
@dataclass(frozen=True, slots=True)
class RequestExtensionsError(Message):
    """Ext 0x0001 / 0x02, server -> client: unsupported requests and required extensions."""

    MSG_TYPE: ClassVar[int] = 0x02
    EXTENSION_TYPE: ClassVar[int] = EXTENSION_NEGOTIATION

    request_id: u16
    unsupported_extensions: seq0_64k_u16
    required_extensions: seq0_64k_u16


@dataclass(frozen=True, slots=True)
class Tlv:
    """One TLV extension field."""

    extension_type: int
    field_type: int
    value: bytes


_TLV_HEAD = struct.Struct("<HBH")


def encode_tlvs(tlvs: list[Tlv] | tuple[Tlv, ...]) -> bytes:
    """TLV bytes (SRI order) to put in a message's ``tlv_data``."""
    parts = []
    for tlv in tlvs:
        if len(tlv.value) > 0xFFFF:
            raise ValueError(f"TLV value of {len(tlv.value)} bytes exceeds 65535")
        parts.append(_TLV_HEAD.pack(tlv.extension_type, tlv.field_type, len(tlv.value)))
        parts.append(tlv.value)
    return b"".join(parts)


def parse_tlvs(data: bytes) -> tuple[Tlv, ...]:
    """The well-formed TLVs at the start of ``data``; a malformed tail is skipped, as SRI
    does (never raises)."""
    tlvs = []
    pos = 0
    while pos + _TLV_HEAD.size <= len(data):
        ext, field_type, length = _TLV_HEAD.unpack_from(data, pos)
        start = pos + _TLV_HEAD.size
        if start + length > len(data):
            break
        tlvs.append(Tlv(ext, field_type, bytes(data[start : start + length])))
        pos = start + length
    return tuple(tlvs)


def user_identity_tlv(worker: str) -> Tlv:
    """Extension 0x0002's user_identity TLV (UTF-8, at most 32 bytes)."""
    raw = worker.encode("utf-8")
    if len(raw) > MAX_USER_IDENTITY_TLV_LENGTH:
        raise ValueError(f"user_identity of {len(raw)} bytes exceeds 32")
    return Tlv(EXTENSION_WORKER_HASHRATE_TRACKING, TLV_FIELD_USER_IDENTITY, raw)
