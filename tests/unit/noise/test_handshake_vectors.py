"""The NX handshake reproduces 02-noise-test-vectors.json byte for byte (SV2 digest 02 §9)."""

from __future__ import annotations

from typing import Any

import pytest

from stratumv2.noise import (
    ACT1_SIZE,
    ACT2_SIZE,
    BadCertificate,
    Certificate,
    DecryptError,
    HandshakeError,
    InitiatorHandshake,
    Keypair,
    NoiseTransport,
    ResponderHandshake,
    ResponderIdentity,
    XOnlyPublicKey,
)
from stratumv2.noise.certificate import signed_message
from stratumv2.noise.handshake import CK0, H0, PROTOCOL_NAME
from stratumv2.noise.primitives import ecdh_x, ellswift_encode, sha256

NOW = 1700000000


def _h(v: dict[str, Any], key: str) -> bytes:
    return bytes.fromhex(v[key])


def _identity(v: dict[str, Any]) -> ResponderIdentity:
    authority = Keypair(_h(v, "authority_secret_key_hex"))
    return ResponderIdentity(authority, _h(v, "responder_static_sk"), validity=3600, backdate=0)


def _run(v: dict[str, Any]) -> tuple[dict[str, bytes], dict[str, bytes], bytes, bytes, Any, Any]:
    init_trace: dict[str, bytes] = {}
    resp_trace: dict[str, bytes] = {}
    authority = XOnlyPublicKey(_h(v, "authority_public_key_xonly_hex"))
    initiator = InitiatorHandshake(
        authority, _h(v, "initiator_ephemeral_sk"), trace=init_trace.__setitem__
    )
    responder = ResponderHandshake(
        _identity(v), _h(v, "responder_ephemeral_sk"), trace=resp_trace.__setitem__
    )
    act1 = initiator.write_act1()
    act2, resp_keys = responder.read_act1(act1, now=NOW)
    init_keys = initiator.read_act2(act2, now=NOW)
    return init_trace, resp_trace, act1, act2, init_keys, resp_keys


def test_protocol_name_hashes(noise_vector: dict[str, Any]) -> None:
    assert PROTOCOL_NAME.decode() == noise_vector["protocol_name"]
    assert CK0.hex() == noise_vector["ck0"]
    assert H0.hex() == noise_vector["h0"]


def test_ellswift_encodings_with_zero_randomness(noise_vector: dict[str, Any]) -> None:
    v = noise_vector
    for sk, ell in [
        ("initiator_ephemeral_sk", "initiator_ephemeral_ellswift"),
        ("responder_ephemeral_sk", "responder_ephemeral_ellswift"),
        ("responder_static_sk", "responder_static_ellswift"),
    ]:
        assert ellswift_encode(_h(v, sk)).hex() == v[ell]


def test_raw_ecdh_x_coordinates(noise_vector: dict[str, Any]) -> None:
    v = noise_vector
    re = _h(v, "responder_ephemeral_ellswift")
    rs = _h(v, "responder_static_ellswift")
    ie = _h(v, "initiator_ephemeral_ellswift")
    assert ecdh_x(re, _h(v, "initiator_ephemeral_sk")).hex() == v["ecdh_ee_x"]
    assert ecdh_x(ie, _h(v, "responder_ephemeral_sk")).hex() == v["ecdh_ee_x"]
    assert ecdh_x(rs, _h(v, "initiator_ephemeral_sk")).hex() == v["ecdh_es_x"]
    # BIP324 tagged hash with the initiator's encoding first, computed by hand.
    tag = sha256(b"bip324_ellswift_xonly_ecdh")
    ee = sha256(tag + tag + ie + re + _h(v, "ecdh_ee_x"))
    assert ee.hex() == v["ecdh_ee"]


@pytest.mark.parametrize(
    "label",
    [
        "h_after_mixhash_ie",
        "h_after_act1",
        "h_after_mixhash_re",
        "ecdh_ee",
        "ck_after_ee",
        "k_after_ee",
        "h_after_static",
        "ecdh_es",
        "ck_after_es",
        "k_after_es",
        "h_final",
        "k_initiator_to_responder(c1)",
        "k_responder_to_initiator(c2)",
    ],
)
def test_initiator_intermediates(noise_vector: dict[str, Any], label: str) -> None:
    init_trace = _run(noise_vector)[0]
    assert init_trace[label].hex() == noise_vector[label]


@pytest.mark.parametrize(
    "label",
    [
        "h_after_act1",
        "h_after_mixhash_re",
        "ecdh_ee",
        "ck_after_ee",
        "enc_static",
        "h_after_static",
        "ecdh_es",
        "ck_after_es",
        "enc_cert",
        "h_final",
    ],
)
def test_responder_intermediates(noise_vector: dict[str, Any], label: str) -> None:
    resp_trace = _run(noise_vector)[1]
    assert resp_trace[label].hex() == noise_vector[label]


def test_acts_on_the_wire_and_split_keys(noise_vector: dict[str, Any]) -> None:
    v = noise_vector
    _, _, act1, act2, init_keys, resp_keys = _run(v)
    assert len(act1) == ACT1_SIZE and act1.hex() == v["act1_wire"]
    assert len(act2) == ACT2_SIZE and act2.hex() == v["act2_wire"]
    assert init_keys.handshake_hash == resp_keys.handshake_hash == _h(v, "h_final")
    assert init_keys.responder_static_xonly == resp_keys.responder_static_xonly
    assert init_keys.certificate.to_bytes().hex() == v["signature_noise_message"]


def test_certificate_signature(noise_vector: dict[str, Any]) -> None:
    v = noise_vector
    static_x = Keypair(_h(v, "responder_static_sk")).public_key.data
    pre = (
        (0).to_bytes(2, "little")
        + v["cert_valid_from"].to_bytes(4, "little")
        + v["cert_not_valid_after"].to_bytes(4, "little")
        + static_x
    )
    assert pre.hex() == v["cert_signed_preimage"]
    msg = signed_message(0, v["cert_valid_from"], v["cert_not_valid_after"], static_x)
    assert msg.hex() == v["cert_msg_hash"]
    cert = Certificate.sign(
        Keypair(_h(v, "authority_secret_key_hex")),
        static_x,
        v["cert_valid_from"],
        v["cert_not_valid_after"],
        aux_rand=bytes(32),
    )
    assert cert.signature.hex() == v["cert_signature_aux0"]
    assert cert.to_bytes().hex() == v["signature_noise_message"]
    assert Certificate.from_bytes(cert.to_bytes()) == cert


def test_encrypted_setup_connection_frames(noise_vector: dict[str, Any]) -> None:
    v = noise_vector
    *_, init_keys, resp_keys = _run(v)
    client = NoiseTransport(init_keys.send, init_keys.recv)
    server = NoiseTransport(resp_keys.send, resp_keys.recv)
    plain = _h(v, "setup_connection_plain_frame")
    sealed = client.encrypt_frame(plain[:6], plain[6:])
    assert sealed.hex() == v["setup_connection_encrypted_frame"]
    assert len(sealed) == v["setup_connection_encrypted_len"]
    assert server.feed(sealed) == [(plain[:6], plain[6:])]
    reply = _h(v, "setup_connection_success_plain_frame")
    sealed = server.encrypt_frame(reply[:6], reply[6:])
    assert sealed.hex() == v["setup_connection_success_encrypted_frame"]
    assert client.feed(sealed) == [(reply[:6], reply[6:])]


# --- failures -------------------------------------------------------------------------


def _pair(
    v: dict[str, Any], authority_hex: str | None = None, leeway: int = 10
) -> tuple[InitiatorHandshake, ResponderHandshake]:
    key = XOnlyPublicKey(bytes.fromhex(authority_hex or v["authority_public_key_xonly_hex"]))
    initiator = InitiatorHandshake(key, _h(v, "initiator_ephemeral_sk"), leeway=leeway)
    responder = ResponderHandshake(_identity(v), _h(v, "responder_ephemeral_sk"))
    return initiator, responder


@pytest.mark.parametrize("offset", [0, 63, 64, 100, 143, 144, 200, 233])
def test_tampered_act2_is_rejected(noise_vector: dict[str, Any], offset: int) -> None:
    initiator, responder = _pair(noise_vector)
    act2, _ = responder.read_act1(initiator.write_act1(), now=NOW)
    bad = bytearray(act2)
    bad[offset] ^= 0x01
    with pytest.raises(DecryptError):
        initiator.read_act2(bytes(bad), now=NOW)


def test_wrong_authority_key(noise_vector: dict[str, Any]) -> None:
    other = noise_vector["key_utils_pk_xonly_hex"]
    initiator, responder = _pair(noise_vector, authority_hex=other)
    act2, _ = responder.read_act1(initiator.write_act1(), now=NOW)
    with pytest.raises(BadCertificate, match="authority"):
        initiator.read_act2(act2, now=NOW)


@pytest.mark.parametrize(
    ("now", "ok"),
    [
        (NOW - 10, True),  # 10 s leeway before valid_from (SRI)
        (NOW - 11, False),
        (NOW + 3600 + 10, True),
        (NOW + 3600 + 11, False),
    ],
)
def test_certificate_window_with_leeway(noise_vector: dict[str, Any], now: int, ok: bool) -> None:
    initiator, responder = _pair(noise_vector)
    act2, _ = responder.read_act1(initiator.write_act1(), now=NOW)
    if ok:
        initiator.read_act2(act2, now=now)
    else:
        with pytest.raises(BadCertificate, match=r"expired|not yet valid"):
            initiator.read_act2(act2, now=now)


@pytest.mark.parametrize("size", [0, 63, 65, 128])
def test_act1_wrong_size(noise_vector: dict[str, Any], size: int) -> None:
    _, responder = _pair(noise_vector)
    with pytest.raises(HandshakeError):
        responder.read_act1(bytes(size), now=NOW)


@pytest.mark.parametrize("size", [0, 170, 233, 235])
def test_act2_wrong_size(noise_vector: dict[str, Any], size: int) -> None:
    initiator, _ = _pair(noise_vector)
    initiator.write_act1()
    with pytest.raises(HandshakeError):
        initiator.read_act2(bytes(size), now=NOW)


def test_out_of_order(noise_vector: dict[str, Any]) -> None:
    initiator, responder = _pair(noise_vector)
    with pytest.raises(HandshakeError):
        initiator.read_act2(bytes(ACT2_SIZE), now=NOW)
    act1 = initiator.write_act1()
    with pytest.raises(HandshakeError):
        initiator.write_act1()
    responder.read_act1(act1, now=NOW)
    with pytest.raises(HandshakeError):
        responder.read_act1(act1, now=NOW)


def test_handshake_without_authority_check(noise_vector: dict[str, Any]) -> None:
    v = noise_vector
    initiator = InitiatorHandshake(None, _h(v, "initiator_ephemeral_sk"))
    responder = ResponderHandshake(_identity(v), _h(v, "responder_ephemeral_sk"))
    act2, resp = responder.read_act1(initiator.write_act1(), now=NOW)
    assert initiator.read_act2(act2, now=NOW + 10**6).handshake_hash == resp.handshake_hash
