"""Errors of the Noise layer. All are the remote's fault except :class:`NonceExhausted`."""

from __future__ import annotations

from stratumv2.protocol.errors import FrameTooLargeError, ProtocolError

__all__ = [
    "BadCertificate",
    "DecryptError",
    "FrameTooLarge",
    "HandshakeError",
    "NoiseError",
    "NonceExhausted",
]


class NoiseError(ProtocolError):
    """Base class: the encrypted transport cannot continue; drop the connection."""


class HandshakeError(NoiseError):
    """A malformed or out-of-order handshake message."""


class BadCertificate(HandshakeError):
    """The responder's certificate is not signed by the expected authority or not valid now."""


class DecryptError(NoiseError):
    """A ciphertext (handshake or transport) failed authentication."""


class FrameTooLarge(NoiseError, FrameTooLargeError):
    """The peer announced a frame larger than the configured maximum."""


class NonceExhausted(NoiseError):
    """A cipher state has used all 2**64 - 1 nonces (never happens in practice)."""
