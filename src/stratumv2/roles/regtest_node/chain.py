"""The node's chainstate: libbitcoinkernel validates and stores; we keep light indexes.

Every block on the active chain was accepted by the kernel's ``process_block``. Next to the
kernel we keep what its API does not expose: height -> hash, block summaries, a txid index
and a UTXO view (for the mempool and the transaction generator). They are saved at close
(``node-index.json``, a cache) and, at start, loaded and brought up to the kernel's tip, or
rebuilt by reading the active chain's blocks back from the kernel when the file is missing,
damaged or off the kernel's chain.

Not thread-safe: the service calls it from its event loop thread only.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pbk
from pbk.capi import KernelOpaquePtr

from stratumv2.bitcoin.header import BlockHeader
from stratumv2.bitcoin.tx import OutPoint, Transaction, TxOut
from stratumv2.roles.regtest_node.consensus import (
    Coin,
    ParsedBlock,
    check_block,
    check_block_context,
    check_block_inputs,
    check_header_context,
    median_time_past,
    parse_block,
    with_default_witness_nonce,
)
from stratumv2.roles.regtest_node.scripts_check import first_script_failure

log = logging.getLogger(__name__)

UNEXPLAINED_REJECTION = "bad-block-consensus"
"""Our answer when the kernel refuses a block for a reason its API does not name and our
own checks did not find (bitcoind would give a specific string)."""
INDEX_FILE = "node-index.json"
INDEX_VERSION = 1

_RESULT_REASONS = {
    pbk.BlockValidationResult.CACHED_INVALID: "duplicate-invalid",
    pbk.BlockValidationResult.INVALID_HEADER: "high-hash",
    pbk.BlockValidationResult.MUTATED: "bad-txnmrklroot",
    pbk.BlockValidationResult.MISSING_PREV: "prev-blk-not-found",
    pbk.BlockValidationResult.INVALID_PREV: "bad-prevblk",
    pbk.BlockValidationResult.TIME_FUTURE: "time-too-new",
    pbk.BlockValidationResult.HEADER_LOW_WORK: "too-little-chainwork",
}


def _kernel_block(raw: bytes) -> pbk.Block:
    """``pbk.Block(raw)`` without its per-byte ctypes copy (slow for large blocks)."""
    block = pbk.Block.__new__(pbk.Block)
    buffer = (ctypes.c_ubyte * len(raw)).from_buffer_copy(raw)
    KernelOpaquePtr.__init__(block, buffer, len(raw))
    return block


_NOT_CACHED = {
    # Core does not remember these as invalid: the same hash may come back valid.
    pbk.BlockValidationResult.MUTATED,
    pbk.BlockValidationResult.MISSING_PREV,
    pbk.BlockValidationResult.TIME_FUTURE,
    pbk.BlockValidationResult.HEADER_LOW_WORK,
}


class ChainOpenError(RuntimeError):
    """The chainstate cannot be opened (another node holds the directory, or it is damaged)."""


@dataclass(frozen=True, slots=True)
class BlockInfo:
    """Summary of a block on the active chain."""

    hash: bytes
    height: int
    header: BlockHeader
    size: int
    stripped_size: int
    weight: int
    n_tx: int


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """Outcome of :meth:`Chain.submit_block`: ``reason`` is None when the block was accepted."""

    reason: str | None
    block_hash: bytes
    tip_changed: bool


@dataclass(frozen=True, slots=True)
class PendingSubmit:
    """A block the kernel has processed but whose effects we have not indexed yet."""

    reason: str | None
    block: ParsedBlock
    connected: list[tuple[bytes, int]]
    disconnected: list[bytes]


@dataclass(frozen=True, slots=True)
class ChainUpdate:
    """What one tip change did: blocks connected (with heights) and, in a reorganisation,
    the blocks disconnected (tip first)."""

    connected: tuple[tuple[ParsedBlock, int], ...]
    disconnected: tuple[ParsedBlock, ...] = ()

    @property
    def reorg(self) -> bool:
        """True if blocks were disconnected."""
        return bool(self.disconnected)


ChainListener = Callable[[ChainUpdate], None]
"""Called after every tip change."""


class Chain:
    """A regtest chainstate in ``datadir`` (kernel data lives in ``datadir/blocks``...)."""

    def __init__(self, datadir: Path | str) -> None:
        self.datadir = Path(datadir)
        self.datadir.mkdir(parents=True, exist_ok=True)
        self._checked: dict[bytes, pbk.BlockValidationResult | None] = {}
        self._connected: list[tuple[bytes, int]] = []
        self._disconnected: list[bytes] = []
        self._callbacks = pbk.ValidationInterfaceCallbacks(
            block_checked=self._on_block_checked,
            block_connected=self._on_block_connected,
            block_disconnected=self._on_block_disconnected,
        )
        try:
            self._chainman: pbk.ChainstateManager | None = pbk.load_chainman(
                self.datadir, pbk.ChainType.REGTEST, self._callbacks
            )
        except RuntimeError as exc:
            raise ChainOpenError(
                f"cannot open the chainstate in {self.datadir} (is another node using it?): {exc}"
            ) from None
        self._infos: list[BlockInfo] = []
        self._heights: dict[bytes, int] = {}
        self._utxos: dict[OutPoint, Coin] = {}
        self._tx_heights: dict[bytes, int] = {}
        self._invalid: set[bytes] = set()
        self._listeners: list[ChainListener] = []
        self._connected.clear()
        if not self._load_index():
            self._rebuild()

    # ---- kernel callbacks (run synchronously inside process_block) ------------------------

    def _on_block_checked(self, _ud: object, block: pbk.Block, state: object) -> None:
        assert isinstance(state, pbk.BlockValidationState)
        valid = state.validation_mode == pbk.ValidationMode.VALID
        result = None if valid else state.block_validation_result
        self._checked[bytes(block.block_hash)] = result

    def _on_block_connected(self, _ud: object, block: pbk.Block, entry: object) -> None:
        assert isinstance(entry, pbk.BlockTreeEntry)
        self._connected.append((bytes(block.block_hash), entry.height))

    def _on_block_disconnected(self, _ud: object, block: pbk.Block, _entry: object) -> None:
        self._disconnected.append(bytes(block))

    # ---- lifecycle and indexes ------------------------------------------------------------

    @property
    def chainman(self) -> pbk.ChainstateManager:
        """The kernel's chainstate manager (raises once closed)."""
        if self._chainman is None:
            raise RuntimeError("chain is closed")
        return self._chainman

    def close(self) -> None:
        """Save our indexes, flush and release the kernel chainstate (and the directory lock)."""
        if self._chainman is not None:
            try:
                self._save_index()
            except OSError as exc:
                log.warning("could not save the node index (rebuilt at next start): %s", exc)
            chainman, self._chainman = self._chainman, None
            chainman.__exit__(None, None, None)

    @property
    def index_path(self) -> Path:
        """Where our indexes are saved at close (a cache: deleting it forces a rebuild)."""
        return self.datadir / INDEX_FILE

    def _save_index(self) -> None:
        doc = {
            "version": INDEX_VERSION,
            "blocks": [
                [i.header.serialize().hex(), i.size, i.stripped_size, i.n_tx] for i in self._infos
            ],
            "utxos": [
                [op.txid.hex(), op.vout, c.value, c.script_pubkey.hex(), c.height, c.is_coinbase]
                for op, c in self._utxos.items()
            ],
            "txs": [[txid.hex(), height] for txid, height in self._tx_heights.items()],
        }
        tmp = self.index_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, self.index_path)

    def _load_index(self) -> bool:
        """Load the saved indexes if they describe a prefix of the kernel's active chain,
        then index the blocks connected since. False if there is nothing usable."""
        try:
            doc = json.loads(self.index_path.read_text(encoding="utf-8"))
            if doc.get("version") != INDEX_VERSION:
                return False
            infos = []
            for height, (header_hex, size, stripped, n_tx) in enumerate(doc["blocks"]):
                header = BlockHeader.parse(bytes.fromhex(header_hex))
                weight = stripped * 3 + size
                infos.append(BlockInfo(header.hash(), height, header, size, stripped, weight, n_tx))
            utxos = {
                OutPoint(bytes.fromhex(txid), vout): Coin(
                    value, bytes.fromhex(script), height, bool(coinbase)
                )
                for txid, vout, value, script, height, coinbase in doc["utxos"]
            }
            tx_heights = {bytes.fromhex(txid): height for txid, height in doc["txs"]}
        except (OSError, ValueError, TypeError, KeyError) as exc:
            if self.index_path.exists():
                log.warning("ignoring the saved node index (%s): rebuilding", exc)
            return False
        active = self.chainman.get_active_chain()
        if not infos or len(infos) - 1 > active.height:
            return False
        entries = active.block_tree_entries
        if bytes(entries[len(infos) - 1].block_hash) != infos[-1].hash:
            return False  # the kernel's chain went elsewhere (a reorg we did not see)
        self._infos = infos
        self._heights = {info.hash: info.height for info in infos}
        self._utxos = utxos
        self._tx_heights = tx_heights
        for height in range(len(infos), active.height + 1):
            self._apply(parse_block(bytes(self.chainman.blocks[entries[height]])), height)
        return True

    def _rebuild(self) -> None:
        """(Re)build our indexes from the kernel's active chain."""
        self._infos = []
        self._heights = {}
        self._utxos = {}
        self._tx_heights = {}
        active = self.chainman.get_active_chain()
        entries = active.block_tree_entries
        for height in range(active.height + 1):
            entry = entries[height]
            raw = bytes(self.chainman.blocks[entry])
            self._apply(parse_block(raw), height)

    def _apply(self, block: ParsedBlock, height: int) -> None:
        block_hash = block.hash
        self._infos.append(
            BlockInfo(
                block_hash,
                height,
                block.header,
                block.size,
                block.stripped_size,
                block.weight,
                len(block.txs),
            )
        )
        self._heights[block_hash] = height
        for tx in block.txs:
            txid = tx.txid
            self._tx_heights[txid] = height
            if height == 0:
                continue  # the genesis coinbase is not spendable
            if not tx.is_coinbase:
                for txin in tx.inputs:
                    self._utxos.pop(txin.prevout, None)
            for index, out in enumerate(tx.outputs):
                if out.script_pubkey[:1] == b"\x6a":
                    continue
                self._utxos[OutPoint(txid, index)] = Coin(
                    out.value, out.script_pubkey, height, tx.is_coinbase
                )

    def add_listener(self, listener: ChainListener) -> None:
        """Call ``listener`` after every tip change."""
        self._listeners.append(listener)

    # ---- queries ---------------------------------------------------------------------------

    @property
    def height(self) -> int:
        """Height of the active tip."""
        return len(self._infos) - 1

    @property
    def tip(self) -> BlockInfo:
        """The active tip."""
        return self._infos[-1]

    def info_at(self, height: int) -> BlockInfo:
        """Block at ``height`` on the active chain (IndexError when out of range)."""
        if height < 0:
            raise IndexError(height)
        return self._infos[height]

    def height_of(self, block_hash: bytes) -> int | None:
        """Height of a block on the active chain, or None."""
        return self._heights.get(block_hash)

    def is_known(self, block_hash: bytes) -> bool:
        """True if the kernel has this block (or header) in its index, active or not."""
        return pbk.BlockHash(block_hash) in self.chainman.block_tree_entries

    def raw_block(self, block_hash: bytes) -> bytes | None:
        """Serialized block read back from the kernel's block files."""
        key = pbk.BlockHash(block_hash)
        entries = self.chainman.block_tree_entries
        if key not in entries:
            return None
        entry = entries[key]
        if entry not in self.chainman.blocks:
            return None
        return bytes(self.chainman.blocks[entry])

    def times_up_to(self, height: int) -> list[int]:
        """Times of the last 11 blocks ending at ``height`` (for median time past)."""
        start = max(0, height - 10)
        return [info.header.time for info in self._infos[start : height + 1]]

    def median_time_past(self, height: int | None = None) -> int:
        """Median time past at ``height`` (default: the tip)."""
        return median_time_past(self.times_up_to(self.height if height is None else height))

    def get_coin(self, outpoint: OutPoint) -> Coin | None:
        """An unspent output of the active chain, or None."""
        return self._utxos.get(outpoint)

    def coins(self) -> dict[OutPoint, Coin]:
        """The whole UTXO view (do not modify)."""
        return self._utxos

    def tx_height(self, txid: bytes) -> int | None:
        """Height of the block that confirmed ``txid`` on the active chain, or None."""
        return self._tx_heights.get(txid)

    def find_transaction(self, txid: bytes) -> tuple[Transaction, BlockInfo] | None:
        """A confirmed transaction and the block holding it."""
        height = self._tx_heights.get(txid)
        if height is None:
            return None
        info = self._infos[height]
        raw = self.raw_block(info.hash)
        if raw is None:
            return None
        for tx in parse_block(raw).txs:
            if tx.txid == txid:
                return tx, info
        return None

    def spent_outputs(self, tx: Transaction) -> list[TxOut] | None:
        """Outputs spent by ``tx`` according to the UTXO view (None if any is missing)."""
        outs: list[TxOut] = []
        for txin in tx.inputs:
            coin = self._utxos.get(txin.prevout)
            if coin is None:
                return None
            outs.append(coin.as_txout())
        return outs

    # ---- submitting ------------------------------------------------------------------------

    def known_result(self, block_hash: bytes) -> str | None:
        """bitcoind's answer for a block it has seen before, or None if it is new."""
        if block_hash in self._heights:
            return "duplicate"
        if block_hash in self._invalid:
            return "duplicate-invalid"
        return None

    def precheck(self, block: ParsedBlock, now: int, check_pow: bool = True) -> str | None:
        """Run Core's checks in Core's order; the reject reason, or None if they pass."""
        reason = check_block(block, check_pow)
        if reason:
            return reason
        prev_height = self._heights.get(block.header.prev_hash)
        if prev_height is None:
            if not self.is_known(block.header.prev_hash):
                return "prev-blk-not-found"
            if block.header.prev_hash in self._invalid:
                return "bad-prevblk"
            return None  # builds on a side branch: the kernel decides
        prev_times = self.times_up_to(prev_height)
        reason = check_header_context(block.header, prev_times, now)
        if reason:
            return reason
        reason = check_block_context(block, prev_height + 1, prev_times)
        if reason:
            return reason
        if prev_height == self.height:
            return check_block_inputs(
                block, prev_height + 1, self._utxos.get, self.median_time_past
            )
        return None

    def submit_block(self, block: ParsedBlock, now: int, raw: bytes | None = None) -> SubmitResult:
        """Validate ``block`` (ours, then the kernel's) and connect it if valid.

        ``raw`` is the block's serialization when the caller has it. The chain is unchanged
        when the block is rejected. Listeners run after a tip change. This is
        :meth:`validate_block` then :meth:`commit`.
        """
        return self.commit(self.validate_block(block, now, raw))

    def validate_block(
        self, block: ParsedBlock, now: int, raw: bytes | None = None
    ) -> PendingSubmit:
        """Phase one of a submission: our checks, then the kernel's ``process_block``.

        It leaves our indexes alone, so it may run in a worker thread while the event loop
        keeps reading them, provided submissions are serialized and :meth:`commit` runs
        next, in the loop thread.
        """
        block_hash = block.hash
        known = self.known_result(block_hash)
        if known:
            return PendingSubmit(known, block, [], [])
        fixed = with_default_witness_nonce(block)
        if fixed is not block:
            block, raw = fixed, None
        reason = self.precheck(block, now)
        if reason:
            return PendingSubmit(reason, block, [], [])
        return self._kernel_process(block, raw)

    def commit(self, pending: PendingSubmit) -> SubmitResult:
        """Phase two: index what the kernel connected or disconnected, tell the listeners."""
        tip_changed = self._sync_tip(pending.block, pending.connected, pending.disconnected)
        return SubmitResult(pending.reason, pending.block.hash, tip_changed)

    def _process(self, block: ParsedBlock, raw: bytes | None) -> SubmitResult:
        """The kernel alone (no pre-checks), then commit: for tests and diagnostics."""
        return self.commit(self._kernel_process(block, raw))

    def _kernel_process(self, block: ParsedBlock, raw: bytes | None) -> PendingSubmit:
        block_hash = block.hash
        self._checked.pop(block_hash, None)
        self._connected = []
        self._disconnected = []
        if raw is None:
            raw = block.serialize()
        try:
            is_new = self.chainman.process_block(_kernel_block(raw))
        except pbk.ProcessBlockException:
            is_new = True
        connected, self._connected = self._connected, []
        disconnected_raw, self._disconnected = self._disconnected, []
        reason: str | None = None
        if block_hash in self._checked:
            result = self._checked.pop(block_hash)
            if result is not None:
                reason = _RESULT_REASONS.get(result) or self._diagnose(block)
                if result not in _NOT_CACHED:
                    self._invalid.add(block_hash)
        elif not is_new:
            reason = "duplicate"
        else:
            reason = "inconclusive"
        return PendingSubmit(reason, block, connected, disconnected_raw)

    def _read(self, block_hash: bytes, submitted: ParsedBlock) -> ParsedBlock:
        if block_hash == submitted.hash:
            return submitted
        raw = self.raw_block(block_hash)
        if raw is None:
            raise RuntimeError(f"block {block_hash[::-1].hex()} missing from the kernel's files")
        return parse_block(raw)

    def _sync_tip(
        self,
        submitted: ParsedBlock,
        connected: list[tuple[bytes, int]],
        disconnected_raw: list[bytes],
    ) -> bool:
        disconnected = [parse_block(raw) for raw in disconnected_raw]
        if not connected and not disconnected:
            return False
        blocks: list[tuple[ParsedBlock, int]] = []
        if not disconnected:
            for block_hash, height in connected:
                if height < len(self._infos) and self._infos[height].hash == block_hash:
                    continue  # already indexed (the genesis block at start-up)
                if height != len(self._infos):
                    blocks.clear()
                    disconnected = [
                        parse_block(self.raw_block(i.hash) or b"") for i in self._infos[height:]
                    ]
                    break
                block = self._read(block_hash, submitted)
                self._apply(block, height)
                blocks.append((block, height))
        if disconnected:
            log.info("reorganisation: %d block(s) disconnected", len(disconnected))
            self._rebuild()
            blocks = [
                (
                    submitted if h == submitted.hash else parse_block(self.raw_block(h) or b""),
                    height,
                )
                for h, height in connected
                if self.height_of(h) == height
            ]
        update = ChainUpdate(tuple(blocks), tuple(disconnected))
        for listener in self._listeners:
            try:
                listener(update)
            except Exception:
                log.exception("chain listener failed")
        return True

    def _diagnose(self, block: ParsedBlock) -> str:
        """Name a kernel rejection our pre-checks missed (usually a script failure)."""
        prev_height = self._heights.get(block.header.prev_hash)
        if prev_height is not None and prev_height == self.height:
            created: dict[OutPoint, Coin] = {}
            for tx in block.txs:
                if not tx.is_coinbase:
                    spent = []
                    for txin in tx.inputs:
                        coin = created.get(txin.prevout) or self._utxos.get(txin.prevout)
                        if coin is None:
                            return "bad-txns-inputs-missingorspent"
                        spent.append(coin.as_txout())
                    failure = first_script_failure(tx, spent)
                    if failure is not None:
                        return f"block-script-verify-flag-failed ({failure})"
                for index, out in enumerate(tx.outputs):
                    created[OutPoint(tx.txid, index)] = Coin(
                        out.value, out.script_pubkey, prev_height + 1, tx.is_coinbase
                    )
        return UNEXPLAINED_REJECTION
