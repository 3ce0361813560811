"""Compact bits, targets, difficulty and hashrate conversions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratumv2.bitcoin.target import (
    DIFF1_TARGET,
    MAX_TARGET,
    bits_to_target,
    difficulty_to_target,
    hash_meets_target,
    hashrate_to_target,
    target_to_bits,
    target_to_difficulty,
    target_to_hashrate,
    target_to_u256,
    u256_to_target,
)


def test_genesis_bits_is_difficulty_one() -> None:
    target = bits_to_target(0x1D00FFFF)
    assert target == DIFF1_TARGET
    assert f"{target:064x}" == "00000000ffff" + "0" * 52
    assert target_to_difficulty(target) == 1.0
    assert target_to_bits(target) == 0x1D00FFFF


def test_regtest_bits() -> None:
    # Bitcoin Core regtest powLimit 7fffff00...; the getblocktemplate vector's "target".
    target = bits_to_target(0x207FFFFF)
    assert f"{target:064x}" == "7fffff" + "0" * 58
    assert target_to_bits(target) == 0x207FFFFF
    assert target_to_difficulty(target) == pytest.approx(4.6565423739069247e-10)


def test_mainnet_block_413567_bits() -> None:
    # Block 413567 carries bits 0x18058436 (the raw vector's header); pdiff is exact arithmetic.
    target = bits_to_target(0x18058436)
    assert target == 0x058436 << (8 * 21)
    assert target_to_difficulty(target) == pytest.approx(0xFFFF * 2**40 / 0x058436, rel=1e-12)
    assert 199.3e9 < target_to_difficulty(target) < 199.4e9


@pytest.mark.parametrize(
    ("bits", "target"),
    [  # Bitcoin Core src/test/arith_uint256_tests.cpp (SetCompact/GetCompact cases)
        (0x00000000, 0),
        (0x00123456, 0),
        (0x01003456, 0),
        (0x02000056, 0),
        (0x03000000, 0),
        (0x04000000, 0),
        (0x00923456, 0),
        (0x01123456, 0x12),
        (0x02123456, 0x1234),
        (0x03123456, 0x123456),
        (0x04123456, 0x12345600),
        (0x05009234, 0x92340000),
        (0x20123456, 0x1234560000000000000000000000000000000000000000000000000000000000),
    ],
)
def test_bits_to_target_core_cases(bits: int, target: int) -> None:
    assert bits_to_target(bits) == target


@pytest.mark.parametrize(
    ("target", "bits"), [(0x12, 0x01120000), (0x80, 0x02008000), (0x92340000, 0x05009234), (0, 0)]
)
def test_target_to_bits_core_cases(target: int, bits: int) -> None:
    assert target_to_bits(target) == bits


@pytest.mark.parametrize("bits", [0x04923456, 0x01FEDCBA, 0xFF123456, 0x21010000])
def test_bits_negative_or_overflow_rejected(bits: int) -> None:
    with pytest.raises(ValueError):
        bits_to_target(bits)


@given(st.integers(1, MAX_TARGET))
def test_bits_round_trip_rounds_down(target: int) -> None:
    bits = target_to_bits(target)
    back = bits_to_target(bits)
    assert back <= target
    # Compact keeps the top 23 bits of precision at least.
    assert target - back < (1 << max(0, target.bit_length() - 15))
    assert target_to_bits(back) == bits


def test_difficulty_round_trip() -> None:
    for diff in (1, 2, 1024, 65536, 1e12):
        assert target_to_difficulty(difficulty_to_target(diff)) == pytest.approx(diff)
    assert difficulty_to_target(1) == DIFF1_TARGET
    assert difficulty_to_target(0.5) == DIFF1_TARGET * 2
    with pytest.raises(ValueError):
        difficulty_to_target(0)


def test_hashrate_target_sri_formula() -> None:
    # 1 TH/s at 6 shares/min: one share per 1e13 hashes.
    target = hashrate_to_target(1e12, 6.0)
    hs = 10**13
    assert target == (2**256 - 1 - hs) // (hs + 1)
    assert target_to_hashrate(target, 6.0) == pytest.approx(1e12, rel=1e-9)
    # Zero hashrate: everything is a share.
    assert hashrate_to_target(0, 6.0) == MAX_TARGET
    with pytest.raises(ValueError):
        hashrate_to_target(-1, 6.0)
    with pytest.raises(ValueError):
        hashrate_to_target(1, 0)


def test_u256_is_little_endian() -> None:
    target = bits_to_target(0x1D00FFFF)
    wire = target_to_u256(target)
    assert wire == bytes(26) + b"\xff\xff" + bytes(4)
    assert u256_to_target(wire) == target
    with pytest.raises(ValueError):
        u256_to_target(b"\x00" * 31)


def test_hash_meets_target_reads_little_endian() -> None:
    genesis_hash = bytes.fromhex(
        "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
    )[::-1]
    assert hash_meets_target(genesis_hash, DIFF1_TARGET)
    assert not hash_meets_target(genesis_hash, 0x19D6689C085AE1 << 140)
    value = int.from_bytes(genesis_hash, "little")
    assert hash_meets_target(genesis_hash, value)
    assert not hash_meets_target(genesis_hash, value - 1)
