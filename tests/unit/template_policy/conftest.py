"""Builders of real transactions and getblocktemplate dicts for the policy tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from stratumv2.bitcoin.hashes import hash_to_hex, sha256
from stratumv2.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut

P2WPKH = bytes.fromhex("0014") + bytes(range(20))


class Builder:
    """Makes segwit transactions (spending given parents) and a gbt dict of them."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.txs: list[Transaction] = []

    def add(
        self,
        fee: int,
        parents: Sequence[int] = (),
        outputs: Sequence[bytes] = (P2WPKH,),
        witness_size: int = 72,
    ) -> int:
        """Add a tx (spending output 0 of each parent index, or a fresh coin); its index."""
        n = len(self.txs)
        if parents:
            prevouts = [OutPoint(self.txs[p].txid, 0) for p in parents]
        else:
            prevouts = [OutPoint(sha256(b"coin%d" % n), n)]
        inputs = tuple(
            TxIn(prevout, b"", 0xFFFFFFFD, witness=(bytes([n]) * witness_size, b"\x02" * 33))
            for prevout in prevouts
        )
        outs = tuple(TxOut(10_000 + i, script) for i, script in enumerate(outputs))
        tx = Transaction(2, inputs, outs, 0)
        self.txs.append(tx)
        self.entries.append(
            {
                "data": tx.to_hex(),
                "txid": hash_to_hex(tx.txid),
                "hash": hash_to_hex(tx.wtxid),
                "depends": sorted(p + 1 for p in parents),
                "fee": fee,
                "sigops": 1,
                "weight": tx.weight,
            }
        )
        return n

    def txid(self, i: int) -> str:
        return hash_to_hex(self.txs[i].txid)

    def template(self) -> dict[str, Any]:
        return {
            "version": 536870912,
            "previousblockhash": "11" * 32,
            "transactions": [dict(e) for e in self.entries],
            "coinbasevalue": 5_000_000_000 + sum(e["fee"] for e in self.entries),
            "height": 200,
            "bits": "207fffff",
            "default_witness_commitment": "6a24aa21a9ed" + "00" * 32,
        }


@pytest.fixture
def builder() -> Builder:
    return Builder()
