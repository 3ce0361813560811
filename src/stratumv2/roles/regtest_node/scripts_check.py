"""Script verification with libbitcoinkernel (Bitcoin Core's interpreter)."""

from __future__ import annotations

import pbk
from pbk.script import PrecomputedTransactionData

from stratumv2.bitcoin.tx import Transaction, TxOut

STANDARD_FLAGS = pbk.ScriptVerificationFlags.ALL
"""P2SH, DERSIG, NULLDUMMY, CLTV, CSV, WITNESS, TAPROOT: every consensus rule active on
regtest (the kernel's API exposes no policy-only flags)."""


def first_script_failure(
    tx: Transaction, spent: list[TxOut], flags: int = STANDARD_FLAGS
) -> str | None:
    """None if every input's script passes, else a short description of the first failure."""
    ktx = pbk.Transaction(tx.serialize())
    kouts = [pbk.TransactionOutput(pbk.ScriptPubkey(o.script_pubkey), o.value) for o in spent]
    precomputed = PrecomputedTransactionData(ktx, kouts)
    for index, out in enumerate(spent):
        script = pbk.ScriptPubkey(out.script_pubkey)
        try:
            ok = script.verify(
                out.value, ktx, precomputed, index, pbk.ScriptVerificationFlags(flags)
            )
        except pbk.ScriptVerifyException as exc:
            return f"input {index}: {exc.status.name}"
        if not ok:
            return f"Script failed on input {index}"
    return None
