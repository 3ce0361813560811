"""Hypothesis: every message class round-trips; any chunking of a stream gives the same messages.

Strategies are derived from each class's wire schema (``stratumv2.protocol.schema``), so a new
message or field is covered without touching this file.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratumv2 import protocol as p
from stratumv2.protocol import types as t

# explicit per-test settings (a global profile would leak into other folders' tests)
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def wire_strategy(wire: t.WireType) -> st.SearchStrategy[Any]:
    if isinstance(wire, t.UIntIn):
        return st.sampled_from(sorted(wire.allowed))
    if isinstance(wire, t.UInt):
        return st.integers(0, wire.max_value)
    if isinstance(wire, t.Bool):
        return st.booleans()
    if isinstance(wire, t.F32):
        return st.floats(width=32, allow_nan=False)
    if isinstance(wire, t.FixedBytes):
        assert wire.size is not None
        return st.binary(min_size=wire.size, max_size=wire.size)
    if isinstance(wire, t.VarBytes):
        return st.one_of(
            st.binary(max_size=min(wire.max_len, 64)),
            st.just(b"\xab" * min(wire.max_len, 300)),  # at (or near) the limit
        )
    if isinstance(wire, t.Str0_255):
        return st.one_of(st.text(max_size=60), st.just("é" * 127 + "x"))  # 255 UTF-8 bytes
    if isinstance(wire, t.Seq):
        return st.lists(wire_strategy(wire.elem), max_size=6).map(tuple)
    if isinstance(wire, t.Option):
        return st.one_of(st.none(), wire_strategy(wire.elem))
    raise AssertionError(f"no strategy for {wire!r}")


def message_strategy(cls: type[p.Message], tlv: bool = True) -> st.SearchStrategy[p.Message]:
    fields = [wire_strategy(wire) for _, wire in p.schema(cls)]
    tlv_data = st.binary(max_size=24) if tlv else st.just(b"")
    return st.builds(cls, *fields, tlv_data=tlv_data)


ANY_MESSAGE = st.one_of([message_strategy(c) for c in p.registered_classes()])


@pytest.mark.parametrize("cls", p.registered_classes(), ids=lambda c: c.__name__)
@given(data=st.data())
@FAST
def test_round_trip(cls: type[p.Message], data: st.DataObject) -> None:
    message = data.draw(message_strategy(cls))
    frame = p.encode_frame(message)
    assert p.decode_frame(frame) == message
    header = p.decode_header(frame[: p.HEADER_SIZE])
    assert (header.msg_type, header.extension_type) == (cls.MSG_TYPE, cls.EXTENSION_TYPE)
    assert header.channel_msg is cls.CHANNEL_MSG
    assert header.length == len(frame) - p.HEADER_SIZE
    payload = p.encode_payload(message)
    assert payload == frame[p.HEADER_SIZE :]
    assert p.decode_payload(header, payload) == message


@given(
    messages=st.lists(ANY_MESSAGE, max_size=8),
    cuts=st.lists(st.integers(0, 10_000), max_size=12),
)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_chunking_gives_the_same_messages(messages: list[p.Message], cuts: list[int]) -> None:
    frames = [p.encode_frame(m) for m in messages]
    stream = b"".join(frames)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    decoder = p.FrameDecoder()
    out: list[p.Message] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    assert out == [p.decode_frame(f) for f in frames] == messages
    assert decoder.buffered == 0
