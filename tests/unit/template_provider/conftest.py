"""Synthetic getblocktemplate results built from real serialized transactions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from stratumv2.bitcoin.hashes import hash_to_hex, sha256d
from stratumv2.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut
from stratumv2.protocol import decode_frame, encode_frame

REGTEST_BITS = "207fffff"
REGTEST_TARGET = "7fffff" + "00" * 29


def make_tx(seed: int, parent: Transaction | None = None, witness: bool = True) -> Transaction:
    """A well-formed transaction (not signed: the TP never checks scripts)."""
    prev = OutPoint(parent.txid, 0) if parent else OutPoint(sha256d(seed.to_bytes(8, "little")), 1)
    wit = (b"\x30" * 71, b"\x02" * 33) if witness else ()
    txin = TxIn(prev, b"" if witness else b"\x51", 0xFFFFFFFD, wit)
    out = TxOut(10_000 + seed, b"\x00\x14" + seed.to_bytes(20, "little"))
    return Transaction(2, (txin,), (out,), 0)


def gbt_entry(tx: Transaction, fee: int, depends: tuple[int, ...] = ()) -> dict[str, Any]:
    return {
        "data": tx.serialize().hex(),
        "txid": hash_to_hex(tx.txid),
        "hash": hash_to_hex(tx.wtxid),
        "depends": list(depends),
        "fee": fee,
        "sigops": 4,
        "weight": tx.weight,
    }


def make_gbt(
    txs: list[Transaction],
    fees: list[int] | None = None,
    height: int = 102,
    prev: bytes = b"\x11" * 32,
    curtime: int = 1_700_000_000,
) -> dict[str, Any]:
    fees = fees if fees is not None else [1000] * len(txs)
    index = {tx.txid: i + 1 for i, tx in enumerate(txs)}
    entries = []
    for tx, fee in zip(txs, fees, strict=True):
        deps = tuple(index[i.prevout.txid] for i in tx.inputs if i.prevout.txid in index)
        entries.append(gbt_entry(tx, fee, deps))
    return {
        "capabilities": ["proposal"],
        "version": 0x20000000,
        "rules": ["csv", "!segwit", "taproot"],
        "previousblockhash": hash_to_hex(prev),
        "transactions": entries,
        "coinbaseaux": {},
        "coinbasevalue": 5_000_000_000 + sum(fees),
        "longpollid": hash_to_hex(prev) + "1",
        "target": REGTEST_TARGET,
        "mintime": curtime - 600,
        "mutable": ["time", "transactions", "prevblock"],
        "noncerange": "00000000ffffffff",
        "sigoplimit": 80000,
        "sizelimit": 4000000,
        "weightlimit": 4000000,
        "curtime": curtime,
        "bits": REGTEST_BITS,
        "height": height,
    }


@pytest.fixture
def gbt_factory() -> Callable[..., dict[str, Any]]:
    return make_gbt


@pytest.fixture
def tx_factory() -> Callable[..., Transaction]:
    return make_tx


class MemoryPeer:
    """One end of an in-memory connection carrying real SV2 frames (encoded and decoded)."""

    def __init__(self, inbox: asyncio.Queue[bytes | None], outbox: asyncio.Queue[bytes | None]):
        self.inbox = inbox
        self.outbox = outbox
        self.closed = False

    async def send(self, message: Any) -> None:
        if self.closed:
            raise ConnectionError("closed")
        self.outbox.put_nowait(encode_frame(message))

    async def recv(self) -> Any:
        data = await self.inbox.get()
        if data is None:
            self.closed = True
            raise EOFError("peer closed")
        return decode_frame(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.outbox.put_nowait(None)
            self.inbox.put_nowait(None)


def memory_pipe() -> tuple[MemoryPeer, MemoryPeer]:
    a: asyncio.Queue[bytes | None] = asyncio.Queue()
    b: asyncio.Queue[bytes | None] = asyncio.Queue()
    return MemoryPeer(a, b), MemoryPeer(b, a)


@pytest.fixture
def pipe_factory() -> Callable[[], tuple[MemoryPeer, MemoryPeer]]:
    return memory_pipe
