"""Cryptographic primitives for the SV2 Noise handshake (the only module that imports backends).

* secp256k1 (libsecp256k1 through coincurve's cffi bindings): BIP324 ElligatorSwift encode,
  decode and x-only ECDH with the BIP324 tagged hash, BIP340 Schnorr signatures.
* ChaCha20-Poly1305 IETF (``cryptography``), SHA-256, HMAC-SHA256 and the Noise HKDF.

Nothing here draws randomness: callers pass secrets and auxiliary random bytes in.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Callable
from typing import Any, Final, TypeAlias

from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from stratumv2.bitcoin.hashes import sha256_small

__all__ = [
    "MAC_SIZE",
    "Aead",
    "AuthenticationFailed",
    "CryptoError",
    "Keypair",
    "XOnlyPublicKey",
    "ecdh_x",
    "ellswift_decode_x",
    "ellswift_encode",
    "ellswift_xdh",
    "hkdf2",
    "hkdf2_padded",
    "hmac_pads",
    "hmac_sha256",
    "is_valid_secret",
    "nonce",
    "sha256",
]

MAC_SIZE: Final = 16
_CTX: Any = GLOBAL_CONTEXT.ctx
_BIP324_HASH: Any = lib.secp256k1_ellswift_xdh_hash_function_bip324
_NULL: Any = ffi.NULL
_new: Any = ffi.new
_PUBKEY: Any = ffi.typeof("secp256k1_pubkey *")  # resolved once, not per ffi.new call
_XONLY: Any = ffi.typeof("secp256k1_xonly_pubkey *")
_BYTES32: Any = ffi.typeof("unsigned char[32]")
_BYTES64: Any = ffi.typeof("unsigned char[64]")
_pubkey_create: Any = lib.secp256k1_ec_pubkey_create  # pre-bound: no lib lookup per call
_ellswift_encode: Any = lib.secp256k1_ellswift_encode
_ellswift_xdh: Any = lib.secp256k1_ellswift_xdh
_buffer: Any = ffi.buffer  # ffi.buffer(cdata)[:] copies at once; bytes(cdata) goes item by item
_NONCE_PACK: Final = struct.Struct("<4xQ").pack
_ONE: Final = b"\x01"
_TWO: Final = b"\x02"


_sha256 = sha256_small
"""The SHA-256 constructor used here (for hot paths that hash inline)."""

Buffer: TypeAlias = bytes | bytearray | memoryview
_hmac_digest = hmac.digest
# HMAC with a 32-byte key: the key XOR the pad bytes, then 32 more pad bytes (block = 64)
_IPAD: Final = bytes(b ^ 0x36 for b in range(256))
_OPAD: Final = bytes(b ^ 0x5C for b in range(256))
_PAD36: Final = b"\x36" * 32
_PAD5C: Final = b"\x5c" * 32


class CryptoError(ValueError):
    """Invalid key material or a failed libsecp256k1 call."""


AuthenticationFailed = InvalidTag
"""Raised by :class:`Aead` decryption when a ChaCha20-Poly1305 tag does not verify."""


nonce: Final[Callable[[int], bytes]] = _NONCE_PACK
"""The 12-byte Noise nonce for counter ``n``: 4 zero bytes then ``n`` as U64 little-endian."""


def sha256(data: bytes) -> bytes:
    """SHA-256 digest."""
    return _sha256(data).digest()


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104), hashlib-based: faster than ``hmac.digest`` for small inputs."""
    if len(key) != 32:
        return _hmac_digest(key, data, "sha256")
    inner = _sha256(key.translate(_IPAD) + _PAD36 + data).digest()
    return _sha256(key.translate(_OPAD) + _PAD5C + inner).digest()


def hkdf2(chaining_key: bytes, ikm: bytes) -> tuple[bytes, bytes]:
    """Noise HKDF with two outputs and empty info (all keys here are 32 bytes)."""
    if len(chaining_key) != 32:
        raise CryptoError("chaining key must be 32 bytes")
    return hkdf2_padded(
        chaining_key.translate(_IPAD) + _PAD36, chaining_key.translate(_OPAD) + _PAD5C, ikm
    )


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """The 64-byte HMAC-SHA256 inner and outer pad blocks of a 32-byte ``key``."""
    if len(key) != 32:
        raise CryptoError("HMAC key must be 32 bytes here")
    return key.translate(_IPAD) + _PAD36, key.translate(_OPAD) + _PAD5C


def hkdf2_padded(ipad: bytes, opad: bytes, ikm: bytes) -> tuple[bytes, bytes]:
    """:func:`hkdf2` for a chaining key given by its :func:`hmac_pads` (constant keys)."""
    sha = _sha256
    temp = sha(opad + sha(ipad + ikm).digest()).digest()
    # Both outputs are HMACs under ``temp``: hash its pad blocks once, copy the states.
    inner = sha(temp.translate(_IPAD) + _PAD36)
    outer = sha(temp.translate(_OPAD) + _PAD5C)
    inner1 = inner.copy()
    inner1.update(_ONE)
    outer1 = outer.copy()
    outer1.update(inner1.digest())
    out1 = outer1.digest()
    inner.update(out1 + _TWO)
    outer.update(inner.digest())
    return out1, outer.digest()


class Aead:
    """ChaCha20-Poly1305 under one key; the Noise nonce is ``4 zero bytes || n (U64 LE)``.

    One backend object is created per key and reused for every message. ``raw_encrypt`` and
    ``raw_decrypt`` are the backend's ``(nonce12, data, ad)`` calls, for hot loops.
    """

    __slots__ = ("raw_decrypt", "raw_encrypt")

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise CryptoError("ChaCha20-Poly1305 key must be 32 bytes")
        cipher = ChaCha20Poly1305(key)
        self.raw_encrypt: Callable[[bytes, Buffer, bytes | None], bytes] = cipher.encrypt
        self.raw_decrypt: Callable[[bytes, Buffer, bytes | None], bytes] = cipher.decrypt

    def encrypt(self, n: int, ad: bytes | None, plaintext: Buffer) -> bytes:
        """Ciphertext followed by the 16-byte tag."""
        return self.raw_encrypt(_NONCE_PACK(n), plaintext, ad)

    def decrypt(self, n: int, ad: bytes | None, ciphertext: Buffer) -> bytes:
        """Plaintext; raises :data:`AuthenticationFailed` if the tag does not verify."""
        return self.raw_decrypt(_NONCE_PACK(n), ciphertext, ad)


def is_valid_secret(secret: bytes) -> bool:
    """True if ``secret`` is a valid secp256k1 secret key (32 bytes, 0 < s < n)."""
    return len(secret) == 32 and bool(lib.secp256k1_ec_seckey_verify(_CTX, secret))


def ellswift_encode(secret: bytes, rnd32: bytes = bytes(32)) -> bytes:
    """The 64-byte ElligatorSwift encoding of ``secret``'s public key.

    ``rnd32`` selects one of the many encodings; SRI uses 32 zero bytes
    (``ElligatorSwift::from_pubkey``), which makes the encoding deterministic per key.
    """
    pubkey = _new(_PUBKEY)
    if len(secret) != 32 or not _pubkey_create(_CTX, pubkey, secret):
        raise CryptoError("invalid secret key")
    out = _new(_BYTES64)
    if not _ellswift_encode(_CTX, out, pubkey, rnd32):
        raise CryptoError("ellswift_encode failed")
    return _buffer(out)[:]  # type: ignore[no-any-return]


def ellswift_decode_x(encoding: bytes) -> bytes:
    """The 32-byte x coordinate of the point an ElligatorSwift encoding decodes to."""
    if len(encoding) != 64:
        raise CryptoError("ElligatorSwift encoding must be 64 bytes")
    pubkey = _new(_PUBKEY)
    if not lib.secp256k1_ellswift_decode(_CTX, pubkey, encoding):
        raise CryptoError("ellswift_decode failed")
    xonly = _new(_XONLY)
    lib.secp256k1_xonly_pubkey_from_pubkey(_CTX, xonly, _NULL, pubkey)
    out = _new(_BYTES32)
    lib.secp256k1_xonly_pubkey_serialize(_CTX, out, xonly)
    return _buffer(out)[:]  # type: ignore[no-any-return]


def ellswift_xdh(
    ell_initiator: bytes, ell_responder: bytes, secret: bytes, initiator: bool
) -> bytes:
    """BIP324 x-only ECDH: ``SHA256(tag||tag||ell_initiator||ell_responder||x)``.

    ``secret`` is ours; ``initiator`` says which of the two encodings is ours.
    """
    if len(ell_initiator) != 64 or len(ell_responder) != 64:
        raise CryptoError("ElligatorSwift encoding must be 64 bytes")
    out = _new(_BYTES32)
    party = 0 if initiator else 1
    if not _ellswift_xdh(
        _CTX, out, ell_initiator, ell_responder, secret, party, _BIP324_HASH, _NULL
    ):
        raise CryptoError("ellswift_xdh failed (invalid secret key)")
    return _buffer(out)[:]  # type: ignore[no-any-return]


def ecdh_x(their_encoding: bytes, secret: bytes) -> bytes:
    """The raw x coordinate of ``secret * decode(their_encoding)`` (for tests and vectors)."""
    pubkey = ffi.new("secp256k1_pubkey *")
    if not lib.secp256k1_ellswift_decode(_CTX, pubkey, their_encoding):
        raise CryptoError("ellswift_decode failed")
    if not lib.secp256k1_ec_pubkey_tweak_mul(_CTX, pubkey, secret):
        raise CryptoError("invalid secret key")
    out = ffi.new("unsigned char[33]")
    size = ffi.new("size_t *", 33)
    lib.secp256k1_ec_pubkey_serialize(_CTX, out, size, pubkey, lib.SECP256K1_EC_COMPRESSED)
    return bytes(out)[1:]


class XOnlyPublicKey:
    """A parsed BIP340 x-only public key (parsed once, verified against many times)."""

    __slots__ = ("_key", "data")

    def __init__(self, data: bytes) -> None:
        if len(data) != 32:
            raise CryptoError("x-only public key must be 32 bytes")
        key = ffi.new("secp256k1_xonly_pubkey *")
        if not lib.secp256k1_xonly_pubkey_parse(_CTX, key, data):
            raise CryptoError("x-only public key is not on the curve")
        self._key = key
        self.data = bytes(data)

    def verify(self, signature: bytes, message: bytes) -> bool:
        """BIP340 verification of ``signature`` over ``message`` (any length)."""
        if len(signature) != 64:
            return False
        return bool(
            lib.secp256k1_schnorrsig_verify(_CTX, signature, message, len(message), self._key)
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, XOnlyPublicKey) and other.data == self.data

    def __hash__(self) -> int:
        return hash(self.data)

    def __repr__(self) -> str:
        return f"XOnlyPublicKey({self.data.hex()})"


class Keypair:
    """A secp256k1 secret key with its BIP340 keypair parsed once (for signing)."""

    __slots__ = ("_keypair", "public_key", "secret")

    def __init__(self, secret: bytes) -> None:
        keypair = ffi.new("secp256k1_keypair *")
        if len(secret) != 32 or not lib.secp256k1_keypair_create(_CTX, keypair, secret):
            raise CryptoError("invalid secret key")
        xonly = ffi.new("secp256k1_xonly_pubkey *")
        lib.secp256k1_keypair_xonly_pub(_CTX, xonly, _NULL, keypair)
        out = ffi.new("unsigned char[32]")
        lib.secp256k1_xonly_pubkey_serialize(_CTX, out, xonly)
        self._keypair = keypair
        self.secret = bytes(secret)
        self.public_key = XOnlyPublicKey(bytes(out))

    def sign(self, message32: bytes, aux_rand32: bytes | None) -> bytes:
        """BIP340 signature of a 32-byte message; ``aux_rand32`` None means no aux data."""
        if len(message32) != 32:
            raise CryptoError("BIP340 message must be 32 bytes here")
        if aux_rand32 is not None and len(aux_rand32) != 32:
            raise CryptoError("aux randomness must be 32 bytes")
        sig = ffi.new("unsigned char[64]")
        aux = _NULL if aux_rand32 is None else aux_rand32
        if not lib.secp256k1_schnorrsig_sign32(_CTX, sig, message32, self._keypair, aux):
            raise CryptoError("schnorrsig_sign32 failed")
        return bytes(sig)

    def __repr__(self) -> str:
        return f"Keypair(public_key={self.public_key.data.hex()})"
