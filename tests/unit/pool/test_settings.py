"""`sv2 pool` settings: the example config loads, bad values name their key."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratumv2.app.config import ConfigError, load_config
from stratumv2.roles.pool.settings import PoolSettings

EXAMPLE = Path(__file__).parents[3] / "config-examples" / "pool.toml"


def test_example_config_loads() -> None:
    settings = load_config(PoolSettings, EXAMPLE)
    config = settings.pool_config()
    assert settings.network == "regtest" and settings.tp_address() == ("127.0.0.1", 18447)
    assert config.payout_script.hex() == "0014751e76e8199196d454941c45d1b3a323f1433bd6"
    assert config.share_batch_size == 10 and config.vardiff is not None
    assert config.vardiff.shares_per_minute == 18.0


def test_flags_override_and_disable_vardiff(tmp_path: Path) -> None:
    settings = load_config(
        PoolSettings, EXAMPLE, {"mode": "pool", "share_batch_size": 3, "listen": ""}
    )
    assert settings.mode == "pool" and settings.share_batch_size == 3 and settings.listen is None
    cfg = tmp_path / "p.toml"
    cfg.write_text(EXAMPLE.read_text().replace("enabled = true", "enabled = false"))
    assert load_config(PoolSettings, cfg).pool_config().vardiff is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"address": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"}, "address"),
        ({"share_batch_size": 0}, "share_batch_size"),
        ({"tp": "nohostport"}, "tp"),
        ({"jds_listen": "0.0.0.0:3334"}, "jds_listen"),
    ],
)
def test_bad_values_name_the_key(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(PoolSettings, EXAMPLE, overrides)
