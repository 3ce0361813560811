"""Encrypted frames: chunking, incremental decoding, limits, tampering (digest 01 §3)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratumv2.noise import CipherState, DecryptError, FrameTooLarge, NoiseError, NoiseTransport
from stratumv2.noise.transport import (
    ENCRYPTED_HEADER_SIZE,
    MAX_CHUNK_PLAINTEXT,
    encrypted_length,
)

K1, K2 = bytes([1]) * 32, bytes([2]) * 32


def _pair(max_payload: int = (1 << 24) - 1) -> tuple[NoiseTransport, NoiseTransport]:
    a = NoiseTransport(CipherState(K1), CipherState(K2), max_payload)
    b = NoiseTransport(CipherState(K2), CipherState(K1), max_payload)
    return a, b


def _header(length: int, msg_type: int = 0x15) -> bytes:
    return b"\x00\x00" + bytes([msg_type]) + length.to_bytes(3, "little")


@pytest.mark.parametrize(
    ("length", "wire"),
    [
        (0, 0),
        (1, 17),
        (MAX_CHUNK_PLAINTEXT, 65535),
        (MAX_CHUNK_PLAINTEXT + 1, 65535 + 17),
        (3 * MAX_CHUNK_PLAINTEXT, 3 * 65535),
    ],
)
def test_encrypted_length(length: int, wire: int) -> None:
    assert encrypted_length(length) == wire


@pytest.mark.parametrize(
    "length", [0, 1, 64, MAX_CHUNK_PLAINTEXT, MAX_CHUNK_PLAINTEXT + 1, 200_000]
)
def test_frame_roundtrip_and_size(length: int) -> None:
    a, b = _pair()
    payload = bytes(i % 251 for i in range(length))
    sealed = a.encrypt_frame(_header(length), payload)
    assert len(sealed) == ENCRYPTED_HEADER_SIZE + encrypted_length(length)
    # header n=0, then one nonce per chunk
    assert a.send.n == 1 + -(-length // MAX_CHUNK_PLAINTEXT)
    assert b.feed(sealed) == [(_header(length), payload)]
    assert b.buffered() == 0


def test_empty_payload_is_header_only() -> None:
    a, b = _pair()
    sealed = a.encrypt_frame(_header(0), b"")
    assert len(sealed) == 22
    assert b.feed(sealed) == [(_header(0), b"")]


def test_byte_at_a_time_and_trailing_data() -> None:
    a, b = _pair()
    frames = [(_header(n), bytes([n % 256]) * n) for n in (0, 5, 70_000, 3)]
    wire = b"".join(a.encrypt_frame(h, p) for h, p in frames)
    got: list[tuple[bytes, bytes]] = []
    for i in range(0, len(wire) - 10):
        got.extend(b.feed(wire[i : i + 1]))
    assert got == frames[:3]
    assert b.feed(wire[len(wire) - 10 :]) == frames[3:]


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 70_000), min_size=1, max_size=4),
    cuts=st.lists(st.integers(1, 40_000), max_size=30),
)
def test_any_chunking_gives_the_same_frames(sizes: list[int], cuts: list[int]) -> None:
    a, b = _pair()
    frames = [(_header(n), bytes([n % 256]) * n) for n in sizes]
    wire = b"".join(a.encrypt_frame(h, p) for h, p in frames)
    got: list[tuple[bytes, bytes]] = []
    pos = 0
    for cut in cuts:
        got.extend(b.feed(wire[pos : pos + cut]))
        pos += cut
    got.extend(b.feed(wire[pos:]))
    assert got == frames


@pytest.mark.parametrize("offset", [0, 21, 22, 40])
def test_tampered_frame_fails_and_poisons(offset: int) -> None:
    a, b = _pair()
    sealed = bytearray(a.encrypt_frame(_header(10), bytes(10)))
    sealed[offset] ^= 0x80
    with pytest.raises(DecryptError):
        b.feed(bytes(sealed))
    with pytest.raises(NoiseError):
        b.feed(b"more")


def test_frame_over_maximum_is_refused_before_payload() -> None:
    a, b = _pair(max_payload=1000)
    sealed = a.encrypt_frame(_header(1001), bytes(1001))
    with pytest.raises(FrameTooLarge):
        b.feed(sealed[:22])
    a, b = _pair(max_payload=1000)
    assert b.feed(a.encrypt_frame(_header(1000), bytes(1000)))[0][1] == bytes(1000)


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=0, max_size=300))
def test_random_bytes_raise_noise_error_only(data: bytes) -> None:
    _, b = _pair(max_payload=1 << 20)
    with contextlib.suppress(NoiseError):
        b.feed(data)


def test_transport_nonce_exhaustion() -> None:
    from stratumv2.noise import NonceExhausted
    from stratumv2.noise.cipher import MAX_NONCE

    a = NoiseTransport(CipherState(K1, n=MAX_NONCE - 1), CipherState(K2))
    with pytest.raises(NonceExhausted):
        a.encrypt_frame(_header(3), b"abc")
    a.encrypt_frame(_header(0), b"")  # one nonce left: a header-only frame fits
    with pytest.raises(NonceExhausted):
        a.encrypt_frame(_header(0), b"")
    sender = NoiseTransport(CipherState(K2, n=MAX_NONCE - 1), CipherState(K1))
    receiver = NoiseTransport(CipherState(K1), CipherState(K2, n=MAX_NONCE - 1))
    wire = sender.encrypt_frame(_header(0), b"")
    assert receiver.feed(wire) == [(_header(0), b"")]
    with pytest.raises(NonceExhausted):
        receiver.feed(bytes(22))
