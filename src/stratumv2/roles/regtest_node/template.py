"""Block templates: ``getblocktemplate`` answers like bitcoind's, and blocks built from them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stratumv2.bitcoin.block import witness_commitment, witness_commitment_script
from stratumv2.bitcoin.coinbase import bip34_height_push
from stratumv2.bitcoin.hashes import hash_to_hex, merkle_root, sha256d
from stratumv2.bitcoin.header import BlockHeader
from stratumv2.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut
from stratumv2.roles.regtest_node.chain import Chain
from stratumv2.roles.regtest_node.consensus import (
    MAX_BLOCK_SIGOPS_COST,
    MAX_BLOCK_WEIGHT,
    REGTEST_BITS,
    ParsedBlock,
    bits_to_target,
    block_subsidy,
)
from stratumv2.roles.regtest_node.mempool import Mempool, MempoolEntry

BLOCK_VERSION = 0x20000000
MAX_BLOCK_SERIALIZED_SIZE = 4_000_000


@dataclass(frozen=True, slots=True)
class BlockTemplate:
    """What a miner needs to build the next block (the node's view at one moment)."""

    height: int
    prev_hash: bytes
    version: int
    bits: int
    mintime: int
    curtime: int
    entries: tuple[MempoolEntry, ...]
    coinbase_value: int
    witness_commitment: bytes
    longpollid: str

    @property
    def target(self) -> int:
        """The block target as an integer."""
        return bits_to_target(self.bits)


def make_template(chain: Chain, mempool: Mempool, now: int) -> BlockTemplate:
    """A template on the current tip with the mempool's best transactions."""
    entries = tuple(mempool.select())
    tip = chain.tip
    mintime = chain.median_time_past() + 1
    fees = sum(e.fee for e in entries)
    return BlockTemplate(
        height=tip.height + 1,
        prev_hash=tip.hash,
        version=BLOCK_VERSION,
        bits=REGTEST_BITS,
        mintime=mintime,
        curtime=max(now, mintime),
        entries=entries,
        coinbase_value=block_subsidy(tip.height + 1) + fees,
        witness_commitment=witness_commitment_script(
            witness_commitment([e.tx.wtxid for e in entries])
        ),
        longpollid=f"{hash_to_hex(tip.hash)}{mempool.sequence}",
    )


def template_json(template: BlockTemplate) -> dict[str, Any]:
    """The template as bitcoind's ``getblocktemplate {"rules": ["segwit"]}`` returns it."""
    index = {entry.txid: i + 1 for i, entry in enumerate(template.entries)}
    transactions = [
        {
            "data": entry.raw.hex(),
            "txid": hash_to_hex(entry.txid),
            "hash": hash_to_hex(entry.tx.wtxid),
            "depends": sorted(index[p] for p in entry.parents if p in index),
            "fee": entry.fee,
            "sigops": entry.sigops,
            "weight": entry.weight,
        }
        for entry in template.entries
    ]
    return {
        "capabilities": ["proposal"],
        "version": template.version,
        "rules": ["csv", "!segwit", "taproot"],
        "vbavailable": {},
        "vbrequired": 0,
        "previousblockhash": hash_to_hex(template.prev_hash),
        "transactions": transactions,
        "coinbaseaux": {},
        "coinbasevalue": template.coinbase_value,
        "longpollid": template.longpollid,
        "target": f"{template.target:064x}",
        "mintime": template.mintime,
        "mutable": ["time", "transactions", "prevblock"],
        "noncerange": "00000000ffffffff",
        "sigoplimit": MAX_BLOCK_SIGOPS_COST,
        "sizelimit": MAX_BLOCK_SERIALIZED_SIZE,
        "weightlimit": MAX_BLOCK_WEIGHT,
        "curtime": template.curtime,
        "bits": f"{template.bits:08x}",
        "height": template.height,
        "default_witness_commitment": template.witness_commitment.hex(),
    }


def build_coinbase(
    height: int, value: int, script_pubkey: bytes, witness_commitment: bytes | None, extra: bytes
) -> Transaction:
    """A coinbase paying ``value`` to ``script_pubkey``, BIP34 height first in its scriptSig."""
    script_sig = bip34_height_push(height) + (bytes((len(extra),)) + extra if extra else b"")
    if len(script_sig) < 2:
        script_sig += b"\x00"
    witness: tuple[bytes, ...] = ()
    outputs = [TxOut(value, script_pubkey)]
    if witness_commitment is not None:
        outputs.append(TxOut(0, witness_commitment))
        witness = (b"\x00" * 32,)
    return Transaction(
        2, (TxIn(OutPoint.null(), script_sig, 0xFFFFFFFF, witness),), tuple(outputs), 0
    )


def solve(header: BlockHeader, max_tries: int = 1 << 32) -> BlockHeader | None:
    """Grind the nonce until the header meets its target (instant on regtest)."""
    target = bits_to_target(header.bits)
    prefix = header.serialize()[:76]
    for nonce in range(min(max_tries, 1 << 32)):
        digest = sha256d(prefix + nonce.to_bytes(4, "little"))
        if int.from_bytes(digest, "little") <= target:
            return BlockHeader(
                header.version,
                header.prev_hash,
                header.merkle_root,
                header.time,
                header.bits,
                nonce,
            )
    return None


def block_from_template(
    template: BlockTemplate,
    script_pubkey: bytes,
    extra: bytes = b"",
    time: int | None = None,
    transactions: list[Transaction] | None = None,
) -> ParsedBlock:
    """A solved block from ``template`` paying its coinbase to ``script_pubkey``.

    ``transactions`` replaces the template's own (the coinbase value is then not adjusted).
    """
    txs = [e.tx for e in template.entries] if transactions is None else transactions
    coinbase = build_coinbase(
        template.height, template.coinbase_value, script_pubkey, template.witness_commitment, extra
    )
    if transactions is not None:
        coinbase = build_coinbase(
            template.height,
            template.coinbase_value,
            script_pubkey,
            witness_commitment_script(witness_commitment([tx.wtxid for tx in txs])),
            extra,
        )
    all_txs = (coinbase, *txs)
    header = BlockHeader(
        template.version,
        template.prev_hash,
        merkle_root([tx.txid for tx in all_txs]),
        template.curtime if time is None else time,
        template.bits,
        0,
    )
    solved = solve(header)
    if solved is None:
        raise RuntimeError("no nonce found")
    return ParsedBlock.build(solved, all_txs)
