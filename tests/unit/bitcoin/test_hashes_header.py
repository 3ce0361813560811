"""sha256d, merkle trees and the block header against real mainnet data."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratumv2.bitcoin.errors import BitcoinDecodeError
from stratumv2.bitcoin.hashes import (
    hash_to_hex,
    hex_to_hash,
    merkle_branch,
    merkle_root,
    merkle_root_from_branch,
    sha256,
    sha256d,
)
from stratumv2.bitcoin.header import BlockHeader, header_hash

# Mainnet genesis block: Bitcoin Core chainparams.cpp (CreateGenesisBlock) and its asserts.
GENESIS_HEADER_HEX = (
    "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b2"
    "7ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c"
)
GENESIS_HASH = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
GENESIS_MERKLE_ROOT = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"


def test_sha256_known_values() -> None:
    # FIPS 180-2 "abc" vector.
    assert sha256(b"abc").hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert sha256d(b"abc") == hashlib.sha256(sha256(b"abc")).digest()


def test_hash_hex_reverses_bytes() -> None:
    h = bytes(range(32))
    assert hash_to_hex(h) == bytes(reversed(range(32))).hex()
    assert hex_to_hash(hash_to_hex(h)) == h


def test_genesis_header_fields_and_hash() -> None:
    header = BlockHeader.parse(bytes.fromhex(GENESIS_HEADER_HEX))
    assert header.version == 1
    assert header.prev_hash == b"\x00" * 32
    assert hash_to_hex(header.merkle_root) == GENESIS_MERKLE_ROOT
    assert header.time == 1231006505
    assert header.bits == 0x1D00FFFF
    assert header.nonce == 2083236893
    assert hash_to_hex(header.hash()) == GENESIS_HASH
    assert header.serialize().hex() == GENESIS_HEADER_HEX
    assert (
        hash_to_hex(
            header_hash(1, b"\x00" * 32, header.merkle_root, 1231006505, 0x1D00FFFF, 2083236893)
        )
        == GENESIS_HASH
    )


def test_header_version_signed_and_unsigned_serialize_alike() -> None:
    a = BlockHeader(0xE0000000, b"\x01" * 32, b"\x02" * 32, 1, 2, 3)
    b = BlockHeader(-0x20000000, b"\x01" * 32, b"\x02" * 32, 1, 2, 3)
    assert a.serialize() == b.serialize()
    assert a.serialize()[:4] == bytes.fromhex("000000e0")
    assert BlockHeader.parse(b.serialize()) == a


@pytest.mark.parametrize("size", [0, 79, 81])
def test_header_parse_rejects_wrong_size(size: int) -> None:
    with pytest.raises(BitcoinDecodeError):
        BlockHeader.parse(b"\x00" * size)


def test_header_rejects_bad_fields() -> None:
    with pytest.raises(ValueError):
        BlockHeader(1, b"\x00" * 31, b"\x00" * 32, 0, 0, 0)
    with pytest.raises(ValueError):
        BlockHeader(1, b"\x00" * 32, b"\x00" * 32, 1 << 32, 0, 0)


def test_block_413567_header_hash(block_413567_raw: bytes) -> None:
    header = BlockHeader.parse(block_413567_raw[:80])
    # Expected hash asserted in Bitcoin Core's src/bench/checkblock.cpp and
    # src/test/blockencodings_tests.cpp for this very file.
    assert hash_to_hex(header.hash()) == (
        "0000000000000000025aff8be8a55df8f89c77296db6198f272d6577325d4069"
    )


def _naive_root(leaves: list[bytes]) -> bytes:
    level = leaves
    while len(level) > 1:
        if len(level) % 2:
            level = [*level, level[-1]]
        level = [
            hashlib.sha256(hashlib.sha256(level[i] + level[i + 1]).digest()).digest()
            for i in range(0, len(level), 2)
        ]
    return level[0]


def test_merkle_root_small_cases() -> None:
    a, b, c = (bytes([i]) * 32 for i in (1, 2, 3))
    assert merkle_root([a]) == a
    assert merkle_root([a, b]) == sha256d(a + b)
    ab = sha256d(a + b)
    cc = sha256d(c + c)
    assert merkle_root([a, b, c]) == sha256d(ab + cc)
    with pytest.raises(ValueError):
        merkle_root([])


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40))
def test_merkle_branch_reproduces_root(leaves: list[bytes]) -> None:
    branch = merkle_branch(leaves[1:])
    assert merkle_root_from_branch(leaves[0], branch) == merkle_root(leaves)
    assert merkle_root(leaves) == _naive_root(leaves)
    # Depth: ceil(log2(n)).
    assert len(branch) == (len(leaves) - 1).bit_length()


def test_merkle_branch_known_two_levels() -> None:
    b, c = bytes([2]) * 32, bytes([3]) * 32
    assert merkle_branch([]) == []
    assert merkle_branch([b]) == [b]
    assert merkle_branch([b, c]) == [b, sha256d(c + c)]


def test_sri_digest_merkle_vector() -> None:
    # 00-overview.md §7: txid of SRI's worked coinbase and the root with a one-element path.
    txid = bytes.fromhex("78e94937f5580fa4b92a6e418d0f56eaa4c624825b67aa47195f042dbf084d0b")
    node = bytes.fromhex("1a6240823de4c8d6aaf826851bdf2b0e8d5acf7c31e8578cff4c394b5a32bd4e")
    assert merkle_root_from_branch(txid, [node]).hex() == (
        "d22e3ae570d7353ec42c9fa0d66fd81ec2fe5db21acba136bb02e747cdad32a5"
    )
