"""Noise_NX_Secp256k1+EllSwift_ChaChaPoly_SHA256: the SV2 encrypted transport, sans-IO.

``handshake`` (initiator/responder state machines), ``certificate`` (the responder's signed
certificate and identity), ``transport`` (encrypted frames), ``keys`` (SRI key texts),
``primitives`` (the only module touching crypto backends).
"""

from __future__ import annotations

from stratumv2.noise.certificate import Certificate, ResponderIdentity
from stratumv2.noise.cipher import CipherState
from stratumv2.noise.errors import (
    BadCertificate,
    DecryptError,
    FrameTooLarge,
    HandshakeError,
    NoiseError,
    NonceExhausted,
)
from stratumv2.noise.handshake import (
    ACT1_SIZE,
    ACT2_SIZE,
    HandshakeResult,
    InitiatorHandshake,
    ResponderHandshake,
)
from stratumv2.noise.keys import (
    KeyEncodingError,
    decode_authority_public_key,
    decode_secret_key,
    encode_authority_public_key,
    encode_secret_key,
)
from stratumv2.noise.primitives import Keypair, XOnlyPublicKey
from stratumv2.noise.transport import NoiseTransport

__all__ = [
    "ACT1_SIZE",
    "ACT2_SIZE",
    "BadCertificate",
    "Certificate",
    "CipherState",
    "DecryptError",
    "FrameTooLarge",
    "HandshakeError",
    "HandshakeResult",
    "InitiatorHandshake",
    "KeyEncodingError",
    "Keypair",
    "NoiseError",
    "NoiseTransport",
    "NonceExhausted",
    "ResponderHandshake",
    "ResponderIdentity",
    "XOnlyPublicKey",
    "decode_authority_public_key",
    "decode_secret_key",
    "encode_authority_public_key",
    "encode_secret_key",
]
