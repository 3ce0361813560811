"""Flags shared by every role, so each role is driven the same way (ARCHITECTURE.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def parse_host_port(text: str, default_port: int | None = None) -> tuple[str, int]:
    """Split ``HOST:PORT`` (``[::1]:3333`` for IPv6); raise ValueError with a clear reason."""
    host, sep, port = text.rpartition(":")
    if not sep:
        if default_port is None:
            raise ValueError(f"expected HOST:PORT, got {text!r}")
        host, port = text, str(default_port)
    host = host.strip("[]")
    if not host:
        raise ValueError(f"missing host in {text!r}")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"bad port in {text!r}")
    return host, int(port)


def common_options(func: F) -> F:
    """--config, --datadir, --network, --log-level, --log-json: present on every role."""
    decorators = [
        click.option(
            "--config",
            "config",
            type=click.Path(dir_okay=False),
            default=None,
            help="TOML config file; flags given on the command line override it.",
        ),
        click.option(
            "--datadir",
            default=None,
            help="Directory for keys, the store and saved blocks (created if missing).",
        ),
        click.option(
            "--network",
            type=click.Choice(["main", "testnet4", "signet", "regtest"]),
            default=None,
            help="Bitcoin network (default: regtest for the demo, main otherwise).",
        ),
        click.option(
            "--log-level",
            type=click.Choice(["debug", "info", "warning", "error"]),
            default=None,
            help="How much to log (default: info).",
        ),
        click.option(
            "--log-json",
            is_flag=True,
            default=None,
            help="Log one JSON object per line instead of plain text.",
        ),
    ]
    for deco in reversed(decorators):
        func = deco(func)
    return func
