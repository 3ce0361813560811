"""Noise_NX_Secp256k1+EllSwift_ChaChaPoly_SHA256 handshake state machines (sans-IO).

Act 1 (initiator -> responder, 64 bytes): ``e``. Act 2 (responder -> initiator, 234 bytes):
``e, ee, s, es`` plus the encrypted certificate. Ephemeral secrets, ElligatorSwift
randomness and ``now`` are passed in; nothing here reads a clock or draws random bytes.

An optional ``trace(label, value)`` callback receives every intermediate ``h``, ``ck``, ``k``
and DH result under the labels of ``02-noise-test-vectors.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NamedTuple

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from stratumv2.bitcoin.hashes import sha256_small
from stratumv2.noise.certificate import (
    CERTIFICATE_SIZE,
    DEFAULT_LEEWAY,
    Certificate,
    ResponderIdentity,
)
from stratumv2.noise.cipher import CipherState
from stratumv2.noise.errors import DecryptError, HandshakeError
from stratumv2.noise.primitives import (
    MAC_SIZE,
    AuthenticationFailed,
    CryptoError,
    XOnlyPublicKey,
    ellswift_decode_x,
    ellswift_encode,
    ellswift_xdh,
    hkdf2,
    hkdf2_padded,
    hmac_pads,
    nonce,
    sha256,
)

__all__ = [
    "ACT1_SIZE",
    "ACT2_SIZE",
    "CK0",
    "H0",
    "PROTOCOL_NAME",
    "HandshakeResult",
    "InitiatorHandshake",
    "ResponderHandshake",
    "Trace",
]

PROTOCOL_NAME: Final = b"Noise_NX_Secp256k1+EllSwift_ChaChaPoly_SHA256"
CK0: Final = sha256(PROTOCOL_NAME)
H0: Final = sha256(CK0)
ELLSWIFT_SIZE: Final = 64
ACT1_SIZE: Final = ELLSWIFT_SIZE
ACT2_SIZE: Final = ELLSWIFT_SIZE + (ELLSWIFT_SIZE + MAC_SIZE) + (CERTIFICATE_SIZE + MAC_SIZE)

Trace = Callable[[str, bytes], None]


class HandshakeResult(NamedTuple):
    """Transport cipher states and what was learnt about the responder."""

    send: CipherState
    recv: CipherState
    handshake_hash: bytes
    responder_static_xonly: bytes
    certificate: Certificate


_CK0_IPAD, _CK0_OPAD = hmac_pads(CK0)  # every handshake's first HKDF has the key CK0
_NONCE0: Final = nonce(0)
_new_object = object.__new__


def _cipher_state(key: bytes) -> CipherState:
    """``CipherState(key)`` without the intermediate ``Aead`` wrapper (same slots)."""
    state: CipherState = _new_object(CipherState)
    cipher = ChaCha20Poly1305(key)
    state.raw_encrypt = cipher.encrypt
    state.raw_decrypt = cipher.decrypt
    state.n = 0
    return state


class _SymmetricState:
    """Noise SymmetricState: chaining key ``ck``, handshake hash ``h`` and an optional key.

    In NX every key from ``mix_key`` seals or opens exactly one message, so the AEAD is
    called once per key (nonce 0 first; a counter is kept for generality).
    """

    __slots__ = ("_cipher", "_n", "ck", "h", "trace")

    def __init__(self, trace: Trace | None) -> None:
        self.ck = CK0
        self.h = H0
        self._cipher: Any = None
        self._n = 0
        self.trace = trace

    def mix_hash(self, data: bytes) -> None:
        self.h = sha256(self.h + data)

    def mix_key(self, ikm: bytes) -> bytes:
        ck = self.ck
        if ck is CK0:
            self.ck, key = hkdf2_padded(_CK0_IPAD, _CK0_OPAD, ikm)
        else:
            self.ck, key = hkdf2(ck, ikm)
        self._cipher = ChaCha20Poly1305(key)
        self._n = 0
        return key

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        cipher = self._cipher
        if cipher is None:
            ciphertext = plaintext
        else:
            n = self._n
            ciphertext = cipher.encrypt(_NONCE0 if n == 0 else nonce(n), plaintext, self.h)
            self._n = n + 1
        self.h = sha256(self.h + ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        cipher = self._cipher
        if cipher is None:
            plaintext = ciphertext
        else:
            n = self._n
            try:
                plaintext = cipher.decrypt(_NONCE0 if n == 0 else nonce(n), ciphertext, self.h)
            except AuthenticationFailed:
                raise DecryptError("handshake message failed authentication") from None
            self._n = n + 1
        self.h = sha256(self.h + ciphertext)
        return plaintext

    def split(self) -> tuple[bytes, bytes]:
        return hkdf2(self.ck, b"")


def _check_secret(secret: bytes, what: str) -> None:
    if len(secret) != 32:
        raise ValueError(f"{what} must be 32 bytes")


class InitiatorHandshake:
    """The client side: writes act 1, reads act 2 and checks the responder's certificate.

    ``authority`` is the authority public key the certificate must be signed with; ``None``
    skips the check (only for deliberately unauthenticated setups, like SRI's ``without_pk``).
    """

    __slots__ = ("_authority", "_ephemeral", "_leeway", "_own_ellswift", "_state", "_sym")

    def __init__(
        self,
        authority: XOnlyPublicKey | None,
        ephemeral_secret: bytes,
        ellswift_rnd: bytes = bytes(32),
        leeway: int = DEFAULT_LEEWAY,
        trace: Trace | None = None,
    ) -> None:
        _check_secret(ephemeral_secret, "ephemeral secret")
        self._authority = authority
        self._ephemeral = ephemeral_secret
        self._own_ellswift = ellswift_encode(ephemeral_secret, ellswift_rnd)
        self._leeway = leeway
        self._sym = _SymmetricState(trace)
        self._state = "start"

    def write_act1(self) -> bytes:
        """Act 1: the initiator's 64-byte ephemeral ElligatorSwift encoding."""
        if self._state != "start":
            raise HandshakeError("act 1 already written")
        sym = self._sym
        e = self._own_ellswift
        sym.mix_hash(e)
        if sym.trace:
            sym.trace("h_after_mixhash_ie", sym.h)
        sym.encrypt_and_hash(b"")
        if sym.trace:
            sym.trace("h_after_act1", sym.h)
        self._state = "act1"
        return e

    def read_act2(self, message: bytes, now: float) -> HandshakeResult:
        """Process the responder's 234-byte act 2; verify its certificate at ``now``."""
        if self._state != "act1":
            raise HandshakeError("act 2 received out of order")
        if len(message) != ACT2_SIZE:
            raise HandshakeError(f"act 2 must be {ACT2_SIZE} bytes, got {len(message)}")
        self._state = "failed"
        sym = self._sym
        trace = sym.trace
        e = self._own_ellswift
        re = bytes(message[:ELLSWIFT_SIZE])
        sym.mix_hash(re)
        if trace:
            trace("h_after_mixhash_re", sym.h)
        ee = ellswift_xdh(e, re, self._ephemeral, initiator=True)
        key = sym.mix_key(ee)
        if trace:
            trace("ecdh_ee", ee)
            trace("ck_after_ee", sym.ck)
            trace("k_after_ee", key)
        rs = sym.decrypt_and_hash(bytes(message[ELLSWIFT_SIZE : 2 * ELLSWIFT_SIZE + MAC_SIZE]))
        if trace:
            trace("h_after_static", sym.h)
        es = ellswift_xdh(e, rs, self._ephemeral, initiator=True)
        key = sym.mix_key(es)
        if trace:
            trace("ecdh_es", es)
            trace("ck_after_es", sym.ck)
            trace("k_after_es", key)
        cert_bytes = sym.decrypt_and_hash(bytes(message[2 * ELLSWIFT_SIZE + MAC_SIZE :]))
        if trace:
            trace("h_final", sym.h)
        cert = Certificate.from_bytes(cert_bytes)
        try:
            static_xonly = ellswift_decode_x(rs)
        except CryptoError as exc:  # pragma: no cover - every 64-byte string decodes
            raise HandshakeError(f"bad responder static key: {exc}") from None
        if self._authority is not None:
            cert.verify(self._authority, static_xonly, now, self._leeway)
        k1, k2 = sym.split()
        if trace:
            trace("k_initiator_to_responder(c1)", k1)
            trace("k_responder_to_initiator(c2)", k2)
        self._state = "done"
        return HandshakeResult(_cipher_state(k1), _cipher_state(k2), sym.h, static_xonly, cert)


class ResponderHandshake:
    """The server side: reads act 1 and answers with act 2 (static key and certificate)."""

    __slots__ = ("_ephemeral", "_identity", "_own_ellswift", "_state", "_sym")

    def __init__(
        self,
        identity: ResponderIdentity,
        ephemeral_secret: bytes,
        ellswift_rnd: bytes = bytes(32),
        trace: Trace | None = None,
    ) -> None:
        _check_secret(ephemeral_secret, "ephemeral secret")
        self._identity = identity
        self._ephemeral = ephemeral_secret
        self._own_ellswift = ellswift_encode(ephemeral_secret, ellswift_rnd)
        self._sym = _SymmetricState(trace)
        self._state = "start"

    def read_act1(self, message: bytes, now: float) -> tuple[bytes, HandshakeResult]:
        """Process act 1 and return ``(act 2, transport keys)``; the certificate is for ``now``."""
        if self._state != "start":
            raise HandshakeError("act 1 received twice")
        if len(message) != ACT1_SIZE:
            raise HandshakeError(f"act 1 must be {ACT1_SIZE} bytes, got {len(message)}")
        self._state = "failed"
        # The symmetric state's steps written out (one pass, no per-step method calls).
        sym = self._sym
        trace = sym.trace
        identity = self._identity
        sha = sha256_small
        ie = bytes(message)
        h = sha(sym.h + ie).digest()  # MixHash(e)
        h = sha(h).digest()  # DecryptAndHash(empty): no key yet, MixHash(empty)
        if trace:
            trace("h_after_act1", h)
        re = self._own_ellswift
        h = sha(h + re).digest()
        ee = ellswift_xdh(ie, re, self._ephemeral, initiator=False)
        ck, key = hkdf2_padded(_CK0_IPAD, _CK0_OPAD, ee)  # a fresh state: ck is CK0
        if trace:
            trace("h_after_mixhash_re", h)
            trace("ecdh_ee", ee)
            trace("ck_after_ee", ck)
        static_ellswift = identity.static_ellswift
        enc_static = ChaCha20Poly1305(key).encrypt(_NONCE0, static_ellswift, h)
        h = sha(h + enc_static).digest()
        if trace:
            trace("enc_static", enc_static)
            trace("h_after_static", h)
        es = ellswift_xdh(ie, static_ellswift, identity.static_secret, initiator=False)
        ck, key = hkdf2(ck, es)
        if trace:
            trace("ecdh_es", es)
            trace("ck_after_es", ck)
        cert, cert_bytes = identity.current(now)
        enc_cert = ChaCha20Poly1305(key).encrypt(_NONCE0, cert_bytes, h)
        h = sha(h + enc_cert).digest()
        if trace:
            trace("enc_cert", enc_cert)
            trace("h_final", h)
        k1, k2 = hkdf2(ck, b"")
        sym.h = h
        sym.ck = ck
        self._state = "done"
        send, recv = _cipher_state(k2), _cipher_state(k1)
        result = HandshakeResult(send, recv, h, identity.static_xonly, cert)
        return re + enc_static + enc_cert, result
