"""The responder certificate (``SIGNATURE_NOISE_MESSAGE``) and the identity that issues it.

Wire form (74 bytes, little-endian): ``version U16 || valid_from U32 || not_valid_after U32 ||
signature (BIP340, 64)``. The authority signs ``SHA256(version || valid_from ||
not_valid_after || x-only of the responder's static key)``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Final

from stratumv2.noise.errors import BadCertificate, HandshakeError
from stratumv2.noise.primitives import Keypair, XOnlyPublicKey, ellswift_encode, sha256

__all__ = [
    "CERTIFICATE_SIZE",
    "DEFAULT_LEEWAY",
    "Certificate",
    "ResponderIdentity",
    "signed_message",
]

CERTIFICATE_SIZE: Final = 74
DEFAULT_LEEWAY: Final = 10
"""Clock skew tolerated on both ends of the validity window, in seconds (as SRI)."""

_FIELDS: Final = struct.Struct("<HII")
_U32_MAX: Final = 0xFFFFFFFF


def signed_message(
    version: int, valid_from: int, not_valid_after: int, static_xonly: bytes
) -> bytes:
    """The 32-byte digest the authority signs with BIP340."""
    return sha256(_FIELDS.pack(version, valid_from, not_valid_after) + static_xonly)


@dataclass(frozen=True, slots=True)
class Certificate:
    """A ``SIGNATURE_NOISE_MESSAGE``: validity window (unix seconds) and authority signature."""

    version: int
    valid_from: int
    not_valid_after: int
    signature: bytes

    SIZE: ClassVar[int] = CERTIFICATE_SIZE

    def to_bytes(self) -> bytes:
        """The 74-byte wire form."""
        return _FIELDS.pack(self.version, self.valid_from, self.not_valid_after) + self.signature

    @classmethod
    def from_bytes(cls, data: bytes) -> Certificate:
        """Parse the 74-byte wire form."""
        if len(data) != CERTIFICATE_SIZE:
            raise HandshakeError(f"certificate must be {CERTIFICATE_SIZE} bytes, got {len(data)}")
        version, valid_from, not_valid_after = _FIELDS.unpack_from(data)
        return cls(version, valid_from, not_valid_after, bytes(data[10:]))

    @classmethod
    def sign(
        cls,
        authority: Keypair,
        static_xonly: bytes,
        valid_from: int,
        not_valid_after: int,
        aux_rand: bytes | None = None,
        version: int = 0,
    ) -> Certificate:
        """Sign a certificate for the responder static key ``static_xonly``."""
        if not 0 <= valid_from <= not_valid_after <= _U32_MAX:
            raise ValueError("certificate validity must satisfy 0 <= from <= until < 2**32")
        message = signed_message(version, valid_from, not_valid_after, static_xonly)
        return cls(version, valid_from, not_valid_after, authority.sign(message, aux_rand))

    def verify(
        self,
        authority: XOnlyPublicKey,
        static_xonly: bytes,
        now: float,
        leeway: int = DEFAULT_LEEWAY,
    ) -> None:
        """Raise :class:`BadCertificate` unless valid at ``now`` (± ``leeway``) and signed."""
        if self.version != 0:
            raise BadCertificate(f"unsupported certificate version {self.version}")
        if now + leeway < self.valid_from:
            raise BadCertificate(
                f"certificate not yet valid (valid from {self.valid_from}, now {int(now)})"
            )
        if now - leeway > self.not_valid_after:
            raise BadCertificate(
                f"certificate expired (not valid after {self.not_valid_after}, now {int(now)})"
            )
        message = signed_message(self.version, self.valid_from, self.not_valid_after, static_xonly)
        if not authority.verify(self.signature, message):
            raise BadCertificate("certificate not signed by the expected authority key")


class ResponderIdentity:
    """What a responder needs: its static key and a certificate from the authority key.

    The certificate is issued on first use and re-issued automatically once ``now`` comes
    within ``renew_before`` seconds of its end (or precedes its start, if the clock moved).
    ``valid_from`` is back-dated by ``backdate`` seconds for peers with slow clocks and for
    strict initiators that allow no leeway. ``aux_rand`` supplies BIP340 auxiliary
    randomness (``None``: none, the signature is still safe but deterministic).
    """

    __slots__ = (
        "_aux_rand",
        "_cert",
        "_cert_bytes",
        "authority",
        "backdate",
        "renew_before",
        "static_ellswift",
        "static_secret",
        "static_xonly",
        "validity",
    )

    def __init__(
        self,
        authority: Keypair,
        static_secret: bytes,
        validity: int = 3600,
        backdate: int = 60,
        renew_before: int | None = None,
        aux_rand: Callable[[], bytes] | None = None,
        ellswift_rnd: bytes = bytes(32),
    ) -> None:
        if validity <= 0:
            raise ValueError("certificate validity must be positive")
        self.authority = authority
        self.static_secret = static_secret
        self.static_ellswift = ellswift_encode(static_secret, ellswift_rnd)
        self.static_xonly = Keypair(static_secret).public_key.data
        self.validity = validity
        self.backdate = backdate
        self.renew_before = validity // 4 if renew_before is None else renew_before
        self._aux_rand = aux_rand
        self._cert: Certificate | None = None
        self._cert_bytes = b""

    def certificate(self, now: float) -> Certificate:
        """The current certificate, issuing a new one if needed at ``now``."""
        return self.current(now)[0]

    def current(self, now: float) -> tuple[Certificate, bytes]:
        """:meth:`certificate` and its wire form (cached)."""
        cert = self._cert
        t = int(now)
        if cert is None or t < cert.valid_from or t >= cert.not_valid_after - self.renew_before:
            cert = self.issue(t)
        return cert, self._cert_bytes

    def issue(self, now: int) -> Certificate:
        """Sign a fresh certificate valid from ``now - backdate`` for ``validity`` seconds."""
        aux = self._aux_rand() if self._aux_rand is not None else None
        valid_from = max(0, now - self.backdate)
        cert = Certificate.sign(
            self.authority, self.static_xonly, valid_from, min(now + self.validity, _U32_MAX), aux
        )
        self._cert = cert
        self._cert_bytes = cert.to_bytes()
        return cert
