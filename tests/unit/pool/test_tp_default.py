"""Without --tp, the pool and the JD client look for a TP on this machine on the network's
port (sv2-tp's defaults), not on mainnet's port whatever the network."""

from __future__ import annotations

import pytest

from stratumv2.roles.jd_client.settings import JdcSettings
from stratumv2.roles.pool.settings import PoolSettings

ADDRESSES = {
    "main": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    "regtest": "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
    "signet": "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
}


@pytest.mark.parametrize(
    ("network", "port"), [("main", 8442), ("regtest", 18447), ("signet", 38442)]
)
@pytest.mark.parametrize("model", [PoolSettings, JdcSettings])
def test_tp_defaults_to_the_networks_port(model: type, network: str, port: int) -> None:
    settings = model(address=ADDRESSES[network], network=network)
    assert settings.tp == f"127.0.0.1:{port}"


def test_an_explicit_tp_wins() -> None:
    settings = PoolSettings(address=ADDRESSES["regtest"], network="regtest", tp="127.0.0.2:1")
    assert settings.tp_address() == ("127.0.0.2", 1)
