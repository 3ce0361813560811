"""A small mempool: accepts transactions spending the chain's coins or other mempool outputs.

Scripts are verified by libbitcoinkernel with every consensus flag (taproot included).
Rejections carry bitcoind's RPC code and reason string. ``select`` picks transactions for a
block template by ancestor fee rate, parents first, within the weight and sigop limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stratumv2.bitcoin.tx import OutPoint, Transaction, TxOut
from stratumv2.roles.regtest_node.chain import Chain, ChainUpdate
from stratumv2.roles.regtest_node.consensus import (
    COIN,
    COINBASE_MATURITY,
    MAX_BLOCK_SIGOPS_COST,
    MAX_BLOCK_WEIGHT,
    Coin,
    check_transaction,
    is_final,
    prime_tx_cache,
    sequence_locks_ok,
)
from stratumv2.roles.regtest_node.script import sigop_cost
from stratumv2.roles.regtest_node.scripts_check import first_script_failure

RPC_TRANSACTION_ERROR = -25
RPC_TRANSACTION_REJECTED = -26
RPC_TRANSACTION_ALREADY_IN_UTXO_SET = -27
MAX_STANDARD_TX_WEIGHT = 400_000
DEFAULT_MIN_RELAY_FEE = 100  # sat per 1000 vbytes (Bitcoin Core 30+)
DEFAULT_MAX_FEE_RATE = COIN // 10  # sendrawtransaction's 0.10 BTC/kvB
COINBASE_RESERVED_WEIGHT = 8_000  # room Core keeps for the coinbase and header
COINBASE_RESERVED_SIGOPS = 400


class MempoolReject(Exception):
    """A transaction the mempool refuses: bitcoind's RPC error code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(slots=True, eq=False)
class MempoolEntry:
    """A transaction in the mempool with what templates need to know about it."""

    tx: Transaction
    raw: bytes
    fee: int
    weight: int
    sigops: int
    time: int
    height: int
    parents: set[bytes] = field(default_factory=set)
    children: set[bytes] = field(default_factory=set)

    @property
    def txid(self) -> bytes:
        """Transaction id (internal order)."""
        return self.tx.txid

    @property
    def vsize(self) -> int:
        """Virtual size in vbytes."""
        return (self.weight + 3) // 4


class Mempool:
    """Unconfirmed transactions on top of ``chain``'s UTXO view."""

    def __init__(self, chain: Chain, min_relay_fee: int = DEFAULT_MIN_RELAY_FEE) -> None:
        self.chain = chain
        self.min_relay_fee = min_relay_fee
        self.entries: dict[bytes, MempoolEntry] = {}
        self._spends: dict[OutPoint, bytes] = {}
        self.sequence = 0
        """Bumped on every change (bitcoind's ``GetTransactionsUpdated``)."""
        self.total_weight = 0
        """Sum of the entries' weights."""

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, txid: object) -> bool:
        return txid in self.entries

    def get(self, txid: bytes) -> MempoolEntry | None:
        """The entry for ``txid``, or None."""
        return self.entries.get(txid)

    def spender(self, outpoint: OutPoint) -> bytes | None:
        """Txid of the mempool transaction spending ``outpoint``, or None."""
        return self._spends.get(outpoint)

    def coin(self, outpoint: OutPoint) -> Coin | None:
        """An output that a new transaction may spend: unspent on chain or in the mempool."""
        if outpoint in self._spends:
            return None
        parent = self.entries.get(outpoint.txid)
        if parent is not None:
            if outpoint.vout >= len(parent.tx.outputs):
                return None
            out = parent.tx.outputs[outpoint.vout]
            return Coin(out.value, out.script_pubkey, self.chain.height + 1, False)
        return self.chain.get_coin(outpoint)

    # ---- acceptance ------------------------------------------------------------------------

    def accept(
        self,
        tx: Transaction,
        now: int,
        max_fee_rate: int | None = DEFAULT_MAX_FEE_RATE,
        test_only: bool = False,
    ) -> MempoolEntry:
        """Validate and add ``tx``; raise MempoolReject with bitcoind's code and reason.

        ``max_fee_rate`` is in sat per 1000 vbytes (None or 0: no limit). A transaction
        already in the mempool is returned as it is (``test_only``: refused as
        ``txn-already-in-mempool``, as testmempoolaccept says). ``test_only`` validates
        without adding.
        """
        txid = tx.txid
        existing = self.entries.get(txid)
        if existing is not None:
            if test_only:
                raise MempoolReject(RPC_TRANSACTION_REJECTED, "txn-already-in-mempool")
            return existing
        reason = check_transaction(tx)
        if reason:
            raise MempoolReject(RPC_TRANSACTION_REJECTED, reason)
        if tx.is_coinbase:
            raise MempoolReject(RPC_TRANSACTION_REJECTED, "coinbase")
        weight = tx.weight
        if weight > MAX_STANDARD_TX_WEIGHT:
            raise MempoolReject(RPC_TRANSACTION_REJECTED, "tx-size")
        height = self.chain.height + 1
        if not is_final(tx, height, self.chain.median_time_past()):
            raise MempoolReject(RPC_TRANSACTION_REJECTED, "non-final")
        if any(self.chain.get_coin(OutPoint(txid, i)) for i in range(len(tx.outputs))):
            raise MempoolReject(
                RPC_TRANSACTION_ALREADY_IN_UTXO_SET, "Transaction outputs already in utxo set"
            )
        spent: list[TxOut] = []
        coin_heights: list[int] = []
        parents: set[bytes] = set()
        value_in = 0
        for txin in tx.inputs:
            op = txin.prevout
            if op in self._spends:
                raise MempoolReject(RPC_TRANSACTION_REJECTED, "txn-mempool-conflict")
            coin = self.coin(op)
            if coin is None:
                raise MempoolReject(RPC_TRANSACTION_ERROR, "bad-txns-inputs-missingorspent")
            if coin.is_coinbase and height - coin.height < COINBASE_MATURITY:
                raise MempoolReject(
                    RPC_TRANSACTION_REJECTED, "bad-txns-premature-spend-of-coinbase"
                )
            if op.txid in self.entries:
                parents.add(op.txid)
            value_in += coin.value
            spent.append(coin.as_txout())
            coin_heights.append(coin.height)
        if not sequence_locks_ok(tx, coin_heights, height, self.chain.median_time_past):
            raise MempoolReject(RPC_TRANSACTION_REJECTED, "non-BIP68-final")
        value_out = sum(o.value for o in tx.outputs)
        if value_in < value_out:
            raise MempoolReject(
                RPC_TRANSACTION_REJECTED,
                f"bad-txns-in-belowout, value in ({_btc(value_in)}) < value out "
                f"({_btc(value_out)})",
            )
        fee = value_in - value_out
        vsize = (weight + 3) // 4
        min_fee = self.min_relay_fee * vsize // 1000
        if fee < min_fee:
            raise MempoolReject(
                RPC_TRANSACTION_REJECTED, f"min relay fee not met, {fee} < {min_fee}"
            )
        if max_fee_rate and fee > max_fee_rate * vsize // 1000:
            raise MempoolReject(
                RPC_TRANSACTION_ERROR,
                "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)",
            )
        failure = first_script_failure(tx, spent)
        if failure is not None:
            raise MempoolReject(
                RPC_TRANSACTION_REJECTED, f"mandatory-script-verify-flag-failed ({failure})"
            )
        raw = tx.serialize()
        prime_tx_cache(tx, raw)
        entry = MempoolEntry(tx, raw, fee, weight, sigop_cost(tx, spent), now, height - 1, parents)
        if not test_only:
            self._add(entry)
        return entry

    def _add(self, entry: MempoolEntry) -> None:
        txid = entry.txid
        self.entries[txid] = entry
        self.total_weight += entry.weight
        for txin in entry.tx.inputs:
            self._spends[txin.prevout] = txid
        for parent in entry.parents:
            self.entries[parent].children.add(txid)
        self.sequence += 1

    def remove(self, txid: bytes, with_descendants: bool = True) -> list[bytes]:
        """Remove a transaction (and by default everything spending it); the txids removed."""
        removed: list[bytes] = []
        stack = [txid]
        while stack:
            current = stack.pop()
            entry = self.entries.pop(current, None)
            if entry is None:
                continue
            removed.append(current)
            self.total_weight -= entry.weight
            for txin in entry.tx.inputs:
                if self._spends.get(txin.prevout) == current:
                    del self._spends[txin.prevout]
            for parent in entry.parents:
                if parent in self.entries:
                    self.entries[parent].children.discard(current)
            if with_descendants:
                stack.extend(entry.children)
            else:
                for child in entry.children:
                    if child in self.entries:
                        self.entries[child].parents.discard(current)
        if removed:
            self.sequence += 1
        return removed

    # ---- chain updates ---------------------------------------------------------------------

    def on_chain_update(self, update: ChainUpdate) -> None:
        """Drop mined and conflicting transactions. After a reorganisation, put the
        disconnected blocks' transactions back and re-check everything (as Core does)."""
        if update.reorg:
            resurrected = [tx for block in reversed(update.disconnected) for tx in block.txs[1:]]
            self._revalidate_all(resurrected)
            return
        for block, _height in update.connected:
            for tx in block.txs:
                if tx.txid in self.entries:
                    self.remove(tx.txid, with_descendants=False)
                if tx.is_coinbase:
                    continue
                for txin in tx.inputs:
                    other = self._spends.get(txin.prevout)
                    if other is not None and other != tx.txid:
                        self.remove(other)
        self.sequence += 1

    def _revalidate_all(self, first: list[Transaction]) -> None:
        old = list(self.entries.values())
        self.entries.clear()
        self._spends.clear()
        self.total_weight = 0
        now = max((e.time for e in old), default=0)
        candidates = [(tx, now) for tx in first] + [(e.tx, e.time) for e in old]
        for tx, when in candidates:
            try:
                self.accept(tx, when, max_fee_rate=None)
            except MempoolReject:
                continue
        self.sequence += 1

    # ---- block templates -------------------------------------------------------------------

    def ancestors(self, txid: bytes) -> set[bytes]:
        """All in-mempool ancestors of ``txid`` (not including itself)."""
        seen: set[bytes] = set()
        stack = list(self.entries[txid].parents)
        while stack:
            current = stack.pop()
            if current in seen or current not in self.entries:
                continue
            seen.add(current)
            stack.extend(self.entries[current].parents)
        return seen

    def descendants(self, txid: bytes) -> set[bytes]:
        """All in-mempool descendants of ``txid`` (not including itself)."""
        seen: set[bytes] = set()
        stack = list(self.entries[txid].children)
        while stack:
            current = stack.pop()
            if current in seen or current not in self.entries:
                continue
            seen.add(current)
            stack.extend(self.entries[current].children)
        return seen

    def select(
        self,
        max_weight: int = MAX_BLOCK_WEIGHT - COINBASE_RESERVED_WEIGHT,
        max_sigops: int = MAX_BLOCK_SIGOPS_COST - COINBASE_RESERVED_SIGOPS,
    ) -> list[MempoolEntry]:
        """Transactions for a block: best ancestor fee rate first, parents before children."""
        entries = self.entries
        order = {txid: i for i, txid in enumerate(entries)}
        ancestors: dict[bytes, set[bytes]] = {}
        for txid, entry in entries.items():  # parents come first in insertion order
            found: set[bytes] = set()
            for parent in entry.parents:
                found.add(parent)
                found |= ancestors[parent]
            ancestors[txid] = found
        packages: list[tuple[float, int, bytes]] = []
        for txid, entry in entries.items():
            fee = entry.fee + sum(entries[a].fee for a in ancestors[txid])
            weight = entry.weight + sum(entries[a].weight for a in ancestors[txid])
            packages.append((-fee / weight, order[txid], txid))
        packages.sort()
        chosen: set[bytes] = set()
        weight_used = 0
        sigops_used = 0
        for _score, _order, txid in packages:
            if txid in chosen:
                continue
            package = [a for a in ancestors[txid] if a not in chosen]
            package.append(txid)
            weight = sum(entries[t].weight for t in package)
            sigops = sum(entries[t].sigops for t in package)
            if weight_used + weight > max_weight or sigops_used + sigops > max_sigops:
                continue
            chosen.update(package)
            weight_used += weight
            sigops_used += sigops
        return [entries[t] for t in sorted(chosen, key=order.__getitem__)]


def _btc(sats: int) -> str:
    return f"{sats / COIN:.8f}"
