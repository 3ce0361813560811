"""``sv2 tp --explain``: the current template in words, and what the policy took out and why."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from stratumv2.bitcoin.hashes import hash_to_hex
from stratumv2.roles.template_provider.core import (
    BlockTemplate,
    coinbase_reservation_weight,
)

__all__ = ["Removal", "explain_text"]

_HEADER_AND_COINBASE_WEIGHT = coinbase_reservation_weight(0)


@dataclass(frozen=True, slots=True)
class Removal:
    """One transaction the policy left out: its txid (display hex) and the reason."""

    txid: str
    reason: str


def _summary(label: str, t: BlockTemplate) -> list[str]:
    weight = t.total_weight + _HEADER_AND_COINBASE_WEIGHT
    vsize = sum((w + 3) // 4 for w in t.weights)
    rate = t.total_fees / vsize if vsize else 0.0
    return [
        f"{label}:",
        f"  transactions   {len(t.transactions)}",
        f"  fees           {t.total_fees} sat ({t.total_fees / 1e8:.8f} BTC), "
        f"{rate:.2f} sat/vB on average",
        f"  coinbase value {t.coinbase_value} sat",
        f"  weight         {weight} WU (of 4000000, with header and a small coinbase)",
        f"  sigops cost    {t.total_sigops}",
    ]


def explain_text(
    original: BlockTemplate,
    filtered: BlockTemplate,
    removals: Sequence[Removal],
    policy_lines: Sequence[str] = (),
    limit: int = 50,
) -> str:
    """A report for people: node's template, the policy, the result, each removal's reason."""
    lines = [
        f"Template for height {original.height} on {hash_to_hex(original.prev_hash)}",
        f"  version 0x{original.version:08x}, bits {original.bits:08x}, time {original.curtime}",
        "",
        *_summary("From the node", original),
        "",
    ]
    if policy_lines:
        lines += ["Policy:", *(f"  {p}" for p in policy_lines), ""]
    else:
        lines += ["Policy: none (the node's template is used as is)", ""]
    lines += _summary("After the policy (what clients receive)", filtered)
    lines.append("")
    if not removals:
        lines.append("Removed: nothing")
    else:
        lost = original.total_fees - filtered.total_fees
        lines.append(f"Removed: {len(removals)} transactions, {lost} sat of fees")
        for reason, count in Counter(r.reason.split(":")[0] for r in removals).most_common():
            lines.append(f"  {count:6d}  {reason}")
        lines.append("")
        for removal in removals[:limit]:
            lines.append(f"  {removal.txid}  {removal.reason}")
        if len(removals) > limit:
            lines.append(f"  ... and {len(removals) - limit} more")
    return "\n".join(lines) + "\n"
