"""`sv2 miner` settings: the example config loads, flags override it, bad values are named."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from stratumv2.app.cli import main
from stratumv2.app.commands.miner import MinerSettings
from stratumv2.app.config import ConfigError, load_config

EXAMPLE = Path(__file__).parents[3] / "config-examples" / "miner.toml"


def test_example_config_loads() -> None:
    settings = load_config(MinerSettings, EXAMPLE)
    assert settings.upstream == ["127.0.0.1:34254"] and settings.channel == "standard"
    config = settings.miner_config()
    assert config.endpoint_host == "127.0.0.1" and config.endpoint_port == 34254
    assert config.nominal_hashrate == 300_000 and config.version_rolling


def test_flags_override_the_file() -> None:
    settings = load_config(
        MinerSettings,
        EXAMPLE,
        {
            "upstream": ("10.0.0.1:3333", "127.0.0.1:3334"),
            "channel": "extended",
            "workers": 3,
            "hashrate_limit": 1000.0,
            "sv1": True,
            "user": "bcrt1qxyz.rig",
        },
    )
    assert [str(e) for e in settings.endpoints()] == ["10.0.0.1:3333", "127.0.0.1:3334"]
    config = settings.miner_config()
    assert config.channel == "extended" and config.nominal_hashrate == 1000.0
    assert settings.sv1 and settings.sv1_config().username == "bcrt1qxyz.rig"


@pytest.mark.parametrize(
    ("flags", "word"),
    [
        ({"workers": 0}, "workers"),
        ({"channel": "group"}, "channel"),
        ({"upstream": ("nohost",)}, "upstream"),
        ({"hashrate_limit": -5.0}, "hashrate_limit"),
    ],
)
def test_bad_values_are_named(flags: dict[str, object], word: str) -> None:
    with pytest.raises(ConfigError, match=word):
        load_config(MinerSettings, None, flags)


def test_cli_help_and_missing_upstream() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["miner", "--help"])
    assert result.exit_code == 0
    flags = "--upstream --upstream-authority-key --channel --workers --sv1 --duration"
    for flag in (flags + " --max-shares --hashrate-limit --user --config").split():
        assert flag in result.output
    result = runner.invoke(main, ["miner"])
    assert result.exit_code != 0 and "--upstream" in result.output
