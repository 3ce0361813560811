"""The 80-byte Bitcoin block header."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from stratumv2.bitcoin.errors import BitcoinDecodeError

__all__ = ["HEADER_SIZE", "BlockHeader", "header_hash", "serialize_header"]

HEADER_SIZE = 80
_HEADER = struct.Struct("<i32s32sIII")
_sha256 = hashlib.sha256


def serialize_header(
    version: int, prev_hash: bytes, merkle_root: bytes, time: int, bits: int, nonce: int
) -> bytes:
    """The 80 header bytes; hashes in internal byte order, version as signed i32.

    A version given as unsigned 32-bit (as SV2's U32 carries it) is accepted too.
    """
    if version >= 0x80000000:
        version -= 1 << 32
    return _HEADER.pack(version, prev_hash, merkle_root, time, bits, nonce)


def header_hash(
    version: int, prev_hash: bytes, merkle_root: bytes, time: int, bits: int, nonce: int
) -> bytes:
    """Block hash (internal byte order) of the given header fields: the share-check fast path."""
    if version >= 0x80000000:
        version -= 1 << 32
    raw = _HEADER.pack(version, prev_hash, merkle_root, time, bits, nonce)
    return _sha256(_sha256(raw).digest()).digest()


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """A block header. ``prev_hash`` and ``merkle_root`` are 32 bytes in internal order.

    ``version`` is kept as an unsigned 32-bit value (as SV2 carries it); it serializes
    to the same four bytes as Bitcoin Core's signed int32.
    """

    version: int
    prev_hash: bytes
    merkle_root: bytes
    time: int
    bits: int
    nonce: int

    def __post_init__(self) -> None:
        if len(self.prev_hash) != 32 or len(self.merkle_root) != 32:
            raise ValueError("prev_hash and merkle_root must be 32 bytes")
        for name in ("time", "bits", "nonce"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFFFFFFFF:
                raise ValueError(f"{name} out of u32 range: {value}")
        if not -(1 << 31) <= self.version <= 0xFFFFFFFF:
            raise ValueError(f"version out of 32-bit range: {self.version}")

    def serialize(self) -> bytes:
        """The 80 serialized bytes."""
        return serialize_header(
            self.version, self.prev_hash, self.merkle_root, self.time, self.bits, self.nonce
        )

    @classmethod
    def parse(cls, data: bytes) -> BlockHeader:
        """Parse exactly 80 bytes (raise BitcoinDecodeError otherwise)."""
        if len(data) != HEADER_SIZE:
            raise BitcoinDecodeError(f"block header must be 80 bytes, got {len(data)}")
        version, prev_hash, merkle_root, time, bits, nonce = _HEADER.unpack(data)
        return cls(version & 0xFFFFFFFF, prev_hash, merkle_root, time, bits, nonce)

    def hash(self) -> bytes:
        """Block hash in internal byte order (reverse it, or use hash_to_hex, for display)."""
        return header_hash(
            self.version, self.prev_hash, self.merkle_root, self.time, self.bits, self.nonce
        )
