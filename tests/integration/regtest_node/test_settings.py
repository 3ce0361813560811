"""The example config loads, and the command's settings check their values."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from stratumv2.app.commands.regtest_node import RegtestNodeSettings, command
from stratumv2.app.config import ConfigError, load_config

EXAMPLE = Path(__file__).resolve().parents[3] / "config-examples" / "regtest-node.toml"


def test_example_config_loads() -> None:
    settings = load_config(RegtestNodeSettings, EXAMPLE)
    assert settings.rpcport == 18443 and settings.rpcbind == "127.0.0.1"
    assert settings.tx_rate == 0.0 and settings.rpcuser is None


def test_flags_override_and_bad_values_are_refused(tmp_path: Path) -> None:
    settings = load_config(RegtestNodeSettings, EXAMPLE, {"tx_rate": 5.0, "rpcport": 0})
    assert settings.tx_rate == 5.0 and settings.rpcport == 0
    with pytest.raises(ConfigError, match="rpcport"):
        load_config(RegtestNodeSettings, None, {"rpcport": 70000})
    with pytest.raises(ConfigError, match="network"):
        load_config(RegtestNodeSettings, None, {"network": "main"})
    bad = tmp_path / "node.toml"
    bad.write_text('tx_rate = "fast"\n')
    with pytest.raises(ConfigError, match=r"node.toml:1: tx_rate"):
        load_config(RegtestNodeSettings, bad)


def test_help_explains_every_option() -> None:
    result = CliRunner().invoke(command, ["--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for flag in ("--datadir", "--rpcport", "--rpcbind", "--rpcuser", "--rpcpassword"):
        assert flag in result.output
    assert "--zmqpubhashblock" in result.output and "--tx-rate" in result.output
    assert ".cookie" in result.output and "18443" in result.output
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help and len(param.help) > 10, f"{param.opts} has no explanation"
            line = next(
                ln for ln in result.output.splitlines() if ln.lstrip().startswith(param.opts[0])
            )
            assert len(line.split(param.opts[0], 1)[1].strip()) > 10, line
