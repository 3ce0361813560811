"""SV2 binary data types (spec 3.1; digest 01 §1) as wire-type descriptors.

Each descriptor knows its size, its limits, how to read itself from a buffer and how to write a
Python value. Message classes attach a descriptor to every field with ``typing.Annotated`` (the
aliases at the bottom), and the codec compiles one encoder/decoder per class from them.

Python value types: integers ``int``, BOOL ``bool``, F32 ``float``, STR0_255 ``str`` (UTF-8),
every byte type (B0_*, U256, PUBKEY, SIGNATURE, fixed arrays) ``bytes``, SEQ0_* ``tuple``,
OPTION[T] ``T | None``. Everything multi-byte is little-endian.
"""

from __future__ import annotations

import struct
from typing import Annotated, Any, TypeAlias


class WireError(Exception):
    """Internal: why a value could not be read or written (the codec adds message and field)."""


class WireType:
    """Base of every wire-type descriptor."""

    name: str = "?"
    #: size on the wire when fixed, else None
    size: int | None = None
    #: struct format codes when the type maps onto ``struct`` (fixed-size types only)
    enc_fmt: str | None = None
    dec_fmt: str | None = None

    def read(self, buf: bytes, pos: int) -> tuple[Any, int]:
        """Value at ``buf[pos:]`` and the position after it; raises WireError."""
        raise NotImplementedError

    def write(self, value: Any) -> bytes:
        """Wire bytes of ``value``; raises WireError if it does not fit the type."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


def _need(buf: bytes, end: int) -> None:
    if end > len(buf):
        raise WireError(f"truncated: needs {end} bytes, payload has {len(buf)}")


class UInt(WireType):
    """Unsigned little-endian integer of 1, 2, 3, 4 or 8 bytes."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        self.max_value = (1 << (8 * size)) - 1
        code = {1: "B", 2: "H", 4: "I", 8: "Q"}.get(size)
        self.enc_fmt = self.dec_fmt = code

    def read(self, buf: bytes, pos: int) -> tuple[int, int]:
        end = pos + self.size  # type: ignore[operator]
        _need(buf, end)
        return int.from_bytes(buf[pos:end], "little"), end

    def write(self, value: Any) -> bytes:
        if not isinstance(value, int):
            raise WireError(f"{self.name} needs an int, got {type(value).__name__}")
        if not 0 <= value <= self.max_value:
            raise WireError(f"{value} out of range for {self.name} (0..{self.max_value})")
        return value.to_bytes(self.size, "little")  # type: ignore[arg-type]


class UIntIn(UInt):
    """An unsigned integer restricted to a set of values (e.g. SetupConnection.protocol)."""

    def __init__(self, base: UInt, allowed: frozenset[int]) -> None:
        super().__init__(base.name, base.size)  # type: ignore[arg-type]
        self.allowed = allowed
        self.enc_fmt = self.dec_fmt = None

    def read(self, buf: bytes, pos: int) -> tuple[int, int]:
        value, end = super().read(buf, pos)
        if value not in self.allowed:
            raise WireError(f"value {value} not one of {sorted(self.allowed)}")
        return value, end

    def write(self, value: Any) -> bytes:
        if value not in self.allowed:
            raise WireError(f"value {value!r} not one of {sorted(self.allowed)}")
        return super().write(value)


class Bool(WireType):
    """BOOL: one byte; only bit 0 counts when reading (as SRI); written as 0 or 1."""

    name = "BOOL"
    size = 1
    enc_fmt = "?"
    dec_fmt = "B"

    def read(self, buf: bytes, pos: int) -> tuple[bool, int]:
        _need(buf, pos + 1)
        return (buf[pos] & 1) == 1, pos + 1

    def write(self, value: Any) -> bytes:
        if not isinstance(value, bool):
            raise WireError(f"BOOL needs a bool, got {type(value).__name__}")
        return b"\x01" if value else b"\x00"


_F32 = struct.Struct("<f")


class F32(WireType):
    """F32: IEEE-754 binary32, little-endian."""

    name = "F32"
    size = 4
    enc_fmt = dec_fmt = "f"

    def read(self, buf: bytes, pos: int) -> tuple[float, int]:
        _need(buf, pos + 4)
        return _F32.unpack_from(buf, pos)[0], pos + 4

    def write(self, value: Any) -> bytes:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise WireError(f"F32 needs a float, got {type(value).__name__}")
        try:
            return _F32.pack(value)
        except (OverflowError, struct.error) as exc:
            raise WireError(f"{value!r} does not fit F32") from exc


class FixedBytes(WireType):
    """A byte array of fixed length: U256, PUBKEY, SIGNATURE, MAC, BYTES[n]."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        self.enc_fmt = self.dec_fmt = f"{size}s"

    def read(self, buf: bytes, pos: int) -> tuple[bytes, int]:
        end = pos + self.size  # type: ignore[operator]
        _need(buf, end)
        return buf[pos:end], end

    def write(self, value: Any) -> bytes:
        if not isinstance(value, bytes):
            raise WireError(f"{self.name} needs bytes, got {type(value).__name__}")
        if len(value) != self.size:
            raise WireError(f"{self.name} needs exactly {self.size} bytes, got {len(value)}")
        return value


class VarBytes(WireType):
    """B0_32, B0_255, B0_64K, B0_16M: a little-endian byte-length prefix, then the bytes."""

    def __init__(self, name: str, prefix_size: int, max_len: int) -> None:
        self.name = name
        self.prefix_size = prefix_size
        self.max_len = max_len

    def read(self, buf: bytes, pos: int) -> tuple[bytes, int]:
        start = pos + self.prefix_size
        _need(buf, start)
        length = int.from_bytes(buf[pos:start], "little")
        if length > self.max_len:
            raise WireError(f"length {length} exceeds {self.name} limit {self.max_len}")
        end = start + length
        _need(buf, end)
        return buf[start:end], end

    def write(self, value: Any) -> bytes:
        if not isinstance(value, bytes):
            raise WireError(f"{self.name} needs bytes, got {type(value).__name__}")
        if len(value) > self.max_len:
            raise WireError(f"{len(value)} bytes exceed {self.name} limit {self.max_len}")
        return len(value).to_bytes(self.prefix_size, "little") + value


class Str0_255(WireType):
    """STR0_255: U8 byte length then UTF-8 bytes (invalid UTF-8 is refused when reading)."""

    name = "STR0_255"
    max_len = 255

    def read(self, buf: bytes, pos: int) -> tuple[str, int]:
        _need(buf, pos + 1)
        end = pos + 1 + buf[pos]
        _need(buf, end)
        try:
            return buf[pos + 1 : end].decode("utf-8"), end
        except UnicodeDecodeError as exc:
            raise WireError(f"invalid UTF-8: {exc.reason}") from exc

    def write(self, value: Any) -> bytes:
        if not isinstance(value, str):
            raise WireError(f"STR0_255 needs a str, got {type(value).__name__}")
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise WireError("not encodable as UTF-8") from exc
        if len(raw) > 255:
            raise WireError(f"{len(raw)} UTF-8 bytes exceed STR0_255 limit 255")
        return bytes((len(raw),)) + raw


class Seq(WireType):
    """SEQ0_255[T] / SEQ0_64K[T]: an element COUNT (U8 / U16 LE), then the elements."""

    def __init__(self, name: str, count_size: int, elem: WireType) -> None:
        self.name = f"{name}[{elem.name}]"
        self.count_size = count_size
        self.max_count = (1 << (8 * count_size)) - 1
        self.elem = elem

    def read(self, buf: bytes, pos: int) -> tuple[tuple[Any, ...], int]:
        start = pos + self.count_size
        _need(buf, start)
        count = int.from_bytes(buf[pos:start], "little")
        elem = self.elem
        if isinstance(elem, FixedBytes):
            size = elem.size or 0
            end = start + count * size
            _need(buf, end)
            return tuple([buf[i : i + size] for i in range(start, end, size)]), end
        if isinstance(elem, UInt) and elem.dec_fmt is not None:
            end = start + count * (elem.size or 0)
            _need(buf, end)
            return struct.unpack_from(f"<{count}{elem.dec_fmt}", buf, start), end
        items: list[Any] = []
        pos = start
        if isinstance(elem, VarBytes):
            prefix, max_len, total = elem.prefix_size, elem.max_len, len(buf)
            for _ in range(count):
                first = pos + prefix
                if first > total:
                    raise WireError(f"truncated in element {len(items)}")
                length = int.from_bytes(buf[pos:first], "little")
                pos = first + length
                if pos > total or length > max_len:
                    raise WireError(f"element {len(items)}: bad length {length}")
                items.append(buf[first:pos])
            return tuple(items), pos
        for _ in range(count):
            item, pos = elem.read(buf, pos)
            items.append(item)
        return tuple(items), pos

    def write(self, value: Any) -> bytes:
        if not isinstance(value, tuple | list):
            raise WireError(f"{self.name} needs a tuple, got {type(value).__name__}")
        count = len(value)
        if count > self.max_count:
            raise WireError(f"{count} elements exceed {self.name} limit {self.max_count}")
        head = count.to_bytes(self.count_size, "little")
        elem = self.elem
        try:
            if isinstance(elem, FixedBytes):
                if count and (
                    min(map(len, value)) != elem.size or max(map(len, value)) != elem.size
                ):
                    raise WireError(f"every element must be {elem.size} bytes")
                return head + b"".join(value)
            if isinstance(elem, UInt) and elem.enc_fmt is not None:
                return head + struct.pack(f"<{count}{elem.enc_fmt}", *value)
            if isinstance(elem, VarBytes):
                prefix, max_len = elem.prefix_size, elem.max_len
                if count and max(map(len, value)) > max_len:
                    raise WireError(f"an element exceeds {elem.name} limit {max_len}")
                return b"".join([head, *[len(x).to_bytes(prefix, "little") + x for x in value]])
        except (TypeError, ValueError, OverflowError, struct.error) as exc:
            raise WireError(f"bad element: {exc}") from None
        parts = [head]
        for index, item in enumerate(value):
            try:
                parts.append(elem.write(item))
            except WireError as exc:
                raise WireError(f"element {index}: {exc}") from None
        return b"".join(parts)


class Option(WireType):
    """OPTION[T]: like SEQ0_1 — 0x00 is None, 0x01 then T is a value; a count above 1 fails."""

    def __init__(self, elem: WireType) -> None:
        self.name = f"OPTION[{elem.name}]"
        self.elem = elem

    def read(self, buf: bytes, pos: int) -> tuple[Any, int]:
        _need(buf, pos + 1)
        flag = buf[pos]
        if flag == 0:
            return None, pos + 1
        if flag != 1:
            raise WireError(f"OPTION has {flag} elements (at most 1)")
        return self.elem.read(buf, pos + 1)

    def write(self, value: Any) -> bytes:
        if value is None:
            return b"\x00"
        return b"\x01" + self.elem.write(value)


# The descriptors (spec names).
U8 = UInt("U8", 1)
U16 = UInt("U16", 2)
U24 = UInt("U24", 3)
U32 = UInt("U32", 4)
U64 = UInt("U64", 8)
BOOL = Bool()
F32_T = F32()
U256 = FixedBytes("U256", 32)
PUBKEY = FixedBytes("PUBKEY", 32)
SIGNATURE = FixedBytes("SIGNATURE", 64)
MAC = FixedBytes("MAC", 16)
STR0_255 = Str0_255()
B0_32 = VarBytes("B0_32", 1, 32)
B0_255 = VarBytes("B0_255", 1, 255)
B0_64K = VarBytes("B0_64K", 2, 0xFFFF)
B0_16M = VarBytes("B0_16M", 3, 0xFFFFFF)


def Bytes(size: int) -> FixedBytes:
    """BYTES[size]: a fixed-length byte array."""
    return FixedBytes(f"BYTES[{size}]", size)


def SEQ0_255(elem: WireType) -> Seq:
    """SEQ0_255[elem]."""
    return Seq("SEQ0_255", 1, elem)


def SEQ0_64K(elem: WireType) -> Seq:
    """SEQ0_64K[elem]."""
    return Seq("SEQ0_64K", 2, elem)


def OPTION(elem: WireType) -> Option:
    """OPTION[elem]."""
    return Option(elem)


# Field annotations used by the message classes.
u8: TypeAlias = Annotated[int, U8]
u16: TypeAlias = Annotated[int, U16]
u24: TypeAlias = Annotated[int, U24]
u32: TypeAlias = Annotated[int, U32]
u64: TypeAlias = Annotated[int, U64]
boolean: TypeAlias = Annotated[bool, BOOL]
f32: TypeAlias = Annotated[float, F32_T]
u256: TypeAlias = Annotated[bytes, U256]
pubkey: TypeAlias = Annotated[bytes, PUBKEY]
signature: TypeAlias = Annotated[bytes, SIGNATURE]
str0_255: TypeAlias = Annotated[str, STR0_255]
b0_32: TypeAlias = Annotated[bytes, B0_32]
b0_255: TypeAlias = Annotated[bytes, B0_255]
b0_64k: TypeAlias = Annotated[bytes, B0_64K]
b0_16m: TypeAlias = Annotated[bytes, B0_16M]
seq0_255_u256: TypeAlias = Annotated[tuple[bytes, ...], SEQ0_255(U256)]
seq0_64k_u16: TypeAlias = Annotated[tuple[int, ...], SEQ0_64K(U16)]
seq0_64k_u32: TypeAlias = Annotated[tuple[int, ...], SEQ0_64K(U32)]
seq0_64k_u256: TypeAlias = Annotated[tuple[bytes, ...], SEQ0_64K(U256)]
seq0_64k_b0_16m: TypeAlias = Annotated[tuple[bytes, ...], SEQ0_64K(B0_16M)]
option_u32: TypeAlias = Annotated[int | None, OPTION(U32)]
sv2_protocol: TypeAlias = Annotated[int, UIntIn(U8, frozenset({0, 1, 2}))]
