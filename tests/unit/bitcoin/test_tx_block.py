"""Transactions and blocks: real mainnet/regtest data, witness handling, decode errors."""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratumv2.bitcoin.block import (
    Block,
    find_witness_commitment,
    witness_commitment,
    witness_commitment_script,
)
from stratumv2.bitcoin.coinbase import coinbase_height
from stratumv2.bitcoin.errors import BitcoinDecodeError
from stratumv2.bitcoin.hashes import hash_to_hex, merkle_root
from stratumv2.bitcoin.target import bits_to_target, hash_meets_target
from stratumv2.bitcoin.tx import (
    OutPoint,
    Transaction,
    TxIn,
    TxOut,
    compact_size,
    read_compact_size,
)

# Bitcoin Core chainparams.cpp, the genesis coinbase ("The Times 03/Jan/2009 ...").
GENESIS_COINBASE_HEX = (
    "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff"
    "4d04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72"
    "206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff"
    "0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f"
    "61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000"
)
GENESIS_MERKLE_ROOT = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"


def test_genesis_coinbase() -> None:
    tx = Transaction.from_hex(GENESIS_COINBASE_HEX)
    assert tx.is_coinbase
    assert tx.version == 1 and tx.locktime == 0
    assert b"The Times 03/Jan/2009 Chancellor on brink of second bailout for banks" in (
        tx.inputs[0].script_sig
    )
    assert tx.outputs[0].value == 50 * 100_000_000
    # The only transaction: its txid is the genesis merkle root.
    assert hash_to_hex(tx.txid) == GENESIS_MERKLE_ROOT
    assert tx.wtxid == tx.txid
    assert tx.serialize().hex() == GENESIS_COINBASE_HEX
    assert tx.weight == 4 * len(bytes.fromhex(GENESIS_COINBASE_HEX))


@pytest.mark.parametrize(
    ("n", "encoded"),
    [
        (0, "00"),
        (0xFC, "fc"),
        (0xFD, "fdfd00"),
        (0xFFFF, "fdffff"),
        (0x10000, "fe00000100"),
        (0xFFFFFFFF, "feffffffff"),
        (0x100000000, "ff0000000001000000"),
    ],
)
def test_compact_size(n: int, encoded: str) -> None:
    assert compact_size(n).hex() == encoded
    if n <= 0x02000000:
        assert read_compact_size(bytes.fromhex(encoded) + b"\xaa") == (n, len(encoded) // 2)


@pytest.mark.parametrize(
    "encoded", ["fd0000", "fdfc00", "fe00ff0000", "ff0000010000000000", "fe01000002"]
)
def test_compact_size_rejects_non_canonical(encoded: str) -> None:
    with pytest.raises(BitcoinDecodeError):
        read_compact_size(bytes.fromhex(encoded))


def test_block_413567(block_413567_raw: bytes) -> None:
    block = Block.parse(block_413567_raw)
    assert len(block.transactions) == 1557
    assert block.transactions[0].is_coinbase
    assert not any(tx.is_coinbase for tx in block.transactions[1:])
    assert block.compute_merkle_root() == block.header.merkle_root
    assert block.serialize() == block_413567_raw
    assert hash_to_hex(block.hash()) == (
        "0000000000000000025aff8be8a55df8f89c77296db6198f272d6577325d4069"
    )
    # Pre-segwit: no witness anywhere, stripped size equals total size.
    assert all(tx.wtxid == tx.txid for tx in block.transactions)
    assert sum(tx.weight for tx in block.transactions) == 4 * (len(block_413567_raw) - 80 - 3)


def test_block_413567_truncated_and_trailing(block_413567_raw: bytes) -> None:
    for cut in (0, 50, 80, 81, 1000, len(block_413567_raw) - 1):
        with pytest.raises(BitcoinDecodeError):
            Block.parse(block_413567_raw[:cut])
    with pytest.raises(BitcoinDecodeError):
        Block.parse(block_413567_raw + b"\x00")


def test_mainnet_segwit_block_702861(block_702861_raw: bytes) -> None:
    """A real segwit coinbase: its BIP141 commitment equals the one computed from the block's
    wtxids (ours, and again with hashlib alone); merkle root and serialization round trip."""
    block = Block.parse(block_702861_raw)
    assert hash_to_hex(block.hash()) == (
        "000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae"
    )
    assert hash_meets_target(block.hash(), bits_to_target(block.header.bits))
    assert len(block.transactions) == 2500
    assert block.compute_merkle_root() == block.header.merkle_root
    assert block.serialize() == block_702861_raw
    coinbase = block.transactions[0]
    assert coinbase.is_coinbase and coinbase.has_witness
    assert coinbase_height(coinbase.inputs[0].script_sig) == 702861
    assert coinbase.inputs[0].witness == (bytes(32),)  # the witness reserved value
    assert coinbase.txid != coinbase.wtxid
    committed = find_witness_commitment(coinbase)
    assert committed is not None
    assert committed.hex() == "71bfcc287cd6271682f35f5fba3963861571e0f186899eb0a41a5ebc360a3faa"
    assert witness_commitment([tx.wtxid for tx in block.transactions[1:]]) == committed
    assert block.compute_witness_commitment() == committed

    def dsha(b: bytes) -> bytes:
        return hashlib.sha256(hashlib.sha256(b).digest()).digest()

    level = [bytes(32)] + [dsha(tx.serialize()) for tx in block.transactions[1:]]
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [dsha(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    assert dsha(level[0] + bytes(32)) == committed
    assert sum(tx.weight for tx in block.transactions) <= 4_000_000


def test_regtest_segwit_transaction(regtest_gbt: dict[str, Any]) -> None:
    entry = regtest_gbt["transactions"][0]
    tx = Transaction.from_hex(entry["data"])
    assert tx.has_witness
    assert hash_to_hex(tx.txid) == entry["txid"]
    assert hash_to_hex(tx.wtxid) == entry["hash"]
    assert tx.weight == entry["weight"]
    assert tx.serialize().hex() == entry["data"]
    stripped = Transaction.parse(tx.serialize(include_witness=False))
    assert stripped.txid == tx.txid and not stripped.has_witness


def test_regtest_witness_commitment(regtest_gbt: dict[str, Any]) -> None:
    wtxids = [Transaction.from_hex(t["data"]).wtxid for t in regtest_gbt["transactions"]]
    commitment = witness_commitment(wtxids)
    assert (
        witness_commitment_script(commitment).hex() == (regtest_gbt["default_witness_commitment"])
    )


def test_witness_commitment_depends_on_wtxids_not_txids(regtest_gbt: dict[str, Any]) -> None:
    txs = [Transaction.from_hex(t["data"]) for t in regtest_gbt["transactions"]]
    wrong = witness_commitment_script(witness_commitment([tx.txid for tx in txs]))
    assert wrong.hex() != regtest_gbt["default_witness_commitment"]


def test_find_witness_commitment() -> None:
    commitment = bytes(range(32))
    cb = Transaction(
        2,
        (TxIn(OutPoint.null(), b"\x01\x67", witness=(b"\x00" * 32,)),),
        (TxOut(50, b"\x51"), TxOut(0, witness_commitment_script(commitment))),
    )
    assert find_witness_commitment(cb) == commitment
    assert find_witness_commitment(Transaction(2, cb.inputs, cb.outputs[:1])) is None


def test_segwit_block_round_trip(regtest_gbt: dict[str, Any]) -> None:
    from stratumv2.bitcoin.header import BlockHeader

    txs = [Transaction.from_hex(t["data"]) for t in regtest_gbt["transactions"]]
    commitment = witness_commitment([tx.wtxid for tx in txs])
    coinbase = Transaction(
        2,
        (TxIn(OutPoint.null(), b"\x01\x67", 0xFFFFFFFF, (b"\x00" * 32,)),),
        (TxOut(5000001410, b"\x51"), TxOut(0, witness_commitment_script(commitment))),
    )
    all_txs = (coinbase, *txs)
    header = BlockHeader(
        0x20000000, b"\x11" * 32, merkle_root([t.txid for t in all_txs]), 1, 0x207FFFFF, 0
    )
    block = Block(header, all_txs)
    again = Block.parse(block.serialize())
    assert again == block
    assert again.compute_witness_commitment() == commitment
    assert again.compute_merkle_root() == header.merkle_root


def test_decode_errors() -> None:
    good = bytes.fromhex(GENESIS_COINBASE_HEX)
    with pytest.raises(BitcoinDecodeError):
        Transaction.parse(good + b"\x00")
    with pytest.raises(BitcoinDecodeError):
        Transaction.from_hex("zz")
    # Witness marker with an unknown flag.
    with pytest.raises(BitcoinDecodeError):
        Transaction.parse(good[:4] + b"\x00\x02" + good[4:])
    # Witness flag set but every witness empty.
    tx = Transaction.from_hex(GENESIS_COINBASE_HEX)
    body = tx.serialize(include_witness=False)
    fake = body[:4] + b"\x00\x01" + body[4:-4] + b"\x00" + body[-4:]
    with pytest.raises(BitcoinDecodeError):
        Transaction.parse(fake)


# ---- hypothesis -------------------------------------------------------------------------

_u32 = st.integers(0, 0xFFFFFFFF)
_script = st.binary(max_size=300)
_txin = st.builds(
    TxIn,
    st.builds(OutPoint, st.binary(min_size=32, max_size=32), _u32),
    _script,
    _u32,
    st.lists(st.binary(max_size=80), max_size=4).map(tuple),
)
_txout = st.builds(TxOut, st.integers(0, 21_000_000 * 100_000_000), _script)
_tx = st.builds(
    Transaction,
    st.integers(-(1 << 31), (1 << 31) - 1),
    st.lists(_txin, min_size=1, max_size=5).map(tuple),
    st.lists(_txout, max_size=5).map(tuple),
    _u32,
)


@given(_tx)
def test_tx_round_trip(tx: Transaction) -> None:
    raw = tx.serialize()
    again = Transaction.parse(raw)
    assert again.serialize() == raw
    assert again.txid == tx.txid and again.wtxid == tx.wtxid
    assert again == tx
    stripped = tx.serialize(include_witness=False)
    assert len(stripped) <= len(raw)
    assert tx.weight == 3 * len(stripped) + len(raw)
    assert (tx.wtxid == tx.txid) == (not tx.has_witness)


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_parse_random_bytes_raises_only_decode_error(data: bytes) -> None:
    try:
        tx = Transaction.parse(data)
    except BitcoinDecodeError:
        return
    assert tx.serialize() == data


@settings(max_examples=200)
@given(_tx, st.data())
def test_parse_mutated_bytes(tx: Transaction, data: st.DataObject) -> None:
    raw = bytearray(tx.serialize())
    pos = data.draw(st.integers(0, len(raw) - 1))
    raw[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    with contextlib.suppress(BitcoinDecodeError):
        Transaction.parse(bytes(raw[:cut]))
