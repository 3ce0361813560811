"""The user's transaction policy applied to a ``getblocktemplate`` result.

Input and output are the dict bitcoind returns (``transactions`` with ``data``, ``txid``,
``hash``, ``depends``, ``fee``, ``weight``...). The filter runs in this order, and dropping a
transaction always drops everything that depends on it (gbt ``depends`` are 1-based indices
into ``transactions``; they are re-indexed in the result):

1. ``excluded_txids``: removed.
2. ``max_op_return_size``: a transaction whose OP_RETURN outputs carry more data bytes in
   total (the pushed bytes, summed over its OP_RETURN outputs) than this is removed.
3. ``min_fee_rate`` (sat/vB), package-aware like a miner: a transaction is selected when the
   fee rate of itself plus its in-template ancestors reaches the minimum; selected
   transactions keep their ancestors (child pays for parent). Prioritised transactions and
   their ancestors are never dropped for fee rate. The rest is removed.
4. ``max_weight``: transactions are taken in order (prioritised ones, preceded by their
   ancestors, first; then the template's own order, which is bitcoind's mining priority)
   while their summed weight fits; one that does not fit is removed.

Prioritised transactions come first in the result. ``coinbasevalue`` loses the fees of the
removed transactions and ``default_witness_commitment`` (when present) is recomputed from the
remaining wtxids. Every removal is reported as ``Removed(txid, reason, because_of)`` for
``sv2 tp --explain``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stratumv2.bitcoin.block import witness_commitment, witness_commitment_script
from stratumv2.bitcoin.hashes import hex_to_hash
from stratumv2.bitcoin.tx import Transaction

__all__ = [
    "EXCLUDED",
    "FEE_RATE",
    "OP_RETURN",
    "WEIGHT",
    "WITH_ANCESTOR",
    "FilteredTemplate",
    "Policy",
    "Removed",
    "apply_policy",
    "op_return_data_size",
]

EXCLUDED = "excluded"
OP_RETURN = "op-return-too-large"
FEE_RATE = "fee-rate-too-low"
WEIGHT = "weight-limit"
WITH_ANCESTOR = "ancestor-removed"

OP_RETURN_OPCODE = 0x6A


@dataclass(frozen=True, slots=True)
class Policy:
    """Transaction policy for templates (the TP's ``[policy]`` config maps onto this).

    min_fee_rate: sat/vB (fee over ceil(weight / 4)); 0 keeps everything.
    excluded_txids: txids (RPC hex) never to mine.
    max_op_return_size: most OP_RETURN data bytes a transaction may carry; None = no limit.
    max_weight: most summed weight of the template's transactions (coinbase and header not
        included); None = no limit.
    prioritised_txids: txids (RPC hex) placed first and never dropped for fee rate.
    """

    min_fee_rate: float = 0.0
    excluded_txids: frozenset[str] = frozenset()
    max_op_return_size: int | None = None
    max_weight: int | None = None
    prioritised_txids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.min_fee_rate < 0:
            raise ValueError("min_fee_rate must be >= 0")
        if self.max_op_return_size is not None and self.max_op_return_size < 0:
            raise ValueError("max_op_return_size must be >= 0")
        if self.max_weight is not None and self.max_weight < 0:
            raise ValueError("max_weight must be >= 0")
        object.__setattr__(
            self, "excluded_txids", frozenset(t.lower() for t in self.excluded_txids)
        )
        object.__setattr__(
            self, "prioritised_txids", tuple(t.lower() for t in self.prioritised_txids)
        )

    @property
    def is_empty(self) -> bool:
        """True when the policy cannot change any template."""
        return (
            self.min_fee_rate == 0
            and not self.excluded_txids
            and self.max_op_return_size is None
            and self.max_weight is None
            and not self.prioritised_txids
        )


@dataclass(frozen=True, slots=True)
class Removed:
    """A transaction the policy removed: why, and the removed ancestor that caused it."""

    txid: str
    reason: str
    because_of: str | None = None


@dataclass(frozen=True, slots=True)
class FilteredTemplate:
    """The template after the policy, and what was removed (in removal order)."""

    template: dict[str, Any]
    removed: tuple[Removed, ...]


def op_return_data_size(script_pubkey: bytes) -> int:
    """Data bytes pushed by an OP_RETURN output script (0 if it is not OP_RETURN).

    Counts the payload of each push; bytes that are not a well-formed push count as data.
    """
    if not script_pubkey or script_pubkey[0] != OP_RETURN_OPCODE:
        return 0
    size = 0
    pos = 1
    end = len(script_pubkey)
    while pos < end:
        op = script_pubkey[pos]
        pos += 1
        if op <= 0x4B:
            length = op
        elif op in (0x4C, 0x4D, 0x4E):
            width = {0x4C: 1, 0x4D: 2, 0x4E: 4}[op]
            if pos + width > end:
                return size + end - pos + 1
            length = int.from_bytes(script_pubkey[pos : pos + width], "little")
            pos += width
        else:
            continue  # OP_1..OP_16 and other opcodes carry no pushed data
        if pos + length > end:
            return size + end - pos
        size += length
        pos += length
    return size


def _vsize(weight: int) -> int:
    return (weight + 3) // 4


def apply_policy(template: Mapping[str, Any], policy: Policy) -> FilteredTemplate:
    """Apply ``policy`` to a getblocktemplate result; the input is not modified."""
    result = copy.deepcopy(dict(template))
    if policy.is_empty:
        return FilteredTemplate(result, ())
    txs: list[dict[str, Any]] = result.get("transactions", [])
    count = len(txs)
    txids = [str(tx["txid"]).lower() for tx in txs]
    parents = [[int(d) - 1 for d in tx.get("depends", ())] for tx in txs]
    children: list[list[int]] = [[] for _ in range(count)]
    for child, ps in enumerate(parents):
        for p in ps:
            if not 0 <= p < child:
                raise ValueError(f"transaction {child + 1} depends on {p + 1}: not before it")
            children[p].append(child)
    ancestors = _ancestor_sets(parents)
    weights = [int(tx["weight"]) for tx in txs]
    fees = [int(tx["fee"]) for tx in txs]
    index_of = {txid: i for i, txid in enumerate(txids)}
    prioritised = [index_of[t] for t in policy.prioritised_txids if t in index_of]

    removed: dict[int, Removed] = {}

    def remove(i: int, reason: str) -> None:
        if i in removed:
            return
        removed[i] = Removed(txids[i], reason)
        stack = list(children[i])
        while stack:
            d = stack.pop()
            if d not in removed:
                removed[d] = Removed(txids[d], WITH_ANCESTOR, txids[i])
                stack.extend(children[d])

    # 1-2: exclusions and OP_RETURN data
    for i, tx in enumerate(txs):
        if txids[i] in policy.excluded_txids:
            remove(i, EXCLUDED)
        elif policy.max_op_return_size is not None and i not in removed:
            parsed = Transaction.from_hex(str(tx["data"]))
            data = sum(op_return_data_size(o.script_pubkey) for o in parsed.outputs)
            if data > policy.max_op_return_size:
                remove(i, OP_RETURN)

    # 3: package-aware minimum fee rate
    if policy.min_fee_rate > 0:
        keep: set[int] = set()
        for i in range(count):
            if i in removed:
                continue
            package = ancestors[i] | {i}
            rate = sum(fees[j] for j in package) / sum(_vsize(weights[j]) for j in package)
            if rate >= policy.min_fee_rate or i in prioritised:
                keep |= package
        for i in range(count):
            if i not in removed and i not in keep:
                removed[i] = Removed(txids[i], FEE_RATE)

    # 4: order (prioritised first, after their ancestors) and weight cap
    order = _ordered(count, prioritised, ancestors, removed)
    if policy.max_weight is not None:
        total = 0
        for i in order:
            if i in removed:
                continue
            if total + weights[i] > policy.max_weight:
                remove(i, WEIGHT)
            else:
                total += weights[i]
    kept = [i for i in order if i not in removed]

    # rebuild the template
    new_index = {old: new for new, old in enumerate(kept)}
    new_txs = []
    for old in kept:
        tx = dict(txs[old])
        tx["depends"] = sorted(new_index[p] + 1 for p in parents[old])
        new_txs.append(tx)
    result["transactions"] = new_txs
    if "coinbasevalue" in result:
        result["coinbasevalue"] = int(result["coinbasevalue"]) - sum(fees[i] for i in removed)
    if "default_witness_commitment" in result:
        wtxids = [hex_to_hash(str(tx.get("hash", tx["txid"]))) for tx in new_txs]
        result["default_witness_commitment"] = witness_commitment_script(
            witness_commitment(wtxids)
        ).hex()
    return FilteredTemplate(result, tuple(removed.values()))


def _ancestor_sets(parents: Sequence[Sequence[int]]) -> list[frozenset[int]]:
    """All in-template ancestors of each transaction (parents come first in gbt order)."""
    out: list[frozenset[int]] = []
    for ps in parents:
        acc: set[int] = set(ps)
        for p in ps:
            acc |= out[p]
        out.append(frozenset(acc))
    return out


def _ordered(
    count: int,
    prioritised: Iterable[int],
    ancestors: Sequence[frozenset[int]],
    removed: Mapping[int, Removed],
) -> list[int]:
    """Prioritised transactions first (each after its ancestors), then the template order."""
    order: list[int] = []
    placed: set[int] = set()
    for p in prioritised:
        if p in removed:
            continue
        for i in sorted(ancestors[p] | {p}):
            if i not in placed:
                placed.add(i)
                order.append(i)
    order.extend(i for i in range(count) if i not in placed)
    return order
