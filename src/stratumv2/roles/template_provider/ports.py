"""Where a Template Provider listens by default, per network (sv2-tp's ``-sv2port``)."""

from __future__ import annotations

from typing import Any

#: sv2-tp's default Template Distribution ports (shared/sv2-spec/05 §3.1); ours match.
DEFAULT_TP_PORTS = {"main": 8442, "testnet4": 48442, "signet": 38442, "regtest": 18447}


def default_tp_address(network: str) -> str:
    """``127.0.0.1:PORT`` of a Template Provider on this machine for ``network``."""
    return f"127.0.0.1:{DEFAULT_TP_PORTS.get(network, DEFAULT_TP_PORTS['main'])}"


def with_default_tp(settings: Any) -> Any:
    """Raw settings with ``tp`` filled in from ``network`` when absent or empty."""
    if isinstance(settings, dict) and not settings.get("tp"):
        network = str(settings.get("network", "main"))
        settings = {**settings, "tp": default_tp_address(network)}
    return settings
