"""The binary types of digest 01 §1 on their own: sizes, little-endian order, limits."""

from __future__ import annotations

import pytest

from stratumv2.protocol import types as t


@pytest.mark.parametrize(
    ("wire", "value", "hex_text"),
    [
        (t.U8, 0xAB, "ab"),
        (t.U16, 0x1234, "3412"),
        (t.U24, 0x123456, "563412"),
        (t.U32, 0x12345678, "78563412"),
        (t.U64, 0x0102030405060708, "0807060504030201"),
        (t.BOOL, True, "01"),
        (t.BOOL, False, "00"),
        (t.F32_T, 1.0, "0000803f"),
        (t.U256, bytes(range(32)), bytes(range(32)).hex()),
        (t.PUBKEY, b"\x02" * 32, "02" * 32),
        (t.SIGNATURE, b"\x03" * 64, "03" * 64),
        (t.MAC, b"\x04" * 16, "04" * 16),
        (t.Bytes(3), b"abc", "616263"),
        (t.STR0_255, "abc", "03616263"),
        (t.STR0_255, "é", "02c3a9"),
        (t.B0_32, b"\x01\x02", "020102"),
        (t.B0_255, b"\xff" * 3, "03ffffff"),
        (t.B0_64K, b"\x01\x02", "02000102"),
        (t.B0_16M, b"\x01\x02", "0200000102"),
        (t.SEQ0_255(t.U256), (b"\x05" * 32,), "01" + "05" * 32),
        (t.SEQ0_64K(t.U16), (1, 0x0203), "020001000302"),
        (t.SEQ0_64K(t.B0_16M), (b"\xaa",), "0100010000aa"),
        (t.SEQ0_255(t.STR0_255), ("a", ""), "02016100"),
        (t.OPTION(t.U32), None, "00"),
        (t.OPTION(t.U32), 5, "0105000000"),
        (t.OPTION(t.B0_32), b"\x01", "010101"),
    ],
)
def test_write_and_read(wire: t.WireType, value: object, hex_text: str) -> None:
    raw = bytes.fromhex(hex_text)
    assert wire.write(value) == raw
    assert wire.read(raw + b"\xee", 0) == (value, len(raw))
    with pytest.raises(t.WireError):
        wire.read(raw[:-1], 0)


@pytest.mark.parametrize(
    ("wire", "value"),
    [
        (t.U8, 256),
        (t.U16, -1),
        (t.U24, 1 << 24),
        (t.U32, 1.5),
        (t.U64, 1 << 64),
        (t.BOOL, 1),
        (t.F32_T, "1"),
        (t.U256, bytes(31)),
        (t.SIGNATURE, bytes(65)),
        (t.STR0_255, "x" * 256),
        (t.STR0_255, b"x"),
        (t.B0_32, bytes(33)),
        (t.B0_255, bytes(256)),
        (t.B0_64K, bytes(65536)),
        (t.B0_32, "text"),
        (t.SEQ0_255(t.U8), (0,) * 256),
        (t.SEQ0_64K(t.U16), (70000,)),
        (t.SEQ0_64K(t.B0_16M), ("x",)),
        (t.SEQ0_255(t.U256), [bytes(32), bytes(33)]),
        (t.OPTION(t.U32), -1),
    ],
)
def test_write_refuses(wire: t.WireType, value: object) -> None:
    with pytest.raises(t.WireError):
        wire.write(value)


def test_read_limits() -> None:
    with pytest.raises(t.WireError, match="exceeds"):
        t.B0_32.read(bytes([33]) + bytes(33), 0)
    assert t.B0_255.read(bytes([255]) + bytes(255), 0)[1] == 256
    assert t.B0_64K.read(b"\xff\xff" + bytes(65535), 0)[1] == 65537
    with pytest.raises(t.WireError, match="OPTION"):
        t.OPTION(t.U32).read(b"\x02\x00\x00\x00\x00", 0)
    with pytest.raises(t.WireError, match="UTF-8"):
        t.STR0_255.read(b"\x01\xff", 0)
    assert t.BOOL.read(b"\xfe", 0) == (False, 1)  # only bit 0 counts (SRI)
    assert t.BOOL.read(b"\x81", 0) == (True, 1)
