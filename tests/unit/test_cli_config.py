"""The CLI entry point and the shared config loader."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from stratumv2.app.cli import main
from stratumv2.app.config import ConfigError, Settings, load_config
from stratumv2.app.options import parse_host_port


class _Policy(Settings):
    min_fee_rate: float = 0.0


class _Example(Settings):
    listen: str = "0.0.0.0:3333"
    share_batch_size: int = 10
    policy: _Policy = _Policy()


def test_help_lists_and_explains() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "Stratum V2" in result.output


def test_defaults_and_flag_override(tmp_path: Path) -> None:
    cfg = tmp_path / "a.toml"
    cfg.write_text("share_batch_size = 5\n[policy]\nmin_fee_rate = 2.5\n")
    loaded = load_config(_Example, cfg, {"listen": "127.0.0.1:1", "share_batch_size": None})
    assert loaded.listen == "127.0.0.1:1"
    assert loaded.share_batch_size == 5
    assert loaded.policy.min_fee_rate == 2.5
    assert load_config(_Example).share_batch_size == 10


def test_error_names_key_file_and_line(tmp_path: Path) -> None:
    cfg = tmp_path / "pool.toml"
    cfg.write_text('listen = "x"\n\n[policy]\nmin_fee_rate = "lots"\n')
    with pytest.raises(ConfigError) as info:
        load_config(_Example, cfg)
    assert f"{cfg}:4: policy.min_fee_rate" in str(info.value)
    assert "'lots'" in str(info.value)


def test_unknown_key_lists_expected(tmp_path: Path) -> None:
    cfg = tmp_path / "pool.toml"
    cfg.write_text("listen = 'a:1'\nshare_batchsize = 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(_Example, cfg)
    text = str(info.value)
    assert f"{cfg}:2: share_batchsize: unknown key" in text
    assert "share_batch_size" in text


def test_bad_toml_is_a_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "x.toml"
    cfg.write_text("listen = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_Example, cfg)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:3333", ("127.0.0.1", 3333)), ("[::1]:34254", ("::1", 34254))],
)
def test_parse_host_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize("text", ["nohost", ":1", "h:99999", "h:x"])
def test_parse_host_port_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_host_port(text)
