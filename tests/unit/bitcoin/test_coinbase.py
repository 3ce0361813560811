"""SV2 coinbase construction, prefix/suffix split and block assembly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stratumv2.bitcoin.block import (
    WITNESS_RESERVED_VALUE,
    Block,
    find_witness_commitment,
    witness_commitment,
    witness_commitment_script,
)
from stratumv2.bitcoin.coinbase import (
    CoinbaseParts,
    assemble_block,
    bip34_height_push,
    build_coinbase,
    coinbase_from_parts,
    coinbase_height,
    outputs_sigop_cost,
    parse_outputs,
    push_data,
    serialize_outputs,
    sri_coinbase_tag,
    strip_bip141,
)
from stratumv2.bitcoin.errors import BitcoinDecodeError, CoinbaseError
from stratumv2.bitcoin.hashes import hash_to_hex, hex_to_hash, merkle_branch, merkle_root
from stratumv2.bitcoin.header import BlockHeader
from stratumv2.bitcoin.target import bits_to_target, hash_meets_target
from stratumv2.bitcoin.tx import Transaction, TxOut

# ---- SRI's worked vector: test_new_pool_job, sv2/channels-sv2/src/server/jobs/factory.rs
# (as recorded in shared/sv2-spec/00-overview.md §7).
SRI_TEMPLATE_OUTPUTS = bytes.fromhex(
    "0000000000000000266a24aa21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf9"
)
SRI_PAYOUT = TxOut(5_000_000_000, bytes.fromhex("0014ebe1b7dcc293ccaa0ee743a86f89df8258c208fc"))
SRI_PREFIX = (
    "02000000010000000000000000000000000000000000000000000000000000000000000000ffffffff3d520019"
    "5376322f5374726174756d2056322053524920506f6f6c2f2f20"
)
SRI_SUFFIX = (
    "ffffffff0200f2052a01000000160014ebe1b7dcc293ccaa0ee743a86f89df8258c208fc00000000000000002"
    "66a24aa21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf900000000"
)
SRI_EXTRANONCE_PREFIX = bytes.fromhex("5374726174756d2056322053524920506f6f6c0000000000000001")


def _sri_parts() -> CoinbaseParts:
    return build_coinbase(
        height_push=bytes.fromhex("5200"),
        tag=sri_coinbase_tag("Stratum V2 SRI Pool"),
        extranonce_size=32,
        outputs=[SRI_PAYOUT],
        template_outputs=parse_outputs(SRI_TEMPLATE_OUTPUTS, 1),
        version=2,
        sequence=0xFFFFFFFF,
        locktime=0,
        value_remaining=5_000_000_000,
    )


def test_sri_worked_vector_byte_for_byte() -> None:
    parts = _sri_parts()
    assert parts.prefix.hex() == SRI_PREFIX
    assert len(parts.prefix) == 71
    assert parts.suffix.hex() == SRI_SUFFIX
    assert len(parts.suffix) == 87
    extranonce = SRI_EXTRANONCE_PREFIX + bytes(5)
    txid = parts.txid(extranonce)
    assert txid.hex() == "78e94937f5580fa4b92a6e418d0f56eaa4c624825b67aa47195f042dbf084d0b"
    assert parts.merkle_root(extranonce, []) == txid
    path = [bytes.fromhex("1a6240823de4c8d6aaf826851bdf2b0e8d5acf7c31e8578cff4c394b5a32bd4e")]
    assert parts.merkle_root(extranonce, path).hex() == (
        "d22e3ae570d7353ec42c9fa0d66fd81ec2fe5db21acba136bb02e747cdad32a5"
    )


def test_witness_serialization_and_strip() -> None:
    parts = _sri_parts()
    extranonce = SRI_EXTRANONCE_PREFIX + bytes(5)
    full = parts.serialize(extranonce)
    tx = Transaction.parse(full)
    assert tx.is_coinbase and tx.has_witness
    assert tx.inputs[0].witness == (WITNESS_RESERVED_VALUE,)
    assert tx.txid == parts.txid(extranonce)
    assert tx.serialize(include_witness=False) == parts.serialize(extranonce, False)
    assert full[4:6] == b"\x00\x01"
    assert parts.witness_prefix() + extranonce + parts.witness_suffix() == full
    assert strip_bip141(parts.witness_prefix(), parts.witness_suffix()) == (
        parts.prefix,
        parts.suffix,
    )
    # Already stripped: unchanged.
    assert strip_bip141(parts.prefix, parts.suffix) == (parts.prefix, parts.suffix)
    # scriptSig starts with the height push and ends with the full extranonce.
    script = tx.inputs[0].script_sig
    assert script.startswith(b"\x52\x00")
    assert script.endswith(b"\x20" + extranonce)
    assert len(script) == 61


def test_coinbase_from_parts_adds_witness_only_with_commitment() -> None:
    parts = _sri_parts()
    extranonce = bytes(32)
    cb = coinbase_from_parts(parts.prefix, extranonce, parts.suffix)
    assert cb.serialize() == parts.serialize(extranonce)
    legacy = build_coinbase(
        height_push=bip34_height_push(500),
        extranonce_size=8,
        outputs=[TxOut(50, b"\x51")],
        witness_reserved_value=None,
    )
    assert legacy.witness == ()
    cb2 = coinbase_from_parts(legacy.prefix, bytes(8), legacy.suffix)
    assert not cb2.has_witness
    assert legacy.serialize(bytes(8)) == legacy.prefix + bytes(8) + legacy.suffix
    # Default reserved value but no commitment output: no witness (else "unexpected-witness").
    no_commitment = build_coinbase(
        height_push=bip34_height_push(500), extranonce_size=8, outputs=[TxOut(50, b"\x51")]
    )
    assert no_commitment.witness == ()
    assert not no_commitment.transaction(bytes(8)).has_witness
    with pytest.raises(BitcoinDecodeError):
        coinbase_from_parts(parts.prefix, bytes(31), parts.suffix)


@pytest.mark.parametrize(
    ("height", "push"),
    [
        (0, "00"),
        (1, "51"),
        (16, "60"),
        (17, "0111"),
        (102, "0166"),  # sv2-tp's coinbase_prefix at height 102 (06-observed-sv2-tp.md)
        (127, "017f"),
        (128, "028000"),
        (255, "02ff00"),
        (256, "020001"),
        (8449, "020121"),
        (32768, "03008000"),
        (413567, "037f4f06"),  # block 413567's coinbase scriptSig starts 03 7f4f06
        (8388608, "0400008000"),
    ],
)
def test_bip34_height_push(height: int, push: str) -> None:
    assert bip34_height_push(height).hex() == push
    assert coinbase_height(bytes.fromhex(push) + b"\xff\xff") == height


def test_block_413567_coinbase_height(block_413567_raw: bytes) -> None:
    coinbase = Block.parse(block_413567_raw).transactions[0]
    assert coinbase_height(coinbase.inputs[0].script_sig) == 413567


def test_outputs_sigop_cost() -> None:
    p2pkh = bytes.fromhex("76a914" + "11" * 20 + "88ac")
    p2wpkh = bytes.fromhex("0014" + "11" * 20)
    multisig = bytes.fromhex("51" + "21" + "02" * 33 + "51ae")
    op_return = b"\x6a\x04" + b"\xac" * 4  # pushed 0xac bytes are data, not CHECKSIG
    assert outputs_sigop_cost([TxOut(1, p2pkh)]) == 4
    assert outputs_sigop_cost([TxOut(1, p2wpkh), TxOut(0, op_return)]) == 0
    assert outputs_sigop_cost([TxOut(1, multisig), TxOut(1, p2pkh)]) == 84
    assert outputs_sigop_cost([TxOut(0, b"\x4c\x02\xac\xac\xac")]) == 4


def test_push_data() -> None:
    assert push_data(b"") == b"\x00"
    assert push_data(b"\x01" * 75)[:1] == b"\x4b"
    assert push_data(b"\x01" * 76)[:2] == b"\x4c\x4c"
    assert push_data(b"\x01" * 256)[:3] == b"\x4d\x00\x01"


def test_script_sig_limits() -> None:
    ok = build_coinbase(
        height_push=bip34_height_push(1000), extranonce_size=32, outputs=[TxOut(1, b"\x51")]
    )
    assert ok.extranonce_size == 32
    exactly_100 = build_coinbase(
        height_push=bip34_height_push(1000),
        tag=b"x" * 63,
        extranonce_size=32,
        outputs=[TxOut(1, b"\x51")],
    )
    assert len(exactly_100.transaction(bytes(32)).inputs[0].script_sig) == 100
    with pytest.raises(CoinbaseError):  # 3 + 1 + 64 + 1 + 32 > 100
        build_coinbase(
            height_push=bip34_height_push(1000),
            tag=b"x" * 64,
            extranonce_size=32,
            outputs=[TxOut(1, b"\x51")],
        )
    with pytest.raises(CoinbaseError):
        build_coinbase(height_push=b"", extranonce_size=0, outputs=[TxOut(1, b"\x51")])
    with pytest.raises(CoinbaseError):
        build_coinbase(height_push=b"\x51", extranonce_size=33, outputs=[TxOut(1, b"\x51")])
    with pytest.raises(CoinbaseError):
        build_coinbase(
            height_push=b"\x51",
            extranonce_size=4,
            outputs=[TxOut(11, b"\x51")],
            value_remaining=10,
        )
    with pytest.raises(CoinbaseError):
        build_coinbase(height_push=b"\x51", extranonce_size=4, outputs=[])
    with pytest.raises(CoinbaseError):
        ok.txid(bytes(31))


def test_outputs_round_trip_and_count_check() -> None:
    outs = (TxOut(1, b"\x51"), TxOut(2, b"\x00" * 40))
    raw = serialize_outputs(outs)
    assert parse_outputs(raw) == outs
    assert parse_outputs(raw, 2) == outs
    with pytest.raises(BitcoinDecodeError):
        parse_outputs(raw, 3)
    with pytest.raises(BitcoinDecodeError):
        parse_outputs(raw[:-1])


def test_assemble_block_with_template_transaction(regtest_gbt: dict[str, Any]) -> None:
    """A segwit template from Bitcoin Core: commitment, merkle root and block bytes agree."""
    gbt = regtest_gbt
    raw_txs = [bytes.fromhex(t["data"]) for t in gbt["transactions"]]
    commitment_script = bytes.fromhex(gbt["default_witness_commitment"])
    parts = build_coinbase(
        height_push=bip34_height_push(gbt["height"]),
        tag=b"/stratumv2/",
        extranonce_size=12,
        outputs=[TxOut(gbt["coinbasevalue"], bytes.fromhex("0014" + "11" * 20))],
        template_outputs=[TxOut(0, commitment_script)],
        value_remaining=gbt["coinbasevalue"],
        sequence=0xFFFFFFFE,
        locktime=gbt["height"] - 1,
    )
    extranonce = bytes(range(12))
    branch = merkle_branch([hex_to_hash(t["txid"]) for t in gbt["transactions"]])
    root = parts.merkle_root(extranonce, branch)
    block = assemble_block(
        version=gbt["version"],
        prev_hash=hex_to_hash(gbt["previousblockhash"]),
        time=gbt["curtime"],
        bits=int(gbt["bits"], 16),
        nonce=7,
        coinbase=parts.serialize(extranonce),
        transactions=raw_txs,
    )
    assert block.header.merkle_root == root
    assert block.compute_witness_commitment() == commitment_script[6:]
    assert find_witness_commitment(block.transactions[0]) == commitment_script[6:]
    again = Block.parse(block.serialize())
    assert again == block
    assert hash_to_hex(again.transactions[1].txid) == gbt["transactions"][0]["txid"]
    assert coinbase_height(again.transactions[0].inputs[0].script_sig) == gbt["height"]
    assert again.transactions[0].locktime == gbt["height"] - 1
    with pytest.raises(BitcoinDecodeError):
        assemble_block(
            version=1,
            prev_hash=bytes(32),
            time=0,
            bits=0,
            nonce=0,
            coinbase=raw_txs[0],
            transactions=[],
        )


# ---- consensus check with libbitcoinkernel (Bitcoin Core's validation) -----------------

REGTEST_GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
REGTEST_GENESIS_TIME = 1296688602


def _mine(block: Block) -> Block:
    target = bits_to_target(block.header.bits)
    h = block.header
    for nonce in range(1 << 16):
        if hash_meets_target(
            BlockHeader(h.version, h.prev_hash, h.merkle_root, h.time, h.bits, nonce).hash(),
            target,
        ):
            header = BlockHeader(h.version, h.prev_hash, h.merkle_root, h.time, h.bits, nonce)
            return Block(header, block.transactions)
    raise AssertionError("no nonce found")


def test_blocks_accepted_by_libbitcoinkernel(tmp_path: Path) -> None:
    pbk = pytest.importorskip("pbk")
    chainman = pbk.load_chainman(tmp_path, pbk.ChainType.REGTEST)
    prev = hex_to_hash(REGTEST_GENESIS)
    payout = bytes.fromhex("0014") + bytes(range(20))
    for height in (1, 2, 3):
        # Height 2 uses a segwit coinbase (witness commitment + reserved value) with a pool tag.
        segwit = height >= 2
        template_outputs = (
            [TxOut(0, witness_commitment_script(witness_commitment([])))] if segwit else []
        )
        parts = build_coinbase(
            height_push=bip34_height_push(height),
            tag=sri_coinbase_tag("test pool") if segwit else b"",
            extranonce_size=16,
            outputs=[TxOut(50 * 100_000_000, payout)],
            template_outputs=template_outputs,
            witness_reserved_value=WITNESS_RESERVED_VALUE if segwit else None,
            sequence=0xFFFFFFFE,
            locktime=height - 1,
        )
        extranonce = bytes([height]) * 16
        coinbase: Transaction | bytes = coinbase_from_parts(parts.prefix, extranonce, parts.suffix)
        assert isinstance(coinbase, Transaction)
        assert coinbase.serialize() == parts.serialize(extranonce)
        if height == 3:  # stripped bytes: assemble_block adds the reserved value itself
            coinbase = parts.serialize(extranonce, include_witness=False)
        block = _mine(
            assemble_block(
                version=0x20000000,
                prev_hash=prev,
                time=REGTEST_GENESIS_TIME + height,
                bits=0x207FFFFF,
                nonce=0,
                coinbase=coinbase,
                transactions=[],
            )
        )
        assert block.header.merkle_root == merkle_root([parts.txid(extranonce)])
        chainman.process_block(pbk.Block(block.serialize()))
        tip = chainman.get_active_chain()
        assert tip.height == height, f"block at height {height} rejected"
        prev = block.hash()

    # Control: a wrong witness commitment (or wrong BIP34 height) is rejected by the kernel.
    for bad_commitment, bad_height in ((True, False), (False, True)):
        parts = build_coinbase(
            height_push=bip34_height_push(5 if bad_height else 4),
            extranonce_size=4,
            outputs=[TxOut(50 * 100_000_000, payout)],
            template_outputs=[
                TxOut(
                    0,
                    witness_commitment_script(
                        b"\x01" * 32 if bad_commitment else witness_commitment([])
                    ),
                )
            ],
        )
        block = _mine(
            assemble_block(
                version=0x20000000,
                prev_hash=prev,
                time=REGTEST_GENESIS_TIME + 4,
                bits=0x207FFFFF,
                nonce=0,
                coinbase=parts.serialize(bytes(4)),
                transactions=[],
            )
        )
        with pytest.raises(pbk.ProcessBlockException):
            chainman.process_block(pbk.Block(block.serialize()))
        assert chainman.get_active_chain().height == 3
