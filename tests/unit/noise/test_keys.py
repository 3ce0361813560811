"""Authority key texts (SV2 digest 02 §7: spec §4.7.1, SRI key-utils tests and configs)."""

from __future__ import annotations

import pytest

from stratumv2.noise import (
    KeyEncodingError,
    Keypair,
    decode_authority_public_key,
    decode_secret_key,
    encode_authority_public_key,
    encode_secret_key,
)
from stratumv2.noise.keys import b58check_decode, b58check_encode


@pytest.mark.parametrize(
    ("xonly", "text"),
    [
        # spec §4.7.1
        (
            "76637000979c1c11af0c300bcd8c7fe48610fce9b9c11e3daee35ae0b08a7455",
            "9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh",
        ),
        # SRI key-utils test
        (
            "4df78c3f49302eef4ec3ef2daf5fa337bb63c59a2f1844664776277e9470118c",
            "9bDuixKmZqAJnrmP746n8zU1wyAQRrus7th9dxnkPg6RzQvCnan",
        ),
        # SRI example configs
        (
            "24ee3c3804a1aaa4c03b80ea19f7a5863c916e8994b7db94a3bad7ee092b6ce7",
            "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72",
        ),
    ],
)
def test_public_key_vectors(xonly: str, text: str) -> None:
    assert encode_authority_public_key(bytes.fromhex(xonly)) == text
    assert decode_authority_public_key(text).data.hex() == xonly


@pytest.mark.parametrize(
    ("secret_text", "secret_hex", "public_text"),
    [
        (
            "zmBEmPhqo3A92FkiLVvyCz6htc3e53ph3ZbD4ASqGaLjwnFLi",
            "8327a919dfa7772950ea6e15f035d0cc2eaf21a3a33bc2f595c1dec1cca31a9b",
            "9bDuixKmZqAJnrmP746n8zU1wyAQRrus7th9dxnkPg6RzQvCnan",
        ),
        (
            "mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n",
            "65995eb19631f478a46ffa5cf1e545091efe950eaeac7482ffdc06eb6a89f697",
            "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72",
        ),
    ],
)
def test_secret_key_vectors(secret_text: str, secret_hex: str, public_text: str) -> None:
    secret = decode_secret_key(secret_text)
    assert secret.hex() == secret_hex
    assert encode_secret_key(secret) == secret_text
    assert encode_authority_public_key(Keypair(secret).public_key.data) == public_text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("9bDuixKmZqAJnrmP746n8zU1wyAQRrus7th9dxnkPg6RzQvCnam", "checksum"),
        ("2myPhc5vkPzuC5FXNK5tee79WmP7uoLh55SxezoF8iqwF3E3rnPY", "version 12"),
        ("2wmHTKZkLg2QzXyEXGMBXzKP7JXDUt8yy9SA5hoQwERc92qR6c", "33 bytes"),
        ("9bDuixKmZqAJnrmP746n8zU1wyAQRrus7th9dxnkPg6RzQvCna0", "character"),
        ("", "too short"),
    ],
)
def test_public_key_negative_cases(text: str, reason: str) -> None:
    with pytest.raises(KeyEncodingError, match=reason.split()[0]):
        decode_authority_public_key(text)


def test_public_key_not_on_curve() -> None:
    text = b58check_encode(b"\x01\x00" + b"\xff" * 32)
    with pytest.raises(KeyEncodingError, match="invalid authority public key"):
        decode_authority_public_key(text)


def test_secret_key_negative_cases() -> None:
    with pytest.raises(KeyEncodingError, match="32 bytes"):
        decode_secret_key("9bDuixKmZqAJnrmP746n8zU1wyAQRrus7th9dxnkPg6RzQvCnan")
    with pytest.raises(KeyEncodingError, match="valid"):
        decode_secret_key(b58check_encode(bytes(32)))
    with pytest.raises(KeyEncodingError):
        encode_secret_key(bytes(32))


def test_base58_leading_zeros() -> None:
    for data in (b"", b"\0", b"\0\0\x01", bytes(range(40))):
        assert b58check_decode(b58check_encode(data)) == data
    assert b58check_encode(b"\0\0\x01").startswith("11")
