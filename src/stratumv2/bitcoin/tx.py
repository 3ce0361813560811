"""Bitcoin transactions: (de)serialization with BIP144 witness, txid, wtxid, weight.

Parse errors raise :class:`BitcoinDecodeError` (a ValueError) and nothing else.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from stratumv2.bitcoin.errors import BitcoinDecodeError
from stratumv2.bitcoin.hashes import sha256d

__all__ = [
    "COINBASE_PREVOUT_INDEX",
    "NULL_HASH",
    "OutPoint",
    "Reader",
    "Transaction",
    "TxIn",
    "TxOut",
    "compact_size",
    "read_compact_size",
    "txids",
]

NULL_HASH = b"\x00" * 32
COINBASE_PREVOUT_INDEX = 0xFFFFFFFF
MAX_COMPACT_SIZE = 0x02000000  # Bitcoin Core's MAX_SIZE: larger lengths are rejected
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")


def compact_size(n: int) -> bytes:
    """Bitcoin's CompactSize (varint) encoding of ``n``."""
    if n < 0:
        raise ValueError("compact size must be non-negative")
    if n < 0xFD:
        return bytes((n,))
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    if n <= 0xFFFFFFFFFFFFFFFF:
        return b"\xff" + n.to_bytes(8, "little")
    raise ValueError("compact size too large")


def read_compact_size(data: bytes, offset: int = 0) -> tuple[int, int]:
    """Decode a canonical CompactSize at ``offset``: returns ``(value, new_offset)``."""
    reader = Reader(data, offset)
    value = reader.compact_size()
    return value, reader.pos


class Reader:
    """A cursor over bytes; short reads and non-canonical sizes raise BitcoinDecodeError."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = bytes(data)
        self.pos = pos

    def remaining(self) -> int:
        """Bytes left after the cursor."""
        return len(self.data) - self.pos

    def read(self, n: int) -> bytes:
        """The next ``n`` bytes."""
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise BitcoinDecodeError(
                f"unexpected end of data: need {n} bytes at offset {self.pos}, "
                f"have {len(self.data) - self.pos}"
            )
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u8(self) -> int:
        """One unsigned byte."""
        if self.pos >= len(self.data):
            raise BitcoinDecodeError(f"unexpected end of data at offset {self.pos}")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def u32(self) -> int:
        """Unsigned 32-bit little-endian."""
        value: int = _U32.unpack(self.read(4))[0]
        return value

    def i32(self) -> int:
        """Signed 32-bit little-endian."""
        value: int = _I32.unpack(self.read(4))[0]
        return value

    def i64(self) -> int:
        """Signed 64-bit little-endian."""
        value: int = _I64.unpack(self.read(8))[0]
        return value

    def compact_size(self, limit: int = MAX_COMPACT_SIZE) -> int:
        """A canonical CompactSize no larger than ``limit``."""
        first = self.u8()
        if first < 0xFD:
            value = first
        elif first == 0xFD:
            value = int.from_bytes(self.read(2), "little")
            minimum = 0xFD
        elif first == 0xFE:
            value = int.from_bytes(self.read(4), "little")
            minimum = 0x10000
        else:
            value = int.from_bytes(self.read(8), "little")
            minimum = 0x100000000
        if first >= 0xFD and value < minimum:
            raise BitcoinDecodeError(f"non-canonical compact size at offset {self.pos}")
        if value > limit:
            raise BitcoinDecodeError(f"compact size {value} exceeds limit {limit}")
        return value

    def var_bytes(self) -> bytes:
        """A CompactSize length followed by that many bytes."""
        n = self.compact_size()
        return self.read(n)


@dataclass(frozen=True, slots=True)
class OutPoint:
    """Reference to a previous output: txid (internal order) and output index."""

    txid: bytes
    vout: int

    def __post_init__(self) -> None:
        if len(self.txid) != 32:
            raise ValueError("outpoint txid must be 32 bytes")
        if not 0 <= self.vout <= 0xFFFFFFFF:
            raise ValueError("outpoint index out of u32 range")

    @classmethod
    def null(cls) -> OutPoint:
        """The coinbase's prevout (zero hash, index 0xffffffff)."""
        return cls(NULL_HASH, COINBASE_PREVOUT_INDEX)

    def is_null(self) -> bool:
        """True for the coinbase's prevout."""
        return self.txid == NULL_HASH and self.vout == COINBASE_PREVOUT_INDEX

    def serialize(self) -> bytes:
        """36 bytes: txid then little-endian index."""
        return self.txid + _U32.pack(self.vout)


@dataclass(frozen=True, slots=True)
class TxIn:
    """A transaction input; ``witness`` is the BIP141 stack (empty for non-witness)."""

    prevout: OutPoint
    script_sig: bytes = b""
    sequence: int = 0xFFFFFFFF
    witness: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.sequence <= 0xFFFFFFFF:
            raise ValueError("sequence out of u32 range")

    def serialize(self) -> bytes:
        """Serialized input without its witness."""
        return (
            self.prevout.serialize()
            + compact_size(len(self.script_sig))
            + self.script_sig
            + _U32.pack(self.sequence)
        )

    def serialize_witness(self) -> bytes:
        """The witness stack as it appears after the outputs."""
        parts = [compact_size(len(self.witness))]
        for item in self.witness:
            parts.append(compact_size(len(item)))
            parts.append(item)
        return b"".join(parts)


@dataclass(frozen=True, slots=True)
class TxOut:
    """A transaction output: value in satoshis and its script_pubkey."""

    value: int
    script_pubkey: bytes

    def __post_init__(self) -> None:
        if not -(1 << 63) <= self.value < (1 << 63):
            raise ValueError("output value out of i64 range")

    def serialize(self) -> bytes:
        """Serialized output."""
        return _I64.pack(self.value) + compact_size(len(self.script_pubkey)) + self.script_pubkey


def _parse_txin(r: Reader) -> TxIn:
    txid = r.read(32)
    vout = r.u32()
    script_sig = r.var_bytes()
    sequence = r.u32()
    return TxIn(OutPoint(txid, vout), script_sig, sequence)


def _parse_txout(r: Reader) -> TxOut:
    value = r.i64()
    return TxOut(value, r.var_bytes())


@dataclass(frozen=True, slots=True)
class Transaction:
    """A Bitcoin transaction. ``version`` is signed int32 as in Bitcoin Core."""

    version: int
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    locktime: int = 0
    _cache: dict[str, bytes] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if not -(1 << 31) <= self.version <= 0xFFFFFFFF:
            raise ValueError("version out of 32-bit range")
        if not 0 <= self.locktime <= 0xFFFFFFFF:
            raise ValueError("locktime out of u32 range")
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))

    # ---- serialization -------------------------------------------------------------------

    @property
    def has_witness(self) -> bool:
        """True if any input carries a witness stack."""
        return any(txin.witness for txin in self.inputs)

    def serialize(self, include_witness: bool = True) -> bytes:
        """Serialize; the BIP144 form (marker 0x00, flag 0x01) when a witness is present."""
        version = self.version & 0xFFFFFFFF
        with_witness = include_witness and self.has_witness
        parts = [_U32.pack(version)]
        if with_witness:
            parts.append(b"\x00\x01")
        parts.append(compact_size(len(self.inputs)))
        parts.extend(txin.serialize() for txin in self.inputs)
        parts.append(compact_size(len(self.outputs)))
        parts.extend(txout.serialize() for txout in self.outputs)
        if with_witness:
            parts.extend(txin.serialize_witness() for txin in self.inputs)
        parts.append(_U32.pack(self.locktime))
        return b"".join(parts)

    @classmethod
    def read_from(cls, r: Reader) -> Transaction:
        """Read one transaction at the reader's cursor (used for blocks)."""
        version = r.i32()
        n_in = r.compact_size()
        has_witness = False
        if n_in == 0:
            # BIP144: a zero input count is the marker; the flag must be non-zero.
            flag = r.u8()
            if flag != 1:
                raise BitcoinDecodeError(f"unknown witness flag {flag} (or a tx with no inputs)")
            has_witness = True
            n_in = r.compact_size()
        inputs = [_parse_txin(r) for _ in range(n_in)]
        n_out = r.compact_size()
        outputs = [_parse_txout(r) for _ in range(n_out)]
        if has_witness:
            with_witness = []
            for txin in inputs:
                stack = tuple(r.var_bytes() for _ in range(r.compact_size()))
                with_witness.append(TxIn(txin.prevout, txin.script_sig, txin.sequence, stack))
            if not any(txin.witness for txin in with_witness):
                raise BitcoinDecodeError("witness flag set but all witnesses are empty")
            inputs = with_witness
        locktime = r.u32()
        if n_in == 0:
            raise BitcoinDecodeError("transaction has no inputs")
        return cls(version, tuple(inputs), tuple(outputs), locktime)

    @classmethod
    def parse(cls, data: bytes) -> Transaction:
        """Parse exactly one serialized transaction (trailing bytes are an error)."""
        r = Reader(data)
        tx = cls.read_from(r)
        if r.remaining():
            raise BitcoinDecodeError(f"{r.remaining()} trailing bytes after transaction")
        return tx

    @classmethod
    def from_hex(cls, hex_str: str) -> Transaction:
        """Parse a hex-encoded transaction (as RPC returns it)."""
        try:
            data = bytes.fromhex(hex_str)
        except ValueError as exc:
            raise BitcoinDecodeError(f"invalid hex: {exc}") from None
        return cls.parse(data)

    def to_hex(self) -> str:
        """Hex of the full (witness) serialization."""
        return self.serialize().hex()

    # ---- identities and sizes ------------------------------------------------------------

    @property
    def txid(self) -> bytes:
        """Transaction id (internal order): sha256d of the non-witness serialization."""
        cached = self._cache.get("txid")
        if cached is None:
            cached = self._cache["txid"] = sha256d(self.serialize(include_witness=False))
        return cached

    @property
    def wtxid(self) -> bytes:
        """Witness transaction id (internal order); equals txid without a witness."""
        cached = self._cache.get("wtxid")
        if cached is None:
            cached = self._cache["wtxid"] = sha256d(self.serialize(include_witness=True))
        return cached

    @property
    def weight(self) -> int:
        """BIP141 weight: 3 x stripped size + total size."""
        stripped = len(self.serialize(include_witness=False))
        total = len(self.serialize(include_witness=True))
        return stripped * 3 + total

    @property
    def vsize(self) -> int:
        """Virtual size: weight / 4 rounded up."""
        return (self.weight + 3) // 4

    @property
    def is_coinbase(self) -> bool:
        """One input spending the null outpoint."""
        return len(self.inputs) == 1 and self.inputs[0].prevout.is_null()


def txids(transactions: Sequence[Transaction]) -> list[bytes]:
    """The txids of ``transactions`` in order."""
    return [tx.txid for tx in transactions]
