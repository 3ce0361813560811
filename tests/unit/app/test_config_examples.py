"""Every example config loads with its role's settings; bundle config errors are precise."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from stratumv2.app.bundles import DemoSettings, SoloSettings
from stratumv2.app.commands.config_cmd import command, example_files, settings_model
from stratumv2.app.config import ConfigError, load_config

EXAMPLES = Path(__file__).resolve().parents[3] / "config-examples"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.stem)
def test_every_example_loads_with_its_model(path: Path) -> None:
    model = settings_model(path.stem)
    load_config(model, path)


def test_bundle_examples_are_found() -> None:
    files = example_files()
    assert {"solo", "demo", "pool", "tp"} <= set(files)
    assert settings_model("solo") is SoloSettings and settings_model("demo") is DemoSettings


def test_config_example_prints_the_file() -> None:
    result = CliRunner().invoke(command, ["example", "solo"])
    assert result.exit_code == 0
    assert result.output == (EXAMPLES / "solo.toml").read_text()
    missing = CliRunner().invoke(command, ["example", "nope"])
    assert missing.exit_code != 0 and "no example for 'nope'" in missing.output


def test_solo_errors_name_key_file_line(tmp_path: Path) -> None:
    cfg = tmp_path / "solo.toml"
    cfg.write_text(
        'network = "regtest"\naddress = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"\n'
        '\n[notify]\nworker_offline_after = "soon"\nwebhok = []\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(SoloSettings, cfg)
    text = str(info.value)
    assert f"{cfg}:5: notify.worker_offline_after" in text and "'soon'" in text
    assert f"{cfg}:6: notify.webhok: unknown key" in text and "webhooks" in text
    check = CliRunner().invoke(command, ["check", str(cfg)])
    assert check.exit_code != 0 and "notify.webhok" in check.output


def test_solo_address_checked_against_network(tmp_path: Path) -> None:
    cfg = tmp_path / "solo.toml"
    cfg.write_text('network = "main"\naddress = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"\n')
    with pytest.raises(ConfigError, match=rf"{cfg.name}:2: address: .*not a main address"):
        load_config(SoloSettings, cfg)
    with pytest.raises(ConfigError, match=r"address: .*payout address is required"):
        load_config(SoloSettings, None, {"network": "main"})


def test_flags_override_file(tmp_path: Path) -> None:
    cfg = tmp_path / "demo.toml"
    cfg.write_text('listen = "127.0.0.1:3333"\nblocks = 5\n[notify]\nntfy_topics = ["a"]\n')
    loaded = load_config(DemoSettings, cfg, {"listen": "127.0.0.1:0", "blocks": None})
    assert loaded.listen == "127.0.0.1:0" and loaded.blocks == 5
    assert loaded.notify.ntfy_topics == ["a"]
    with pytest.raises(ConfigError, match=r"network: .*regtest only"):
        load_config(DemoSettings, None, {"network": "main"})
