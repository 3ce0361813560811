"""Payout addresses to output scripts, through embit (no hand-written bech32/base58).

Supported: P2PKH, P2SH (base58check) and P2WPKH, P2WSH, P2TR (BIP173 bech32 / BIP350
bech32m) on ``main`` (bc), ``testnet4`` (tb), ``signet`` (tb) and ``regtest`` (bcrt).
Other witness versions are valid addresses but not accepted as payout targets here.
"""

from __future__ import annotations

from typing import Any, Final, Literal, get_args

from embit import base58, bech32
from embit.networks import NETWORKS
from embit.script import Script

from stratumv2.bitcoin.errors import AddressError

__all__ = [
    "NETWORK_NAMES",
    "Network",
    "address_to_script",
    "is_valid_address",
    "script_to_address",
]

Network = Literal["main", "testnet4", "signet", "regtest"]
NETWORK_NAMES: Final[tuple[str, ...]] = get_args(Network)

# embit's names: testnet (any generation) is "test", the others match ours.
_EMBIT_NAME: Final[dict[str, str]] = {
    "main": "main",
    "testnet4": "test",
    "signet": "signet",
    "regtest": "regtest",
}
_SUPPORTED_TYPES: Final[frozenset[str]] = frozenset({"p2pkh", "p2sh", "p2wpkh", "p2wsh", "p2tr"})


def _params(network: str) -> dict[str, Any]:
    try:
        params: dict[str, Any] = NETWORKS[_EMBIT_NAME[network]]
    except KeyError:
        raise AddressError(
            f"unknown network {network!r} (expected one of {', '.join(NETWORK_NAMES)})"
        ) from None
    return params


def address_to_script(address: str, network: str) -> bytes:
    """The output script (scriptPubKey) paying ``address`` on ``network``.

    Raises AddressError if the address is malformed, belongs to another network, or is of an
    unsupported type.
    """
    params = _params(network)
    if not isinstance(address, str) or not address or not address.isascii():
        raise AddressError(f"invalid address {address!r}")
    hrp: str = params["bech32"]
    if address.lower().startswith(hrp + "1"):
        return _segwit_script(address, hrp, network)
    try:
        payload: bytes = base58.decode_check(address)
    except Exception:
        raise AddressError(f"invalid address {address!r} for {network}") from None
    if len(payload) != 21:
        raise AddressError(f"invalid base58 address payload length {len(payload)}")
    version, body = payload[:1], payload[1:]
    if version == params["p2pkh"]:
        return b"\x76\xa9\x14" + body + b"\x88\xac"
    if version == params["p2sh"]:
        return b"\xa9\x14" + body + b"\x87"
    raise AddressError(f"address {address!r} is not a {network} address")


def _segwit_script(address: str, hrp: str, network: str) -> bytes:
    # BIP173: all-uppercase is valid; embit's decoder compares the hrp case-sensitively.
    text = address.lower() if address.isupper() else address
    try:
        version, program = bech32.decode(hrp, text)
    except Exception:
        version, program = None, None
    if version is None or program is None:
        raise AddressError(f"invalid segwit address {address!r} for {network}")
    script = bytes([version + 0x50 if version else 0, len(program), *program])
    if Script(script).script_type() not in _SUPPORTED_TYPES:
        raise AddressError(
            f"unsupported segwit address {address!r} (version {version}, {len(program)} bytes)"
        )
    return script


def is_valid_address(address: str, network: str) -> bool:
    """True if ``address`` is a supported address on ``network``."""
    try:
        address_to_script(address, network)
    except AddressError:
        return False
    return True


def script_to_address(script: bytes, network: str) -> str:
    """The address of a P2PKH/P2SH/P2WPKH/P2WSH/P2TR output script on ``network``."""
    params = _params(network)
    parsed = Script(script)
    if parsed.script_type() not in _SUPPORTED_TYPES:
        raise AddressError(f"script {script.hex()} has no supported address form")
    try:
        address: str = parsed.address(params)
    except Exception as exc:
        raise AddressError(f"cannot encode script {script.hex()}: {exc}") from None
    return address
