"""ResponderIdentity issues certificates and renews them before they expire."""

from __future__ import annotations

import os

from stratumv2.noise import InitiatorHandshake, Keypair, ResponderHandshake, ResponderIdentity

AUTH = Keypair(bytes([9]) * 32)
STATIC = bytes([3]) * 32
T0 = 1_800_000_000


def test_certificate_window_and_reuse() -> None:
    ident = ResponderIdentity(AUTH, STATIC, validity=3600, backdate=60)
    cert = ident.certificate(T0)
    assert (cert.valid_from, cert.not_valid_after) == (T0 - 60, T0 + 3600)
    assert ident.certificate(T0 + 100) is cert
    cert.verify(AUTH.public_key, ident.static_xonly, T0 + 100)


def test_renewal_before_expiry() -> None:
    ident = ResponderIdentity(AUTH, STATIC, validity=3600, renew_before=900)
    first = ident.certificate(T0)
    assert ident.certificate(T0 + 2699) is first
    renewed = ident.certificate(T0 + 2700)
    assert renewed is not first and renewed.not_valid_after == T0 + 2700 + 3600
    # a clock that moved backwards gets a certificate valid now
    back = ident.certificate(T0 - 10_000)
    assert back.valid_from <= T0 - 10_000 <= back.not_valid_after


def test_long_running_responder_stays_valid() -> None:
    """Handshakes over 10 validity periods all verify at their own time."""
    ident = ResponderIdentity(AUTH, STATIC, validity=600, aux_rand=lambda: os.urandom(32))
    for step in range(0, 6000, 97):
        now = T0 + step
        init = InitiatorHandshake(AUTH.public_key, os.urandom(32))
        resp = ResponderHandshake(ident, os.urandom(32))
        act2, _ = resp.read_act1(init.write_act1(), now=now)
        init.read_act2(act2, now=now)
