"""Blocks (header + transactions) and the BIP141 witness commitment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stratumv2.bitcoin.errors import BitcoinDecodeError
from stratumv2.bitcoin.hashes import merkle_root, sha256d
from stratumv2.bitcoin.header import HEADER_SIZE, BlockHeader
from stratumv2.bitcoin.tx import Reader, Transaction, compact_size

__all__ = [
    "WITNESS_COMMITMENT_HEADER",
    "WITNESS_RESERVED_VALUE",
    "Block",
    "find_witness_commitment",
    "witness_commitment",
    "witness_commitment_script",
    "witness_merkle_root",
]

WITNESS_RESERVED_VALUE = b"\x00" * 32
#: OP_RETURN, push 36, then the BIP141 commitment tag aa21a9ed.
WITNESS_COMMITMENT_HEADER = bytes.fromhex("6a24aa21a9ed")


def witness_merkle_root(wtxids_after_coinbase: Sequence[bytes]) -> bytes:
    """Merkle root of wtxids, the coinbase's wtxid taken as 32 zero bytes (BIP141)."""
    return merkle_root([b"\x00" * 32, *wtxids_after_coinbase])


def witness_commitment(
    wtxids_after_coinbase: Sequence[bytes], reserved_value: bytes = WITNESS_RESERVED_VALUE
) -> bytes:
    """BIP141 commitment: sha256d(witness merkle root || witness reserved value)."""
    if len(reserved_value) != 32:
        raise ValueError("witness reserved value must be 32 bytes")
    return sha256d(witness_merkle_root(wtxids_after_coinbase) + reserved_value)


def witness_commitment_script(commitment: bytes) -> bytes:
    """The coinbase output script carrying the commitment: 6a24aa21a9ed + 32 bytes."""
    if len(commitment) != 32:
        raise ValueError("witness commitment must be 32 bytes")
    return WITNESS_COMMITMENT_HEADER + commitment


def find_witness_commitment(coinbase: Transaction) -> bytes | None:
    """The commitment in a coinbase (the last matching output, as consensus reads it)."""
    found = None
    for txout in coinbase.outputs:
        script = txout.script_pubkey
        if len(script) >= 38 and script.startswith(WITNESS_COMMITMENT_HEADER):
            found = script[6:38]
    return found


@dataclass(frozen=True, slots=True)
class Block:
    """A full block: header and transactions (the coinbase first)."""

    header: BlockHeader
    transactions: tuple[Transaction, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "transactions", tuple(self.transactions))

    @classmethod
    def parse(cls, data: bytes) -> Block:
        """Parse a serialized block; raise BitcoinDecodeError on any malformed input."""
        if len(data) < HEADER_SIZE:
            raise BitcoinDecodeError(f"block shorter than a header: {len(data)} bytes")
        header = BlockHeader.parse(bytes(data[:HEADER_SIZE]))
        r = Reader(data, HEADER_SIZE)
        count = r.compact_size()
        txs = tuple(Transaction.read_from(r) for _ in range(count))
        if r.remaining():
            raise BitcoinDecodeError(f"{r.remaining()} trailing bytes after block")
        return cls(header, txs)

    @classmethod
    def from_hex(cls, hex_str: str) -> Block:
        """Parse a hex-encoded block."""
        try:
            data = bytes.fromhex(hex_str)
        except ValueError as exc:
            raise BitcoinDecodeError(f"invalid hex: {exc}") from None
        return cls.parse(data)

    def serialize(self, include_witness: bool = True) -> bytes:
        """Serialized block (witness serialization of each transaction by default)."""
        parts = [self.header.serialize(), compact_size(len(self.transactions))]
        parts.extend(tx.serialize(include_witness) for tx in self.transactions)
        return b"".join(parts)

    def to_hex(self) -> str:
        """Hex of the full serialization (what ``submitblock`` takes)."""
        return self.serialize().hex()

    def hash(self) -> bytes:
        """Block hash (internal byte order)."""
        return self.header.hash()

    def compute_merkle_root(self) -> bytes:
        """Merkle root of the transactions' txids."""
        return merkle_root([tx.txid for tx in self.transactions])

    def compute_witness_commitment(self) -> bytes:
        """BIP141 commitment of the transactions (reserved value from the coinbase witness)."""
        reserved = WITNESS_RESERVED_VALUE
        if self.transactions and self.transactions[0].inputs:
            witness = self.transactions[0].inputs[0].witness
            if len(witness) == 1 and len(witness[0]) == 32:
                reserved = witness[0]
        return witness_commitment([tx.wtxid for tx in self.transactions[1:]], reserved)
