"""Sigop counting as Bitcoin Core does it (GetSigOpCount, GetTransactionSigOpCost)."""

from __future__ import annotations

from stratumv2.bitcoin.tx import Transaction, TxOut

OP_CHECKSIG = 0xAC
OP_CHECKSIGVERIFY = 0xAD
OP_CHECKMULTISIG = 0xAE
OP_CHECKMULTISIGVERIFY = 0xAF
MAX_PUBKEYS_PER_MULTISIG = 20
WITNESS_SCALE_FACTOR = 4
_SIGOP_BYTES = (b"\xac", b"\xad", b"\xae", b"\xaf")


def _ops(script: bytes) -> list[tuple[int, bytes]]:
    """Opcodes with their pushed data; stops quietly at a truncated push (as Core does)."""
    out: list[tuple[int, bytes]] = []
    i = 0
    n = len(script)
    while i < n:
        op = script[i]
        i += 1
        size = 0
        if op < 0x4C:
            size = op
        elif op == 0x4C:
            if i + 1 > n:
                break
            size = script[i]
            i += 1
        elif op == 0x4D:
            if i + 2 > n:
                break
            size = int.from_bytes(script[i : i + 2], "little")
            i += 2
        elif op == 0x4E:
            if i + 4 > n:
                break
            size = int.from_bytes(script[i : i + 4], "little")
            i += 4
        if i + size > n:
            break
        out.append((op, script[i : i + size]))
        i += size
    return out


def count_sigops(script: bytes, accurate: bool = False) -> int:
    """Bitcoin Core's ``GetSigOpCount``: CHECKSIG counts 1, CHECKMULTISIG 20 (or n)."""
    if not script or witness_program(script) is not None:
        return 0  # a witness program is one push: no opcode can count
    if not any(op in script for op in _SIGOP_BYTES):
        return 0
    total = 0
    last = 0xFF
    for op, _ in _ops(script):
        if op in (OP_CHECKSIG, OP_CHECKSIGVERIFY):
            total += 1
        elif op in (OP_CHECKMULTISIG, OP_CHECKMULTISIGVERIFY):
            if accurate and 0x51 <= last <= 0x60:
                total += last - 0x50
            else:
                total += MAX_PUBKEYS_PER_MULTISIG
        last = op
    return total


def is_p2sh(script: bytes) -> bool:
    """OP_HASH160 <20> OP_EQUAL."""
    return len(script) == 23 and script[0] == 0xA9 and script[1] == 0x14 and script[22] == 0x87


def witness_program(script: bytes) -> tuple[int, bytes] | None:
    """(version, program) of a segwit output script, else None."""
    if len(script) < 4 or len(script) > 42:
        return None
    if script[0] != 0 and not 0x51 <= script[0] <= 0x60:
        return None
    if script[1] + 2 != len(script):
        return None
    return (0 if script[0] == 0 else script[0] - 0x50), script[2:]


def _last_push(script_sig: bytes) -> bytes:
    ops = _ops(script_sig)
    return ops[-1][1] if ops else b""


def sigop_cost(tx: Transaction, spent: list[TxOut] | None) -> int:
    """Bitcoin Core's ``GetTransactionSigOpCost``; ``spent`` are the outputs the inputs spend."""
    legacy = sum(count_sigops(i.script_sig) for i in tx.inputs)
    legacy += sum(count_sigops(o.script_pubkey) for o in tx.outputs)
    cost = legacy * WITNESS_SCALE_FACTOR
    if tx.is_coinbase or spent is None:
        return cost
    for txin, prev in zip(tx.inputs, spent, strict=True):
        script = prev.script_pubkey
        if is_p2sh(script):
            redeem = _last_push(txin.script_sig)
            cost += count_sigops(redeem, accurate=True) * WITNESS_SCALE_FACTOR
            script = redeem
        prog = witness_program(script)
        if prog is None:
            continue
        version, program = prog
        if version == 0 and len(program) == 20:
            cost += 1
        elif version == 0 and len(program) == 32 and txin.witness:
            cost += count_sigops(txin.witness[-1], accurate=True)
    return cost
