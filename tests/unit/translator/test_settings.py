"""Translator settings: the commented example config loads, flags override, errors named."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratumv2.app.config import ConfigError, load_config
from stratumv2.roles.translator.settings import TranslatorSettings

EXAMPLE = Path(__file__).resolve().parents[3] / "config-examples" / "translator.toml"


def test_example_config_loads() -> None:
    settings = load_config(TranslatorSettings, EXAMPLE)
    assert settings.listen == "0.0.0.0:34255"
    assert settings.upstream == ["127.0.0.1:34254"]
    config = settings.translator_config()
    assert config.extranonce2_size == 4 and not config.aggregate
    assert config.vardiff is not None and config.session.version_mask == 0x1FFFE000


def test_flags_override_and_fallbacks() -> None:
    settings = load_config(
        TranslatorSettings,
        EXAMPLE,
        {
            "upstream": ("127.0.0.1:1", "127.0.0.2:2"),
            "aggregate": True,
            "upstream_authority_key": "k",
        },
    )
    assert [str(e) for e in settings.endpoints()] == ["127.0.0.1:1", "127.0.0.2:2"]
    assert settings.endpoints()[1].authority == "k"
    assert settings.translator_config().aggregate


def test_errors() -> None:
    with pytest.raises(ConfigError, match="upstream"):
        load_config(TranslatorSettings, None, {})
    with pytest.raises(ConfigError, match="version_mask"):
        load_config(TranslatorSettings, EXAMPLE, {"version_mask": "ffffffff"})
    with pytest.raises(ConfigError, match="extranonce2_size"):
        load_config(TranslatorSettings, EXAMPLE, {"extranonce2_size": 40})
