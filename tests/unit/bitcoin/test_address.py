"""Addresses to scripts: BIP173/BIP350 vectors and Bitcoin Core's key_io_valid.json."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratumv2.bitcoin.address import (
    NETWORK_NAMES,
    address_to_script,
    is_valid_address,
    script_to_address,
)
from stratumv2.bitcoin.errors import AddressError

# Bitcoin Core src/test/data/key_io_valid.json (commit 1010c48a), non-private entries.
CORE_KEY_IO_VALID = [
    (
        "1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mo",
        "76a914a31c06bd463e3923bc1aadbde48b16976c08071788ac",
        "main",
    ),
    (
        "36j4NfKv6Akva9amjWrLG6MuSQym1GuEmm",
        "a914373b819a068f32b7a6b38b6b38729647cfde01c287",
        "main",
    ),
    (
        "mzK2FFDEhxqHcmrJw1ysqFkVyhUULo45hZ",
        "76a914ce28b26c57472737f5c3561a1761185bd8589a4388ac",
        "testnet4",
    ),
    (
        "2NC2hEhe28ULKAJkW5MjZ3jtTMJdvXmByvK",
        "a914ce0bba75891ff9ec60148d4bd4a09ee2dc5c933187",
        "testnet4",
    ),
    (
        "mww4LvqtTMKvmeQvizPz2EQv26xTneWrbg",
        "76a914b4110ba93ac54afc14da3bdd19614774a2d55d2988ac",
        "signet",
    ),
    (
        "2N1r7aC69VHeE7yQJPDLi9T1PYq4wnwvjuT",
        "a9145e5a35ab44b3efaea5129ba22b88ba3e2976614587",
        "signet",
    ),
    (
        "n4fajahJrAuKbN7uNsKjLjQkz9Qn5ewJXQ",
        "76a914fdeca3b08e38af53d7c4c60e3ad208ce5066441088ac",
        "regtest",
    ),
    (
        "2MxFajLApXpYk4VodBSZSt7rw8y4ryABkfA",
        "a91436e9f191e0b75036a77f65e2eaa4752443233fbe87",
        "regtest",
    ),
    (
        "bc1qvyq0cc6rahyvsazfdje0twl7ez82ndmuac2lhv",
        "00146100fc6343edc8c874496cb2f5bbfec88ea9b77c",
        "main",
    ),
    (
        "bc1qyucykdlhp62tezs0hagqury402qwhk589q80tqs5myh3rxq34nwqhkdhv7",
        "002027304b37f70e94bc8a0fbf500e0c957a80ebda87280ef58214d92f119811acdc",
        "main",
    ),
    (
        "bc1p83n3au0rjylefxq2nc2xh2y4jzz4pm6zxj4mw5pagdjjr2a9f36s6jjnnu",
        "51203c671ef1e3913f94980a9e146ba895908550ef4234abb7503d436521aba54c75",
        "main",
    ),
    (
        "tb1qcrh3yqn4nlleplcez2yndq2ry8h9ncg3qh7n54",
        "0014c0ef1202759fff90ff19128936814321ee59e111",
        "testnet4",
    ),
    (
        "tb1quyl9ujpgwr2chdzdnnalen48sup245vdfnh2jxhsuq3yx80rrwlq5hqfe4",
        "0020e13e5e482870d58bb44d9cfbfccea78702aad18d4ceea91af0e022431de31bbe",
        "testnet4",
    ),
    (
        "tb1p35n52jy6xkm4wd905tdy8qtagrn73kqdz73xe4zxpvq9t3fp50aqk3s6gz",
        "51208d2745489a35b75734afa2da43817d40e7e8d80d17a26cd4460b0055c521a3fa",
        "testnet4",
    ),
    (
        "tb1q3vya2h5435jkugq2few7dmktlrwq4ejmfaw7kr",
        "00148b09d55e958d256e200a4e5de6eecbf8dc0ae65b",
        "signet",
    ),
    (
        "tb1qxkhrl2s6ttrclckldruea0e8anhrehffl8xv7t0pdyrzm08v2hyqy408nf",
        "002035ae3faa1a5ac78fe2df68f99ebf27ecee3cdd29f9cccf2de169062dbcec55c8",
        "signet",
    ),
    (
        "tb1pae5um27ahn8n73pgexe3kcwlp8dhswpn684h2k2w6t9a7w3eq65qephd5y",
        "5120ee69cdabddbccf3f4428c9b31b61df09db783833d1eb75594ed2cbdf3a3906a8",
        "signet",
    ),
    (
        "bcrt1qdavt4j2sd7dlhqsavtnfxvzppw6k7qy97tmnu9",
        "00146f58bac9506f9bfb821d62e69330410bb56f0085",
        "regtest",
    ),
    (
        "bcrt1qan8gntac7z7me2ejt4hpru42ad2f759fmy0m3ejvs98656znv7eqga4uhv",
        "0020ecce89afb8f0bdbcab325d6e11f2aaeb549f50a9d91fb8e64c814faa685367b2",
        "regtest",
    ),
    (
        "bcrt1pfwxjqvtt4tcxrtdluukfmy2dv7xd2qzdfy6kajv5nwn4yam3wxkq3553uh",
        "51204b8d20316baaf061adbfe72c9d914d678cd5004d49356ec9949ba752777171ac",
        "regtest",
    ),
    (
        "1FjL87pn8ky6Vbavd1ZHeChRXtoxwRGCRd",
        "76a914a19331b7b2627e663e25a7b001e4c0dcc5e21bc788ac",
        "main",
    ),
    (
        "3BZECeAH8gSKkjrTx8PwMrNQBLG18yHpvf",
        "a9146c382dcdf5b284760c8e3fead91f7422cd76aa8787",
        "main",
    ),
    (
        "mfhE6jAUwjUDNZhaX1PAsDTKfneQF2Nshc",
        "76a91401f15a4cc063dae4f4d56b89bfbc8bcc9ae5387c88ac",
        "regtest",
    ),
    (
        "2MxNm1VHyVU4RuP3u1c1v5aQLk2dQjwy1Qk",
        "a91438456f7c076356abadcc67b92ad777eb20fb9f8887",
        "regtest",
    ),
    (
        "bcrt1p39a4s4vdcw9kqa8w2t0rp7aj8kfxyw7mce5sk5d70x6wnnmpvt7skf2kxy",
        "5120897b58558dc38b6074ee52de30fbb23d92623bdbc6690b51be79b4e9cf6162fd",
        "regtest",
    ),
]

# BIP350 "valid segwit addresses" (v0 and v1/32 bytes; other versions are valid but
# not accepted as payout scripts, see test_bip350_other_versions_rejected).
BIP350_VALID = [
    (
        "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
        "0014751e76e8199196d454941c45d1b3a323f1433bd6",
        "main",
    ),
    (
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
        "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
        "testnet4",
    ),
    (
        "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
        "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
        "signet",
    ),
    (
        "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
        "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
        "testnet4",
    ),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
        "main",
    ),
]

BIP350_OTHER_VERSIONS = [
    "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
    "BC1SW50QGDZ25J",
    "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs",
]

# BIP350 "invalid segwit addresses" (checked against both bc and tb networks).
BIP350_INVALID = [
    "tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
    "tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf",
    "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",
    "tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47",
    "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4",
    "BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R",
    "bc1pw5dgrnzv",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",
    "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf",
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j",
    "bc1gmk9yu",
    # BIP173 invalid: mixed case, zero padding > 4 bits, non-zero padding.
    "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7",
    "bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du",
    "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3pjxtptv",
]


@pytest.mark.parametrize(("address", "script", "network"), CORE_KEY_IO_VALID + BIP350_VALID)
def test_valid_addresses(address: str, script: str, network: str) -> None:
    assert address_to_script(address, network).hex() == script
    assert is_valid_address(address, network)
    # Round trip to the canonical (lowercase for bech32) form.
    assert script_to_address(bytes.fromhex(script), network) == (
        address.lower() if address.isupper() else address
    )


@pytest.mark.parametrize(("address", "script", "network"), CORE_KEY_IO_VALID + BIP350_VALID)
def test_valid_addresses_rejected_on_other_networks(
    address: str, script: str, network: str
) -> None:
    # testnet4 and signet share every prefix (tb, m/n, 2); all other pairs must differ.
    same = {"testnet4", "signet"}
    for other in NETWORK_NAMES:
        if other == network or {other, network} == same:
            continue
        # regtest shares base58 prefixes with testnet4/signet (Core chainparams).
        if not address.lower().startswith(("bc1", "tb1", "bcrt1")) and "main" not in (
            other,
            network,
        ):
            assert address_to_script(address, other).hex() == script
            continue
        assert not is_valid_address(address, other), (address, other)
        with pytest.raises(AddressError):
            address_to_script(address, other)


def test_uppercase_bech32_accepted() -> None:
    address = "bcrt1qdavt4j2sd7dlhqsavtnfxvzppw6k7qy97tmnu9"
    assert address_to_script(address.upper(), "regtest") == address_to_script(address, "regtest")


@pytest.mark.parametrize("address", BIP350_INVALID)
def test_bip350_invalid(address: str) -> None:
    for network in NETWORK_NAMES:
        assert not is_valid_address(address, network)
        with pytest.raises(AddressError):
            address_to_script(address, network)


@pytest.mark.parametrize("address", BIP350_OTHER_VERSIONS)
def test_bip350_other_versions_rejected(address: str) -> None:
    with pytest.raises(AddressError, match="unsupported"):
        address_to_script(address, "main")


@pytest.mark.parametrize(
    "address",
    [
        "",
        " bc1qvyq0cc6rahyvsazfdje0twl7ez82ndmuac2lhv",
        "1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mp",  # checksum broken
        "111111111111111111117K4nzc",  # base58check of a 20-byte payload (too short)
        "5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ",  # a WIF private key
        "bc1qvyq0cc6rahyvsazfdje0twl7ez82ndmuac2lhw",
        "bc1é",
    ],
)
def test_garbage_rejected(address: str) -> None:
    with pytest.raises(AddressError):
        address_to_script(address, "main")


def test_base58_payload_edge() -> None:
    # base58check of version 0 + 20 zero bytes is the P2PKH of hash160 = 0.
    assert address_to_script("1111111111111111111114oLvT2", "main") == bytes.fromhex(
        "76a914" + "00" * 20 + "88ac"
    )


def test_unknown_network() -> None:
    with pytest.raises(AddressError, match="unknown network"):
        address_to_script("bc1qvyq0cc6rahyvsazfdje0twl7ez82ndmuac2lhv", "testnet3")
    with pytest.raises(AddressError):
        script_to_address(b"\x6a", "main")


@given(st.text(max_size=100))
def test_arbitrary_text_raises_only_address_error(text: str) -> None:
    for network in NETWORK_NAMES:
        with contextlib.suppress(AddressError):
            address_to_script(text, network)
