"""Start a regtest node in-process for tests: ``async with running_node(tmp_path) as node``.

Example::

    from stratumv2.roles.regtest_node.testing import running_node

    async def test_mine(tmp_path):
        async with running_node(tmp_path / "node") as node:
            async with node.rpc() as rpc:
                await rpc.call("generatetoaddress", 1, node.address)
                assert await rpc.getblockcount() == 1
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratumv2.bitcoin.block import witness_commitment, witness_commitment_script
from stratumv2.bitcoin.hashes import hex_to_hash, merkle_root
from stratumv2.bitcoin.header import BlockHeader
from stratumv2.bitcoin.tx import Transaction
from stratumv2.net.rpc import BitcoinRpc
from stratumv2.roles.regtest_node.consensus import ParsedBlock
from stratumv2.roles.regtest_node.service import NodeConfig, RegtestNode
from stratumv2.roles.regtest_node.template import build_coinbase, solve

REGTEST_ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
"""A valid regtest P2WPKH address (BIP173's test program) for coinbase payouts in tests."""


@dataclass(frozen=True, slots=True)
class NodeHandle:
    """A running node: where to reach it, and the node object itself for direct access."""

    node: RegtestNode
    url: str
    cookie_path: Path
    port: int
    datadir: Path
    zmq_endpoint: str | None = None
    """The bound hashblock endpoint (``tcp://127.0.0.1:0`` resolved to its port)."""
    address: str = REGTEST_ADDRESS

    def rpc(self, timeout: float = 30.0) -> BitcoinRpc:
        """A new JSON-RPC client authenticated with the node's cookie (close it, or use
        ``async with``)."""
        return BitcoinRpc(self.url, cookie_file=self.cookie_path, timeout=timeout)


@asynccontextmanager
async def running_node(
    datadir: Path | str,
    tx_rate: float = 0.0,
    zmq: str | None = None,
    longpoll_mempool_delay: float = 60.0,
) -> AsyncIterator[NodeHandle]:
    """Run a node on 127.0.0.1 (a free port) with its data in ``datadir``; stop it on exit.

    ``zmq`` is a ZMQ endpoint for hashblock notifications; ``tcp://127.0.0.1:0`` picks a free
    port, read it back from ``handle.zmq_endpoint``.
    The chain persists in ``datadir``: a second ``running_node`` on it continues the chain.
    """
    config = NodeConfig(
        datadir=Path(datadir),
        rpcbind="127.0.0.1",
        rpcport=0,
        zmqpubhashblock=zmq,
        tx_rate=tx_rate,
        longpoll_mempool_delay=longpoll_mempool_delay,
    )
    node = RegtestNode(config)
    await node.start()
    try:
        yield NodeHandle(
            node, node.url, node.cookie_path, node.port, Path(datadir), node.zmq_endpoint
        )
    finally:
        await node.stop()


def block_from_gbt(
    gbt: dict[str, Any],
    payout_script: bytes = bytes.fromhex("0014751e76e8199196d454941c45d1b3a323f1433bd6"),
    extra: bytes = b"",
    solve_pow: bool = True,
) -> bytes:
    """A serialized block built from a ``getblocktemplate`` answer, as a miner would.

    The coinbase carries the BIP34 height, pays ``coinbasevalue`` to ``payout_script`` and
    commits to the transactions' witnesses (zero nonce) — computed here, so it equals
    ``default_witness_commitment`` unless the caller edited ``transactions``. With
    ``solve_pow`` the nonce is ground until the header meets ``target`` (instant on regtest).
    """
    txs = [Transaction.from_hex(t["data"]) for t in gbt["transactions"]]
    commitment = witness_commitment_script(witness_commitment([tx.wtxid for tx in txs]))
    coinbase = build_coinbase(gbt["height"], gbt["coinbasevalue"], payout_script, commitment, extra)
    all_txs = [coinbase, *txs]
    header = BlockHeader(
        gbt["version"],
        hex_to_hash(gbt["previousblockhash"]),
        merkle_root([tx.txid for tx in all_txs]),
        gbt["curtime"],
        int(gbt["bits"], 16),
        0,
    )
    if solve_pow:
        solved = solve(header)
        assert solved is not None
        header = solved
    return ParsedBlock.build(header, all_txs).serialize()
