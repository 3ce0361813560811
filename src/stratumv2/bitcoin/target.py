"""Targets, compact ``nBits``, difficulty and hashrate conversions.

A target is a 256-bit integer; a hash meets it when the 32 hash bytes, read as a
**little-endian** integer (internal byte order), are ``<=`` the target.

Difficulty is Bitcoin's "pool difficulty" (pdiff): ``DIFF1_TARGET / target`` with
``DIFF1_TARGET = 0xFFFF * 2**208`` (``0x00000000FFFF0000...0000``, the target of nBits
0x1d00ffff). It is what SV1 ``mining.set_difficulty`` and SRI's ``difficulty_float`` use.
Note: some miners use "bdiff" with ``2**224`` instead; the two differ by ~0.0015%.

On the SV2 wire a target is a ``U256``: 32 bytes, little-endian.
"""

from __future__ import annotations

__all__ = [
    "DIFF1_TARGET",
    "MAX_TARGET",
    "bits_to_target",
    "difficulty_to_target",
    "hash_meets_target",
    "hash_to_int",
    "hashrate_to_target",
    "target_to_bits",
    "target_to_difficulty",
    "target_to_hashrate",
    "target_to_u256",
    "u256_to_target",
]

MAX_TARGET = (1 << 256) - 1
DIFF1_TARGET = 0xFFFF << 208


def bits_to_target(bits: int) -> int:
    """Expand compact ``nBits`` to the 256-bit target (Bitcoin Core's SetCompact).

    Raises ValueError for negative or overflowing encodings (which Core rejects as a target).
    """
    if not 0 <= bits <= 0xFFFFFFFF:
        raise ValueError(f"bits out of u32 range: {bits:#x}")
    exponent = bits >> 24
    mantissa = bits & 0x007FFFFF
    shift = 8 * (exponent - 3)
    target = mantissa << shift if shift >= 0 else mantissa >> -shift
    if target and bits & 0x00800000:
        raise ValueError(f"negative compact target {bits:#010x}")
    if target > MAX_TARGET:
        raise ValueError(f"compact target overflows 256 bits: {bits:#010x}")
    return target


def target_to_bits(target: int) -> int:
    """Compact ``nBits`` for ``target`` (Bitcoin Core's GetCompact; rounds down)."""
    if not 0 <= target <= MAX_TARGET:
        raise ValueError("target out of range")
    size = (target.bit_length() + 7) // 8
    shift = 8 * (size - 3)
    mantissa = target >> shift if shift >= 0 else target << -shift
    if mantissa & 0x00800000:  # would read as negative: shift one more byte
        mantissa >>= 8
        size += 1
    return (size << 24) | mantissa


def target_to_difficulty(target: int) -> float:
    """Pool difficulty (pdiff) of ``target``: DIFF1_TARGET / target."""
    if target <= 0:
        raise ValueError("target must be positive")
    return DIFF1_TARGET / target


def difficulty_to_target(difficulty: float) -> int:
    """Target for a pool difficulty (pdiff); clamped to MAX_TARGET for difficulty < 1 cases."""
    if not difficulty > 0:
        raise ValueError("difficulty must be positive")
    # Exact integer arithmetic for the common integral difficulties.
    if float(difficulty).is_integer():
        target = DIFF1_TARGET // int(difficulty)
    else:
        num, den = float(difficulty).as_integer_ratio()
        target = DIFF1_TARGET * den // num
    return max(1, min(target, MAX_TARGET))


def hashrate_to_target(hashrate: float, shares_per_minute: float) -> int:
    """Target at which ``hashrate`` (H/s) finds ``shares_per_minute`` shares on average.

    Same formula as SRI's ``hash_rate_to_target``: with ``s = 60 / shares_per_minute`` and
    ``hs = floor(hashrate * s)``, ``T = (2**256 - 1 - hs) // (hs + 1)``.
    """
    if hashrate < 0 or shares_per_minute <= 0:
        raise ValueError("hashrate must be >= 0 and shares_per_minute > 0")
    hashes_per_share = int(hashrate * (60.0 / shares_per_minute))
    return (MAX_TARGET - hashes_per_share) // (hashes_per_share + 1)


def target_to_hashrate(target: int, shares_per_minute: float) -> float:
    """Hashrate (H/s) that finds ``shares_per_minute`` shares on average at ``target``."""
    if not 0 <= target <= MAX_TARGET or shares_per_minute <= 0:
        raise ValueError("target out of range or shares_per_minute <= 0")
    hashes_per_share = (1 << 256) / (target + 1)
    return hashes_per_share * shares_per_minute / 60.0


def target_to_u256(target: int) -> bytes:
    """SV2 ``U256`` wire form: 32 bytes little-endian."""
    if not 0 <= target <= MAX_TARGET:
        raise ValueError("target out of range")
    return target.to_bytes(32, "little")


def u256_to_target(data: bytes) -> int:
    """Target from SV2 ``U256`` wire bytes (32 bytes little-endian)."""
    if len(data) != 32:
        raise ValueError(f"U256 must be 32 bytes, got {len(data)}")
    return int.from_bytes(data, "little")


def hash_to_int(hash32_internal: bytes) -> int:
    """A block/share hash (internal byte order) as the integer compared with targets."""
    return int.from_bytes(hash32_internal, "little")


def hash_meets_target(hash32_internal: bytes, target_int: int) -> bool:
    """True if the hash (internal byte order, read little-endian) is <= the target."""
    return int.from_bytes(hash32_internal, "little") <= target_int
