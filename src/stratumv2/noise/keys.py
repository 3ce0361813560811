"""Authority key text encodings used in SRI configs (digest 02 §7).

* public key: base58check(``01 00`` || x-only key (32)), i.e. a U16 LE version 1 prefix;
* secret key: base58check(raw 32-byte secret), no prefix.

Checksum: the first 4 bytes of SHA256d of the data; Bitcoin's base58 alphabet.
"""

from __future__ import annotations

from typing import Final

from stratumv2.noise.primitives import CryptoError, XOnlyPublicKey, is_valid_secret, sha256

__all__ = [
    "KeyEncodingError",
    "b58check_decode",
    "b58check_encode",
    "decode_authority_public_key",
    "decode_secret_key",
    "encode_authority_public_key",
    "encode_secret_key",
]

_ALPHABET: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX: Final = {c: i for i, c in enumerate(_ALPHABET)}
_PUBLIC_KEY_VERSION: Final = b"\x01\x00"


class KeyEncodingError(ValueError):
    """A key text that is not valid base58check, or has the wrong length or version."""


def _checksum(data: bytes) -> bytes:
    return sha256(sha256(data))[:4]


def b58check_encode(data: bytes) -> str:
    """Base58check text of ``data`` (checksum appended)."""
    full = data + _checksum(data)
    number = int.from_bytes(full, "big")
    digits = []
    while number:
        number, rem = divmod(number, 58)
        digits.append(_ALPHABET[rem])
    zeros = len(full) - len(full.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(digits))


def b58check_decode(text: str) -> bytes:
    """The data of a base58check text; :class:`KeyEncodingError` on a bad character or checksum."""
    text = text.strip()
    number = 0
    for char in text:
        try:
            number = number * 58 + _INDEX[char]
        except KeyError:
            raise KeyEncodingError(f"invalid base58 character {char!r}") from None
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    full = b"\0" * zeros + body
    if len(full) < 4:
        raise KeyEncodingError("base58check text too short")
    data, checksum = full[:-4], full[-4:]
    if _checksum(data) != checksum:
        raise KeyEncodingError("base58check checksum mismatch")
    return data


def encode_authority_public_key(xonly: bytes) -> str:
    """SRI's text form of a 32-byte x-only authority public key."""
    if len(xonly) != 32:
        raise KeyEncodingError("x-only public key must be 32 bytes")
    return b58check_encode(_PUBLIC_KEY_VERSION + xonly)


def decode_authority_public_key(text: str) -> XOnlyPublicKey:
    """Parse SRI's text form of an authority public key (checks length, version and curve)."""
    data = b58check_decode(text)
    if len(data) != 34:
        raise KeyEncodingError(f"authority public key must decode to 34 bytes, got {len(data)}")
    version = int.from_bytes(data[:2], "little")
    if version != 1:
        raise KeyEncodingError(f"unsupported authority public key version {version}")
    try:
        return XOnlyPublicKey(data[2:])
    except CryptoError as exc:
        raise KeyEncodingError(f"invalid authority public key: {exc}") from None


def encode_secret_key(secret: bytes) -> str:
    """SRI's text form of a 32-byte secret key."""
    if not is_valid_secret(secret):
        raise KeyEncodingError("not a valid secp256k1 secret key")
    return b58check_encode(secret)


def decode_secret_key(text: str) -> bytes:
    """Parse SRI's text form of a secret key into its 32 bytes."""
    data = b58check_decode(text)
    if len(data) != 32:
        raise KeyEncodingError(f"secret key must decode to 32 bytes, got {len(data)}")
    if not is_valid_secret(data):
        raise KeyEncodingError("not a valid secp256k1 secret key")
    return data
