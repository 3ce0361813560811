"""Extranonce allocation: unique prefixes, sizes, reuse after a tip, exhaustion."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratumv2.mining.errors import ChannelOpenError, ExtranonceExhausted
from stratumv2.mining.extranonce import ExtranonceAllocator


def _spaces_overlap(a: bytes, b: bytes) -> bool:
    """Two fixed prefixes share search space iff one is a prefix of the other."""
    return a.startswith(b) or b.startswith(a)


def test_sri_like_layout() -> None:
    alloc = ExtranonceAllocator(20, static_prefix=b"\x07", index_size=3)
    ext = alloc.allocate_extended(8)
    assert ext.prefix == b"\x07\x00\x00\x00" and ext.size == 16 and ext.full_size == 20
    std = alloc.allocate_standard()
    assert std.prefix == b"\x07\x00\x00\x01" + bytes(16) and std.size == 0
    assert std.full_size == 20


def test_min_extranonce_size_too_large() -> None:
    alloc = ExtranonceAllocator(20, index_size=4)
    assert alloc.allocate_extended(16).size == 16
    with pytest.raises(ChannelOpenError) as info:
        alloc.allocate_extended(17)
    assert info.value.error_code == "min-extranonce-size-too-large"
    assert alloc.live_count == 1


def test_layout_must_fit() -> None:
    with pytest.raises(ValueError):
        ExtranonceAllocator(33)
    with pytest.raises(ValueError):
        ExtranonceAllocator(4, static_prefix=b"ab", index_size=3)


def test_upstream_prefix_is_kept() -> None:
    alloc = ExtranonceAllocator(12, upstream_prefix=b"\xaa\xbb", index_size=2)
    a = alloc.allocate_extended(4)
    assert a.prefix == b"\xaa\xbb\x00\x00" and a.size == 8


@settings(max_examples=5, deadline=None)
@given(static=st.binary(max_size=4), extended_every=st.integers(1, 5))
def test_ten_thousand_channels_never_overlap(static: bytes, extended_every: int) -> None:
    alloc = ExtranonceAllocator(20, static_prefix=static, index_size=2)
    prefixes: list[bytes] = []
    for i in range(10_000):
        if i % extended_every == 0:
            prefixes.append(alloc.allocate_extended(1).prefix)
        else:
            # A standard channel's search space is fixed by its index part only.
            prefixes.append(alloc.allocate_standard().prefix[: len(static) + 2])
    assert len(set(prefixes)) == 10_000
    ordered = sorted(prefixes)
    assert not any(_spaces_overlap(a, b) for a, b in itertools.pairwise(ordered))


def test_freed_prefix_reused_only_after_new_tip() -> None:
    alloc = ExtranonceAllocator(8, index_size=1)
    held = [alloc.allocate_extended() for _ in range(256)]
    with pytest.raises(ExtranonceExhausted) as info:
        alloc.allocate_extended()
    assert info.value.error_code == "channel-capacity-exhausted"
    alloc.free(held[10])
    alloc.free(held[3])
    with pytest.raises(ExtranonceExhausted):  # quarantined until the tip changes
        alloc.allocate_standard()
    alloc.on_new_prev_hash()
    again = [alloc.allocate_extended(), alloc.allocate_extended()]
    assert [a.prefix for a in again] == [held[10].prefix, held[3].prefix]
    live = {a.prefix for a in held if a.index not in (10, 3)} | {a.prefix for a in again}
    assert len(live) == 256 == alloc.live_count


def test_double_free_is_a_bug() -> None:
    alloc = ExtranonceAllocator(8, index_size=1)
    a = alloc.allocate_extended()
    alloc.free(a)
    with pytest.raises(ValueError):
        alloc.free(a)


@settings(max_examples=30, deadline=None)
@given(ops=st.lists(st.sampled_from(["alloc", "free", "tip"]), max_size=400))
def test_live_prefixes_always_distinct(ops: list[str]) -> None:
    alloc = ExtranonceAllocator(6, index_size=1)
    live = []
    for op in ops:
        if op == "alloc":
            try:
                live.append(alloc.allocate_extended())
            except ExtranonceExhausted:
                assert alloc.live_count + len(alloc._quarantine) == 256
        elif op == "free" and live:
            alloc.free(live.pop(len(live) // 2))
        elif op == "tip":
            alloc.on_new_prev_hash()
        assert len({a.prefix for a in live}) == len(live) == alloc.live_count
