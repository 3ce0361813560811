"""Fuzz: 100,000 random and mutated inputs per run against decode_frame and again against
FrameDecoder; only ProtocolError may come out.

Mutations of valid frames (bit flips, byte overwrites, truncation, extension, length-field and
msg_type changes, splices) plus pure random bytes, against ``decode_frame``, ``decode_payload``
and ``FrameDecoder``. A seeded ``random.Random`` keeps runs reproducible.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

from stratumv2 import protocol as p
from stratumv2.protocol import types as t

DECODE_INPUTS = 100_000
STREAM_INPUTS = 3_000


def random_value(rng: random.Random, wire: t.WireType) -> Any:
    if isinstance(wire, t.UIntIn):
        return rng.choice(sorted(wire.allowed))
    if isinstance(wire, t.UInt):
        return rng.choice([0, 1, wire.max_value, rng.randint(0, wire.max_value)])
    if isinstance(wire, t.Bool):
        return rng.random() < 0.5
    if isinstance(wire, t.F32):
        return rng.choice([0.0, 1.0, 2.0**40])
    if isinstance(wire, t.FixedBytes):
        return rng.randbytes(wire.size or 0)
    if isinstance(wire, t.VarBytes):
        return rng.randbytes(rng.choice([0, 1, 4, 32]) if wire.max_len >= 32 else 0)
    if isinstance(wire, t.Str0_255):
        return rng.choice(["", "a", "user.worker", "é" * 3])
    if isinstance(wire, t.Seq):
        return tuple(random_value(rng, wire.elem) for _ in range(rng.randint(0, 3)))
    if isinstance(wire, t.Option):
        return None if rng.random() < 0.5 else random_value(rng, wire.elem)
    raise AssertionError(wire)


def valid_frames(rng: random.Random) -> list[bytes]:
    frames = []
    for cls in p.registered_classes():
        for _ in range(4):
            values = [random_value(rng, wire) for _, wire in p.schema(cls)]
            frames.append(p.encode_frame(cls(*values)))
    return frames


def mutate(rng: random.Random, frame: bytes, others: list[bytes]) -> bytes:
    data = bytearray(frame)
    kind = rng.randrange(9)
    if kind == 0 and data:  # bit flips
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    elif kind == 1 and data:  # overwrite a byte (often a length or count prefix)
        data[rng.randrange(len(data))] = rng.choice([0, 1, 2, 0x20, 0x21, 0x7F, 0xFE, 0xFF])
    elif kind == 2:  # truncate payload, keep header
        data = data[: rng.randrange(len(data) + 1)]
    elif kind == 3:  # extend with random bytes, with or without fixing the length field
        data += rng.randbytes(rng.randint(1, 40))
        if rng.random() < 0.7:
            data[3:6] = (len(data) - 6).to_bytes(3, "little")
    elif kind == 4:  # change the length field
        data[3:6] = rng.randrange(1 << 24).to_bytes(3, "little")
    elif kind == 5:  # cut the payload and fix the length field: truncated field errors
        keep = rng.randrange(6, len(data) + 1)
        data = data[:keep]
        data[3:6] = (keep - 6).to_bytes(3, "little")
    elif kind == 6:  # other msg_type / extension
        data[2] = rng.randrange(256)
        if rng.random() < 0.3:
            data[0:2] = rng.choice([0, 1, 2, 0x8000, 0x8001, 0xFFFF]).to_bytes(2, "little")
    elif kind == 7:  # splice header of one frame onto the payload of another
        other = rng.choice(others)
        data = data[:6] + other[6:]
        if rng.random() < 0.5:
            data[3:6] = (len(data) - 6).to_bytes(3, "little")
    else:  # pure random
        data = bytearray(rng.randbytes(rng.randint(0, 80)))
        if rng.random() < 0.5 and len(data) >= 6:
            data[3:6] = (len(data) - 6).to_bytes(3, "little")
    return bytes(data)


def test_decode_frame_only_raises_protocol_error() -> None:
    rng = random.Random(0x5732)
    frames = valid_frames(rng)
    decoded = failed = 0
    for _ in range(DECODE_INPUTS):
        data = mutate(rng, rng.choice(frames), frames)
        try:
            message = p.decode_frame(data)
        except p.ProtocolError:
            failed += 1
            continue
        decoded += 1
        # whatever decodes re-encodes, and that encoding is a fixed point (bytes compared:
        # F32 fields may hold NaN, which never compares equal)
        again = p.encode_frame(message)
        assert p.encode_frame(p.decode_frame(again)) == again
    assert decoded > 5_000 and failed > 30_000, (decoded, failed)


def test_decode_payload_only_raises_protocol_error() -> None:
    rng = random.Random(7)
    frames = valid_frames(rng)
    for _ in range(20_000):
        data = mutate(rng, rng.choice(frames), frames)
        if len(data) < 6:
            continue
        header = p.decode_header(data[:6])
        with contextlib.suppress(p.ProtocolError):
            p.decode_payload(header, data[6:])


def _feed_in_chunks(rng: random.Random, decoder: p.FrameDecoder, data: bytes) -> list[p.Message]:
    messages: list[p.Message] = []
    pos = 0
    while pos < len(data):
        step = rng.randint(1, 64)
        messages += decoder.feed(data[pos : pos + step])
        pos += step
    return messages


def test_frame_decoder_only_raises_protocol_error() -> None:
    """100,000 random/mutated inputs, each fed in random chunks to a FrameDecoder (after a
    valid frame, sometimes): only ProtocolError comes out, and whatever ``decode_frame``
    accepts as one whole frame the stream decoder decodes to the same message."""
    rng = random.Random(42)
    frames = valid_frames(rng)
    agreed = 0
    for _ in range(DECODE_INPUTS):
        data = mutate(rng, rng.choice(frames), frames)
        lead = rng.choice(frames) if rng.random() < 0.3 else b""
        try:
            whole: bytes | None = p.encode_frame(p.decode_frame(data))
        except p.ProtocolError:
            whole = None
        decoder = p.FrameDecoder(max_frame_size=rng.choice([64, 1024, p.MAX_FRAME_SIZE]))
        try:
            streamed = _feed_in_chunks(rng, decoder, lead + data)
        except p.ProtocolError:
            if whole is not None:  # only the size limit may refuse what decode_frame takes
                assert len(data) > decoder.max_frame_size or len(lead) > decoder.max_frame_size
            continue
        if whole is not None:
            assert decoder.buffered == 0
            assert [p.encode_frame(m) for m in streamed] == ([lead] if lead else []) + [whole]
            agreed += 1
    assert agreed > 5_000, agreed


def test_frame_decoder_mixed_streams() -> None:
    """Streams of several valid and mutated frames in random chunks: only ProtocolError."""
    rng = random.Random(43)
    frames = valid_frames(rng)
    for _ in range(STREAM_INPUTS):
        parts = [
            mutate(rng, f, frames) if rng.random() < 0.3 else f
            for f in rng.choices(frames, k=rng.randint(1, 6))
        ]
        decoder = p.FrameDecoder(max_frame_size=rng.choice([64, 1024, p.MAX_FRAME_SIZE]))
        with contextlib.suppress(p.ProtocolError):
            _feed_in_chunks(rng, decoder, b"".join(parts))
