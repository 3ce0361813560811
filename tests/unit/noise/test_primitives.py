"""libsecp256k1 bindings against BIP340 and BIP324 vectors; AEAD, HKDF and CipherState."""

from __future__ import annotations

import csv
import hashlib
import hmac
from pathlib import Path

import pytest

from stratumv2.noise import CipherState, DecryptError, Keypair, NonceExhausted, XOnlyPublicKey
from stratumv2.noise.cipher import MAX_NONCE
from stratumv2.noise.primitives import (
    Aead,
    CryptoError,
    ellswift_decode_x,
    ellswift_encode,
    ellswift_xdh,
    hkdf2,
    is_valid_secret,
    nonce,
)

DATA = Path(__file__).resolve().parent / "data"


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="") as fh:
        return list(csv.DictReader(fh))


BIP340 = _rows("bip-0340_test-vectors.csv")
ELLSWIFT = _rows("bip-0324_ellswift_decode_test_vectors.csv")


@pytest.mark.parametrize("row", BIP340, ids=lambda r: f"bip340-{r['index']}")
def test_bip340_vectors(row: dict[str, str]) -> None:
    """bitcoin/bips bip-0340/test-vectors.csv: signing (32-byte messages) and verification."""
    message = bytes.fromhex(row["message"])
    signature = bytes.fromhex(row["signature"])
    expected = row["verification result"] == "TRUE"
    if row["secret key"] and len(message) == 32:
        keypair = Keypair(bytes.fromhex(row["secret key"]))
        assert keypair.public_key.data.hex().upper() == row["public key"]
        assert (
            keypair.sign(message, bytes.fromhex(row["aux_rand"])).hex().upper() == row["signature"]
        )
    try:
        key = XOnlyPublicKey(bytes.fromhex(row["public key"]))
    except CryptoError:
        assert not expected  # public key not on the curve / not a field element
        return
    assert key.verify(signature, message) is expected


@pytest.mark.parametrize("row", ELLSWIFT, ids=lambda r: r["comment"][:40])
def test_ellswift_decode_vectors(row: dict[str, str]) -> None:
    """bitcoin/bips bip-0324 ellswift_decode_test_vectors.csv."""
    assert ellswift_decode_x(bytes.fromhex(row["ellswift"])).hex() == row["x"]


def test_ellswift_roundtrip_and_xdh_symmetry() -> None:
    a, b = bytes([1]) * 32, bytes([2]) * 32
    ea, eb = ellswift_encode(a, bytes(32)), ellswift_encode(b, bytes([7]) * 32)
    assert ellswift_decode_x(ea) == Keypair(a).public_key.data
    assert ellswift_xdh(ea, eb, a, initiator=True) == ellswift_xdh(ea, eb, b, initiator=False)
    assert ellswift_xdh(ea, eb, a, initiator=True) != ellswift_xdh(eb, ea, b, initiator=True)


def test_invalid_secrets() -> None:
    order = bytes.fromhex("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141")
    for bad in (bytes(32), order, b"\x01" * 31):
        assert not is_valid_secret(bad)
        with pytest.raises(CryptoError):
            ellswift_encode(bad)
        with pytest.raises(CryptoError):
            Keypair(bad)


def test_hkdf_matches_hmac_definition() -> None:
    ck, ikm = bytes(range(32)), b"input"
    t = hmac.new(ck, ikm, hashlib.sha256).digest()
    o1 = hmac.new(t, b"\x01", hashlib.sha256).digest()
    o2 = hmac.new(t, o1 + b"\x02", hashlib.sha256).digest()
    assert hkdf2(ck, ikm) == (o1, o2)


def test_nonce_layout() -> None:
    assert nonce(0) == bytes(12)
    assert nonce(0x0102) == bytes(4) + b"\x02\x01" + bytes(6)
    assert nonce(MAX_NONCE) == bytes(4) + b"\xff" * 8


def test_aead_rfc8439_vector() -> None:
    """RFC 8439 §2.8.2 AEAD vector (nonce 07000000 40414243 44454647: not the Noise layout)."""
    key = bytes(range(0x80, 0xA0))
    aad = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
    pt = (
        b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip "
        b"for the future, sunscreen would be it."
    )
    out = Aead(key).raw_encrypt(bytes.fromhex("070000004041424344454647"), pt, aad)
    assert out[-16:].hex() == "1ae10b594f09e26a7e902ecbd0600691"


def test_cipher_state_counter_and_exhaustion() -> None:
    key = bytes(range(32))
    a, b = CipherState(key), CipherState(key)
    for i in range(3):
        assert b.decrypt(a.encrypt(b"m%d" % i)) == b"m%d" % i
    assert a.n == b.n == 3
    assert CipherState(key, n=5).encrypt(b"x") == Aead(key).encrypt(5, None, b"x")
    last = CipherState(key, n=MAX_NONCE - 1)
    last.encrypt(b"ok")
    with pytest.raises(NonceExhausted):
        last.encrypt(b"too many")
    with pytest.raises(NonceExhausted):
        CipherState(key, n=MAX_NONCE).decrypt(bytes(16))


def test_cipher_state_failed_decrypt_keeps_counter() -> None:
    key = bytes(range(32))
    a, b = CipherState(key), CipherState(key)
    ct = bytearray(a.encrypt(b"hello"))
    ct[0] ^= 1
    with pytest.raises(DecryptError):
        b.decrypt(bytes(ct))
    assert b.n == 0
