"""sv2 jds / sv2 jdc: the example configs load, flags override them, --help explains roles."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from stratumv2.app.cli import main
from stratumv2.app.config import ConfigError, load_config
from stratumv2.roles.jd_client.settings import JdcSettings
from stratumv2.roles.jd_server.settings import JdsSettings

EXAMPLES = Path(__file__).parents[3] / "config-examples"


def test_jds_example_loads() -> None:
    settings = load_config(JdsSettings, EXAMPLES / "jds.toml", {"token_lifetime": 30.0})
    assert settings.network == "regtest" and settings.token_lifetime == 30.0
    [output] = settings.jds_config().coinbase_outputs
    assert output.value == 0 and output.script_pubkey.startswith(b"\x00\x14")


def test_jdc_example_loads() -> None:
    settings = load_config(JdcSettings, EXAMPLES / "jdc.toml", {"return_to_pool": False})
    jds, pool = settings.endpoints()
    assert jds is not None and pool is not None and (jds.port, pool.port) == (34264, 34254)
    config = settings.jdc_config()
    assert config.return_to_pool is False and config.downstream_extranonce_size == 12


def test_jdc_needs_both_upstreams_and_an_address(tmp_path: Path) -> None:
    path = tmp_path / "jdc.toml"
    path.write_text(
        'network = "regtest"\naddress = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"\n'
    )
    with pytest.raises(ConfigError, match="jds / upstream"):
        load_config(JdcSettings, path, {"jds": "127.0.0.1:1"})
    solo = load_config(JdcSettings, path)
    assert solo.endpoints() == (None, None)
    with pytest.raises(ConfigError, match="address"):
        load_config(JdcSettings, None, {"network": "regtest"})


@pytest.mark.parametrize("role", ["jds", "jdc"])
def test_help_explains_the_role(role: str) -> None:
    result = CliRunner().invoke(main, [role, "--help"])
    assert result.exit_code == 0
    assert "Job Declaration" in result.output
    assert "--address" in result.output


def test_pool_embedded_jds_needs_a_node() -> None:
    from stratumv2.roles.pool.settings import PoolSettings

    example = EXAMPLES / "pool.toml"
    with pytest.raises(ConfigError, match="jds_listen"):
        load_config(PoolSettings, example, {"jds_listen": "127.0.0.1:3334"})
    settings = load_config(
        PoolSettings, example, {"jds_listen": "127.0.0.1:3334", "rpcurl": "http://127.0.0.1:1"}
    )
    assert settings.jds_listen == "127.0.0.1:3334"
    result = CliRunner().invoke(main, ["pool", "--help"])
    assert "--jds-listen" in result.output and "embedded JDS" in result.output
