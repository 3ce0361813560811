"""A one-key P2WPKH wallet: BIP143 signing with coincurve (used by the tx generator and tests)."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

import coincurve
from embit.hashes import hash160

from stratumv2.bitcoin.hashes import sha256d
from stratumv2.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut

SIGHASH_ALL = 1


class P2wpkhKey:
    """A secp256k1 key that receives and spends P2WPKH outputs."""

    def __init__(self, secret: bytes) -> None:
        self._key = coincurve.PrivateKey(secret)
        self.pubkey = self._key.public_key.format(compressed=True)
        self.pubkey_hash: bytes = hash160(self.pubkey)
        self.script_pubkey = b"\x00\x14" + self.pubkey_hash

    @classmethod
    def load_or_create(cls, path: Path, random_secret: bytes) -> P2wpkhKey:
        """The key stored (hex) in ``path``; ``random_secret`` is written there if missing."""
        if path.exists():
            return cls(bytes.fromhex(path.read_text(encoding="utf-8").strip()))
        path.write_text(random_secret.hex(), encoding="utf-8")
        path.chmod(0o600)
        return cls(random_secret)

    def sign(self, tx: Transaction, amounts: Sequence[int]) -> Transaction:
        """``tx`` with every input (all ours, P2WPKH) signed: SIGHASH_ALL, BIP143."""
        hash_prevouts = sha256d(b"".join(i.prevout.serialize() for i in tx.inputs))
        hash_sequence = sha256d(b"".join(struct.pack("<I", i.sequence) for i in tx.inputs))
        hash_outputs = sha256d(b"".join(o.serialize() for o in tx.outputs))
        script_code = b"\x19\x76\xa9\x14" + self.pubkey_hash + b"\x88\xac"
        signed: list[TxIn] = []
        for txin, amount in zip(tx.inputs, amounts, strict=True):
            preimage = b"".join(
                (
                    struct.pack("<I", tx.version & 0xFFFFFFFF),
                    hash_prevouts,
                    hash_sequence,
                    txin.prevout.serialize(),
                    script_code,
                    struct.pack("<q", amount),
                    struct.pack("<I", txin.sequence),
                    hash_outputs,
                    struct.pack("<I", tx.locktime),
                    struct.pack("<I", SIGHASH_ALL),
                )
            )
            signature = self._key.sign(sha256d(preimage), hasher=None) + bytes((SIGHASH_ALL,))
            signed.append(TxIn(txin.prevout, b"", txin.sequence, (signature, self.pubkey)))
        return Transaction(tx.version, tuple(signed), tx.outputs, tx.locktime)

    def spend(
        self,
        coins: Sequence[tuple[OutPoint, int]],
        outputs: Sequence[TxOut],
        sequence: int = 0xFFFFFFFD,
    ) -> Transaction:
        """A signed transaction spending ``coins`` (outpoint, value) to ``outputs``."""
        inputs = tuple(TxIn(op, b"", sequence) for op, _value in coins)
        unsigned = Transaction(2, inputs, tuple(outputs), 0)
        return self.sign(unsigned, [value for _op, value in coins])
