"""SHA-256 helpers and Bitcoin merkle trees.

All hashes are in internal byte order (as they appear in serialized blocks). RPC and block
explorers display them reversed: use :func:`hash_to_hex` / :func:`hex_to_hash` at the edges.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Sequence

__all__ = [
    "hash_to_hex",
    "hex_to_hash",
    "merkle_branch",
    "merkle_root",
    "merkle_root_from_branch",
    "sha256",
    "sha256_small",
    "sha256d",
]


def _small_input_sha256() -> Callable[[bytes], hashlib._Hash]:
    """CPython's own SHA-256 constructor when it has one, else ``hashlib.sha256``.

    Same digests; for 32- to 200-byte inputs (headers, coinbases, merkle nodes, Noise
    handshake hashes) the built-in one costs about a third less per call than OpenSSL 3's,
    which sets up an EVP context each time.
    """
    for module in ("_sha2", "_sha256"):  # CPython >= 3.12, <= 3.11
        try:
            constructor: Callable[[bytes], hashlib._Hash] = importlib.import_module(module).sha256
        except (ImportError, AttributeError):
            continue
        if constructor(b"abc").digest() == hashlib.sha256(b"abc").digest():
            return constructor
    return hashlib.sha256


sha256_small = _small_input_sha256()
"""SHA-256 constructor for short inputs on hot paths (shares, merkle, Noise); see above."""

_sha256 = sha256_small


def sha256(data: bytes) -> bytes:
    """Single SHA-256."""
    return _sha256(data).digest()


def sha256d(data: bytes) -> bytes:
    """Double SHA-256 (Bitcoin's hash for headers, txids, merkle nodes)."""
    return _sha256(_sha256(data).digest()).digest()


def hash_to_hex(h: bytes) -> str:
    """Display form (RPC hex) of an internal-order hash: bytes reversed."""
    return h[::-1].hex()


def hex_to_hash(s: str) -> bytes:
    """Internal-order hash from its display form (RPC hex)."""
    raw = bytes.fromhex(s)
    return raw[::-1]


def _check_leaves(hashes: Sequence[bytes]) -> None:
    for h in hashes:
        if len(h) != 32:
            raise ValueError(f"merkle leaf must be 32 bytes, got {len(h)}")


def merkle_root(hashes: Sequence[bytes]) -> bytes:
    """Merkle root of txids (internal order), duplicating the last node on odd levels.

    Raises ValueError for an empty list (a block always has its coinbase).
    """
    if not hashes:
        raise ValueError("merkle root of an empty list")
    _check_leaves(hashes)
    level = list(hashes)
    while len(level) > 1:
        if len(level) & 1:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def merkle_branch(txids_after_coinbase: Sequence[bytes]) -> list[bytes]:
    """Merkle path of the coinbase (index 0) given the other transactions' txids.

    The result is the list of sibling hashes from the leaf level upwards, as carried in
    ``NewExtendedMiningJob.merkle_path``. The coinbase's own txid is not needed: it is
    always on the left, and the siblings do not depend on it.
    """
    _check_leaves(txids_after_coinbase)
    branch: list[bytes] = []
    # Level 0 with a placeholder for the coinbase; index 0 stays at index 0 on every level.
    level: list[bytes] = [b"\x00" * 32, *txids_after_coinbase]
    while len(level) > 1:
        if len(level) & 1:
            level.append(level[-1])
        branch.append(level[1])
        # Node 0 of the next level is unknown (depends on coinbase); the rest are real.
        level = [level[0]] + [sha256d(level[i] + level[i + 1]) for i in range(2, len(level), 2)]
    return branch


def merkle_root_from_branch(leaf: bytes, branch: Sequence[bytes]) -> bytes:
    """Merkle root from the coinbase txid (index 0, always the left child) and its branch."""
    if len(leaf) != 32:
        raise ValueError(f"merkle leaf must be 32 bytes, got {len(leaf)}")
    node = leaf
    for sibling in branch:
        node = _sha256(_sha256(node + sibling).digest()).digest()
    return node
