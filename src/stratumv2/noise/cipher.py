"""Noise CipherState: one key and a 64-bit counter, used for one direction of transport."""

from __future__ import annotations

from typing import Final

from stratumv2.noise.errors import DecryptError, NonceExhausted
from stratumv2.noise.primitives import Aead, AuthenticationFailed, Buffer, nonce

__all__ = ["MAX_NONCE", "CipherState"]

MAX_NONCE: Final = (1 << 64) - 1
"""Noise reserves 2**64 - 1; a cipher state refuses to use it."""


class CipherState:
    """ChaCha20-Poly1305 under a fixed key with the Noise nonce counter ``n``.

    The counter advances after every successful operation; a failed decryption leaves it
    unchanged (the connection must be dropped anyway). Associated data is empty in transport.
    ``raw_encrypt`` / ``raw_decrypt`` are the AEAD calls ``(nonce12, data, ad)`` for hot loops
    that manage ``n`` themselves (:class:`~stratumv2.noise.transport.NoiseTransport`).
    """

    __slots__ = ("n", "raw_decrypt", "raw_encrypt")

    def __init__(self, key: bytes, n: int = 0) -> None:
        aead = Aead(key)
        self.raw_encrypt = aead.raw_encrypt
        self.raw_decrypt = aead.raw_decrypt
        self.n = n

    def encrypt(self, plaintext: Buffer, ad: bytes | None = None) -> bytes:
        """Encrypt under the current nonce and advance it: ciphertext || 16-byte tag."""
        n = self.n
        if n >= MAX_NONCE:
            raise NonceExhausted("cipher state nonce exhausted")
        out = self.raw_encrypt(nonce(n), plaintext, ad)
        self.n = n + 1
        return out

    def decrypt(self, ciphertext: Buffer, ad: bytes | None = None) -> bytes:
        """Decrypt under the current nonce and advance it; :class:`DecryptError` on a bad tag."""
        n = self.n
        if n >= MAX_NONCE:
            raise NonceExhausted("cipher state nonce exhausted")
        try:
            out = self.raw_decrypt(nonce(n), ciphertext, ad)
        except AuthenticationFailed:
            raise DecryptError(f"authentication failed (nonce {n})") from None
        self.n = n + 1
        return out
