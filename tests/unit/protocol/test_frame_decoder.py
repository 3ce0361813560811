"""FrameDecoder: whole, byte-at-a-time, with trailing partial data, limits, failure state."""

from __future__ import annotations

import pytest

from stratumv2 import protocol as p

MESSAGES: list[p.Message] = [
    p.SetupConnectionSuccess(2, 0),
    p.SubmitSharesStandard(1, 7, 2, 0x12345678, 0x66000000, 0x20000000),
    p.NewMiningJob(1, 5, None, 0x20000000, bytes(range(32))),
    p.RequestTransactionData(3),
    p.RequestExtensions(1, (2,)),
    p.SetTarget(1, b"\xff" * 32),
]
STREAM = b"".join(p.encode_frame(m) for m in MESSAGES)


def test_whole_stream_at_once() -> None:
    assert p.FrameDecoder().feed(STREAM) == MESSAGES


def test_one_byte_at_a_time() -> None:
    decoder = p.FrameDecoder()
    out: list[p.Message] = []
    for i in range(len(STREAM)):
        out += decoder.feed(STREAM[i : i + 1])
    assert out == MESSAGES
    assert decoder.buffered == 0


def test_partial_frame_is_kept() -> None:
    decoder = p.FrameDecoder()
    assert decoder.feed(STREAM[:-3]) == MESSAGES[:-1]
    assert decoder.buffered > 0
    assert decoder.feed(STREAM[-3:]) == MESSAGES[-1:]
    assert decoder.feed(b"") == []


def test_empty_payload_frame() -> None:
    # A zero-length payload of a message with fields is a truncation error, not a hang.
    decoder = p.FrameDecoder()
    with pytest.raises(p.ProtocolError):
        decoder.feed(bytes.fromhex("000071000000"))


def test_frame_too_large_is_refused_from_the_header_alone() -> None:
    decoder = p.FrameDecoder(max_frame_size=100)
    header = p.encode_header(0, 0x74, 95, False)
    with pytest.raises(p.FrameTooLargeError):
        decoder.feed(header)  # no payload bytes needed to know
    ok = p.FrameDecoder(max_frame_size=len(p.encode_frame(MESSAGES[2])))
    assert ok.feed(p.encode_frame(MESSAGES[2])) == [MESSAGES[2]]


def test_failure_is_sticky() -> None:
    decoder = p.FrameDecoder()
    with pytest.raises(p.UnknownMessageError):
        decoder.feed(bytes.fromhex("00801e000000"))
    with pytest.raises(p.UnknownMessageError):
        decoder.feed(p.encode_frame(MESSAGES[0]))


def test_max_frame_size_bounds() -> None:
    with pytest.raises(ValueError):
        p.FrameDecoder(max_frame_size=5)
    with pytest.raises(ValueError):
        p.FrameDecoder(max_frame_size=p.MAX_FRAME_SIZE + 1)


def test_large_frame_in_pieces() -> None:
    txs = tuple(bytes([i]) * 70_000 for i in range(20))
    msg = p.RequestTransactionDataSuccess(9, bytes(32), txs)
    data = p.encode_frame(msg)
    decoder = p.FrameDecoder()
    out: list[p.Message] = []
    for i in range(0, len(data), 65_519):
        out += decoder.feed(data[i : i + 65_519])
    assert out == [msg]
