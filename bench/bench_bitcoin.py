"""Bitcoin primitives on the share-validation path, and block parsing.

Baseline: one sha256d of an 80-byte header (bench.common.sha256d_header), measured in the same
run. The ratio column is (cost of one operation) / (cost of one sha256d). The share check of an
extended channel costs one coinbase txid, one merkle fold and one header hash.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench.common import per_second, print_table, sha256d_header
from stratumv2.bitcoin.block import Block
from stratumv2.bitcoin.coinbase import bip34_height_push, build_coinbase
from stratumv2.bitcoin.hashes import merkle_branch, merkle_root_from_branch
from stratumv2.bitcoin.header import BlockHeader, header_hash
from stratumv2.bitcoin.target import bits_to_target, hash_meets_target
from stratumv2.bitcoin.tx import Transaction, TxOut

# The copy in the tests' data (from shared/vectors): present in every checkout.
_BLOCK_FILE = (
    Path(__file__).resolve().parents[1]
    / "tests"
    / "unit"
    / "bitcoin"
    / "data"
    / "mainnet-block-413567.raw"
)


def main(short: bool) -> None:
    """Print the table."""
    base = per_second(sha256d_header, short)
    parts = build_coinbase(
        height_push=bip34_height_push(900_000),
        tag=b"Sv2/stratumv2//",
        extranonce_size=20,
        outputs=[TxOut(312_500_000, bytes.fromhex("0014") + bytes(20))],
        template_outputs=[TxOut(0, bytes.fromhex("6a24aa21a9ed") + bytes(32))],
    )
    branch = merkle_branch([i.to_bytes(32, "little") for i in range(1, 3000)])
    extranonce = bytes(20)
    prev = bytes(range(32))
    target = bits_to_target(0x17031ABE)
    header = BlockHeader(0x20000000, prev, bytes(32), 1_700_000_000, 0x17031ABE, 42)
    coinbase_raw = parts.serialize(extranonce)

    def share_check() -> bool:
        root = merkle_root_from_branch(parts.txid(extranonce), branch)
        h = header_hash(0x20000000, prev, root, 1_700_000_000, 0x17031ABE, 7)
        return hash_meets_target(h, target)

    cases: list[tuple[str, Callable[[], object]]] = [
        ("header_hash (fast path)", lambda: header_hash(1, prev, prev, 2, 3, 4)),
        ("BlockHeader.hash", header.hash),
        ("coinbase txid from parts", lambda: parts.txid(extranonce)),
        ("merkle fold, 12 levels (3000 tx)", lambda: merkle_root_from_branch(prev, branch)),
        ("extended share check", share_check),
        ("Transaction.parse (coinbase)", lambda: Transaction.parse(coinbase_raw)),
    ]
    rows = []
    for name, fn in cases:
        rate = per_second(fn, short)
        rows.append((name, rate, base / rate))
    if _BLOCK_FILE.exists():
        raw = _BLOCK_FILE.read_bytes()
        rate = per_second(lambda: Block.parse(raw), short, min_time=0.5)
        rows.append(("Block.parse (1 MB, 1557 tx)", rate, base / rate))
    print_table(
        f"bitcoin primitives (baseline sha256d(header): {base:,.0f}/s)",
        ["operation", "per second", "x sha256d"],
        rows,
    )


if __name__ == "__main__":
    main(short=False)
