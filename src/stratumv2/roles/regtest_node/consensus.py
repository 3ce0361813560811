"""Block checks that give Bitcoin Core's reject reasons (``high-hash``, ``bad-cb-height``...).

libbitcoinkernel decides whether a block is valid, but its API reports only a coarse result
class. These checks run first, in the order Bitcoin Core runs them, so ``submitblock`` can
answer with the same reason string bitcoind would; the kernel stays the final judge.
Pure functions: the caller passes the chain context (previous headers, coins, ``now``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stratumv2.bitcoin.block import find_witness_commitment, witness_merkle_root
from stratumv2.bitcoin.coinbase import bip34_height_push
from stratumv2.bitcoin.errors import BitcoinDecodeError
from stratumv2.bitcoin.hashes import merkle_root, sha256d
from stratumv2.bitcoin.header import BlockHeader
from stratumv2.bitcoin.target import bits_to_target as _bits_to_target
from stratumv2.bitcoin.tx import OutPoint, Reader, Transaction, TxIn, TxOut, compact_size
from stratumv2.roles.regtest_node.script import (
    WITNESS_SCALE_FACTOR,
    count_sigops,
    sigop_cost,
)

COIN = 100_000_000
MAX_MONEY = 21_000_000 * COIN
MAX_BLOCK_WEIGHT = 4_000_000
MAX_BLOCK_SIGOPS_COST = 80_000
COINBASE_MATURITY = 100
REGTEST_BITS = 0x207FFFFF
REGTEST_HALVING_INTERVAL = 150
MAX_FUTURE_BLOCK_TIME = 2 * 60 * 60
LOCKTIME_THRESHOLD = 500_000_000
SEQUENCE_FINAL = 0xFFFFFFFF


class BlockDecodeError(ValueError):
    """Bytes that are not a block (bitcoind: RPC -22 "Block decode failed")."""


@dataclass(frozen=True, slots=True)
class ParsedBlock:
    """A block as the node handles it: header, transactions, sizes (computed once)."""

    header: BlockHeader
    txs: tuple[Transaction, ...]
    size: int
    stripped_size: int

    @classmethod
    def build(cls, header: BlockHeader, txs: Sequence[Transaction]) -> ParsedBlock:
        """A block from its parts (serializes each transaction once to size it)."""
        count = len(compact_size(len(txs)))
        size = 80 + count + sum(len(tx.serialize()) for tx in txs)
        stripped = 80 + count + sum(len(tx.serialize(include_witness=False)) for tx in txs)
        return cls(header, tuple(txs), size, stripped)

    @property
    def hash(self) -> bytes:
        """Block hash, internal order."""
        return self.header.hash()

    @property
    def weight(self) -> int:
        """BIP141 block weight."""
        return self.stripped_size * 3 + self.size

    def serialize(self) -> bytes:
        """Consensus serialization (with witnesses)."""
        parts = [self.header.serialize(), compact_size(len(self.txs))]
        parts.extend(tx.serialize() for tx in self.txs)
        return b"".join(parts)


def _witness_len(tx: Transaction) -> int:
    """Bytes the witness adds to a transaction's serialization (marker, flag, stacks)."""
    if not tx.has_witness:
        return 0
    total = 2
    for txin in tx.inputs:
        total += len(compact_size(len(txin.witness)))
        total += sum(len(compact_size(len(item))) + len(item) for item in txin.witness)
    return total


def prime_tx_cache(tx: Transaction, raw: bytes) -> None:
    """Record ``tx``'s wtxid from its already-known serialization (saves re-serializing)."""
    cache = getattr(tx, "_cache", None)
    if isinstance(cache, dict):
        cache.setdefault("wtxid", sha256d(raw))


def parse_block(raw: bytes) -> ParsedBlock:
    """Parse a serialized block; raise BlockDecodeError on any malformation."""
    try:
        header = BlockHeader.parse(raw[:80])
        reader = Reader(raw, 80)
        count = reader.compact_size()
        txs: list[Transaction] = []
        stripped = reader.pos
        for _ in range(count):
            start = reader.pos
            tx = Transaction.read_from(reader)
            prime_tx_cache(tx, raw[start : reader.pos])
            stripped += reader.pos - start - _witness_len(tx)
            txs.append(tx)
    except (BitcoinDecodeError, ValueError) as exc:
        raise BlockDecodeError(f"Block decode failed: {exc}") from None
    if reader.remaining():
        raise BlockDecodeError("Block decode failed: trailing bytes")
    return ParsedBlock(header, tuple(txs), len(raw), stripped)


def bits_to_target(bits: int) -> int:
    """Target from compact ``nBits``; 0 for encodings Core refuses (negative, overflowing)."""
    try:
        return _bits_to_target(bits)
    except ValueError:
        return 0


POW_LIMIT = 0x7FFFFF << (8 * (0x20 - 3))


def block_subsidy(height: int) -> int:
    """Regtest block subsidy (halving every 150 blocks)."""
    halvings = height // REGTEST_HALVING_INTERVAL
    return 0 if halvings >= 64 else (50 * COIN) >> halvings


def median_time_past(times: Sequence[int]) -> int:
    """Median of the last (up to) 11 block times, as Core's GetMedianTimePast."""
    last = sorted(times[-11:])
    return last[len(last) // 2]


def is_final(tx: Transaction, height: int, cutoff_time: int) -> bool:
    """Core's IsFinalTx with BIP113 (``cutoff_time`` is the previous block's MTP)."""
    if tx.locktime == 0:
        return True
    limit = height if tx.locktime < LOCKTIME_THRESHOLD else cutoff_time
    if tx.locktime < limit:
        return True
    return all(txin.sequence == SEQUENCE_FINAL for txin in tx.inputs)


SEQUENCE_LOCKTIME_DISABLE_FLAG = 1 << 31
SEQUENCE_LOCKTIME_TYPE_FLAG = 1 << 22
SEQUENCE_LOCKTIME_MASK = 0xFFFF
SEQUENCE_LOCKTIME_GRANULARITY = 9


def sequence_locks_ok(
    tx: Transaction, coin_heights: Sequence[int], height: int, mtp_at: Callable[[int], int]
) -> bool:
    """BIP68 relative lock-times of ``tx`` met in a block at ``height`` (Core's
    CalculateSequenceLocks + EvaluateSequenceLocks); ``mtp_at(h)`` is the MTP at height h."""
    if tx.version < 2 or tx.is_coinbase:
        return True
    block_mtp = mtp_at(height - 1)
    for txin, coin_height in zip(tx.inputs, coin_heights, strict=True):
        sequence = txin.sequence
        if sequence & SEQUENCE_LOCKTIME_DISABLE_FLAG:
            continue
        value = sequence & SEQUENCE_LOCKTIME_MASK
        if sequence & SEQUENCE_LOCKTIME_TYPE_FLAG:
            base = mtp_at(max(coin_height - 1, 0))
            if base + (value << SEQUENCE_LOCKTIME_GRANULARITY) - 1 >= block_mtp:
                return False
        elif coin_height + value - 1 >= height:
            return False
    return True


def check_transaction(tx: Transaction, check_size: bool = True) -> str | None:
    """Core's context-free CheckTransaction; the reject reason or None.

    ``check_size=False`` skips the size limit (a block within its own limit implies it).
    """
    if not tx.inputs:
        return "bad-txns-vin-empty"
    if not tx.outputs:
        return "bad-txns-vout-empty"
    if check_size and (
        len(tx.serialize(include_witness=False)) * WITNESS_SCALE_FACTOR > MAX_BLOCK_WEIGHT
    ):
        return "bad-txns-oversize"
    total = 0
    for out in tx.outputs:
        if out.value < 0:
            return "bad-txns-vout-negative"
        if out.value > MAX_MONEY:
            return "bad-txns-vout-toolarge"
        total += out.value
        if total > MAX_MONEY:
            return "bad-txns-txouttotal-toolarge"
    if len({txin.prevout for txin in tx.inputs}) != len(tx.inputs):
        return "bad-txns-inputs-duplicate"
    if tx.is_coinbase:
        if not 2 <= len(tx.inputs[0].script_sig) <= 100:
            return "bad-cb-length"
    elif any(txin.prevout.is_null() for txin in tx.inputs):
        return "bad-txns-prevout-null"
    return None


def check_block(block: ParsedBlock, check_pow: bool = True) -> str | None:
    """Core's CheckBlock (proof of work, merkle root, sizes, coinbase, transactions)."""
    header = block.header
    target = bits_to_target(header.bits)
    if check_pow and (
        target == 0 or target > POW_LIMIT or int.from_bytes(block.hash, "little") > target
    ):
        return "high-hash"
    txids = [tx.txid for tx in block.txs]
    if not txids or merkle_root(txids) != header.merkle_root:
        return "bad-txnmrklroot"
    if len(set(txids)) != len(txids):
        return "bad-txns-duplicate"
    if (
        not block.txs
        or len(block.txs) * WITNESS_SCALE_FACTOR > MAX_BLOCK_WEIGHT
        or block.stripped_size * WITNESS_SCALE_FACTOR > MAX_BLOCK_WEIGHT
    ):
        return "bad-blk-length"
    if not block.txs[0].is_coinbase:
        return "bad-cb-missing"
    if any(tx.is_coinbase for tx in block.txs[1:]):
        return "bad-cb-multiple"
    for tx in block.txs:
        reason = check_transaction(tx, check_size=False)
        if reason:
            return reason
    legacy = 0
    for tx in block.txs:
        legacy += sum(count_sigops(i.script_sig) for i in tx.inputs)
        legacy += sum(count_sigops(o.script_pubkey) for o in tx.outputs)
    if legacy * WITNESS_SCALE_FACTOR > MAX_BLOCK_SIGOPS_COST:
        return "bad-blk-sigops"
    return None


def check_header_context(header: BlockHeader, prev_times: Sequence[int], now: int) -> str | None:
    """Core's ContextualCheckBlockHeader on regtest (no retargeting)."""
    if header.bits != REGTEST_BITS:
        return "bad-diffbits"
    if header.time <= median_time_past(prev_times):
        return "time-too-old"
    if header.time > now + MAX_FUTURE_BLOCK_TIME:
        return "time-too-new"
    version = header.version - (1 << 32) if header.version >= 1 << 31 else header.version
    if version < 4:
        return f"bad-version(0x{header.version:08x})"
    return None


def check_block_context(block: ParsedBlock, height: int, prev_times: Sequence[int]) -> str | None:
    """Core's ContextualCheckBlock: finality, BIP34 height, witness commitment, weight."""
    cutoff = median_time_past(prev_times)
    for tx in block.txs:
        if not is_final(tx, height, cutoff):
            return "bad-txns-nonfinal"
    coinbase = block.txs[0]
    expect = bip34_height_push(height)
    if not coinbase.inputs[0].script_sig.startswith(expect):
        return "bad-cb-height"
    commitment = find_witness_commitment(coinbase)
    if commitment is not None:
        witness = coinbase.inputs[0].witness
        if len(witness) != 1 or len(witness[0]) != 32:
            return "bad-witness-nonce-size"
        root = witness_merkle_root([tx.wtxid for tx in block.txs[1:]])
        if commitment != sha256d(root + witness[0]):
            return "bad-witness-merkle-match"
    elif any(tx.has_witness for tx in block.txs):
        return "unexpected-witness"
    if block.weight > MAX_BLOCK_WEIGHT:
        return "bad-blk-weight"
    return None


@dataclass(frozen=True, slots=True)
class Coin:
    """An unspent output in the node's UTXO view."""

    value: int
    script_pubkey: bytes
    height: int
    is_coinbase: bool

    def as_txout(self) -> TxOut:
        """The output itself."""
        return TxOut(self.value, self.script_pubkey)


def check_block_inputs(
    block: ParsedBlock,
    height: int,
    get_coin: Callable[[OutPoint], Coin | None],
    mtp_at: Callable[[int], int] | None = None,
) -> str | None:
    """The coin checks of Core's ConnectBlock (spent/missing inputs, maturity, amounts).

    Scripts are left to the kernel; :func:`diagnose_scripts` names a failure afterwards.
    """
    created: dict[OutPoint, Coin] = {}
    spent: set[OutPoint] = set()
    fees = 0
    sigops = 0
    for tx in block.txs:
        if not tx.is_coinbase:
            value_in = 0
            prevouts: list[TxOut] = []
            heights: list[int] = []
            for txin in tx.inputs:
                op = txin.prevout
                coin = created.get(op) if op in created else get_coin(op)
                if coin is None or op in spent:
                    return "bad-txns-inputs-missingorspent"
                if coin.is_coinbase and height - coin.height < COINBASE_MATURITY:
                    return "bad-txns-premature-spend-of-coinbase"
                value_in += coin.value
                prevouts.append(coin.as_txout())
                heights.append(coin.height)
                spent.add(op)
            if mtp_at is not None and not sequence_locks_ok(tx, heights, height, mtp_at):
                return "bad-txns-nonfinal"
            value_out = sum(o.value for o in tx.outputs)
            if value_in < value_out:
                return "bad-txns-in-belowout"
            fees += value_in - value_out
            sigops += sigop_cost(tx, prevouts)
        else:
            sigops += sigop_cost(tx, None)
        if sigops > MAX_BLOCK_SIGOPS_COST:
            return "bad-blk-sigops"
        for index, out in enumerate(tx.outputs):
            created[OutPoint(tx.txid, index)] = Coin(
                out.value, out.script_pubkey, height, tx.is_coinbase
            )
    if sum(o.value for o in block.txs[0].outputs) > block_subsidy(height) + fees:
        return "bad-cb-amount"
    return None


def with_default_witness_nonce(block: ParsedBlock) -> ParsedBlock:
    """Core's UpdateUncommittedBlockStructures: add the zero witness nonce if it is missing."""
    coinbase = block.txs[0]
    if find_witness_commitment(coinbase) is None or coinbase.inputs[0].witness:
        return block
    first = coinbase.inputs[0]
    fixed_input = TxIn(first.prevout, first.script_sig, first.sequence, (b"\x00" * 32,))
    fixed = Transaction(
        coinbase.version, (fixed_input, *coinbase.inputs[1:]), coinbase.outputs, coinbase.locktime
    )
    txs = (fixed, *block.txs[1:])
    size = block.size + 2 + 1 + 1 + 32  # marker+flag, stack count, item length, item
    return ParsedBlock(block.header, txs, size, block.stripped_size)
