"""`sv2 tp` settings: the example config loads, defaults follow the network, flags win."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from stratumv2.app.cli import main
from stratumv2.app.commands.tp import (
    TpSettings,
    default_cookie_file,
    rpc_endpoint,
)
from stratumv2.app.config import ConfigError, load_config

EXAMPLE = Path(__file__).resolve().parents[3] / "config-examples" / "tp.toml"


def test_example_config_loads() -> None:
    settings = load_config(TpSettings, EXAMPLE)
    assert settings.network == "regtest"
    assert settings.listen_address() == ("127.0.0.1", 18447)
    assert settings.policy.is_empty()


@pytest.mark.parametrize(
    ("network", "listen", "rpc"),
    [
        ("main", 8442, 8332),
        ("testnet4", 48442, 48332),
        ("signet", 38442, 38332),
        ("regtest", 18447, 18443),
    ],
)
def test_defaults_per_network(network: str, listen: int, rpc: int) -> None:
    settings = load_config(TpSettings, None, {"network": network})
    assert settings.listen_address() == ("127.0.0.1", listen)
    endpoint = rpc_endpoint(settings)
    assert endpoint["url"] == f"http://127.0.0.1:{rpc}"
    assert endpoint["cookie_file"] == default_cookie_file(network)


def test_cookie_paths() -> None:
    base = Path("/home/x/.bitcoin")
    assert default_cookie_file("main", base) == base / ".cookie"
    assert default_cookie_file("regtest", base) == base / "regtest" / ".cookie"
    assert default_cookie_file("testnet4", base) == base / "testnet4" / ".cookie"


def test_flags_override_file_and_user_password(tmp_path: Path) -> None:
    settings = load_config(
        TpSettings, EXAMPLE, {"rpcuser": "alice", "rpcpassword": "pw", "fee_delta": 5}
    )
    assert settings.fee_delta == 5
    assert rpc_endpoint(settings) == {
        "url": "http://127.0.0.1:18443",
        "user": "alice",
        "password": "pw",
    }


def test_policy_errors_name_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "tp.toml"
    cfg.write_text('[policy]\nexcluded_txids = ["abc"]\n')
    with pytest.raises(ConfigError, match=r"tp.toml:2: policy.excluded_txids"):
        load_config(TpSettings, cfg)
    cfg.write_text("[policy]\nmin_fee_rate = -1\n")
    with pytest.raises(ConfigError, match="min_fee_rate"):
        load_config(TpSettings, cfg)


def test_cli_help_lists_flags() -> None:
    result = CliRunner().invoke(main, ["tp", "--help"])
    assert result.exit_code == 0
    for flag in ("--zmq-hashblock", "--rpccookiefile", "--explain", "--fee-delta", "--listen"):
        assert flag in result.output


def test_explain_against_unreachable_node_fails_cleanly(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "tp",
            "--network",
            "regtest",
            "--rpcurl",
            "http://127.0.0.1:1",
            "--rpcuser",
            "u",
            "--rpcpassword",
            "p",
            "--explain",
            "--datadir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 1
    assert "cannot get a template from http://127.0.0.1:1" in result.output
