"""``sv2 demo`` (what ``make demo`` runs): the solo bundle on an embedded regtest node.

Starts the regtest node (with its transaction generator), the template provider, the pool,
the SV1 translator, the dashboard, and two CPU miners (SV2 and SV1). Real blocks, validated
by libbitcoinkernel, appear within a minute; each one is printed as a line starting
``block found: height=H hash=HEX``. Ctrl-C stops; a second run continues the chain.
"""

from __future__ import annotations

import asyncio
from typing import Any

import click

from stratumv2.app.bundles import DemoSettings, run_demo
from stratumv2.app.config import ConfigError, load_config
from stratumv2.app.logs import setup_logging
from stratumv2.app.options import common_options

__all__ = ["command"]


@click.command("demo")
@common_options
@click.option("--duration", type=float, default=None, help="Stop after N seconds.")
@click.option("--blocks", type=int, default=None, help="Stop after N blocks the node accepted.")
@click.option("--listen", default=None, help="SV1+SV2 device port (default 127.0.0.1:3333).")
@click.option("--sv2-listen", default=None, help="SV2-only port (default 127.0.0.1:34254).")
@click.option("--dashboard", default=None, help="Dashboard HOST:PORT (default 127.0.0.1:8080).")
@click.option("--tx-rate", type=float, default=None, help="Demo transactions per second.")
@click.option("--miner-hashrate", type=float, default=None, help="H/s cap per CPU miner.")
@click.option("--status-interval", type=float, default=None, help="Seconds between status lines.")
def command(config: str | None, **flags: Any) -> None:
    """Demo: mine real regtest blocks with SV2 and SV1 CPU miners, nothing else needed."""
    try:
        settings = load_config(DemoSettings, config, flags)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    setup_logging(
        settings.log_level if settings.log_level != "info" else "warning", settings.log_json
    )
    try:
        result = asyncio.run(run_demo(settings))
    except KeyboardInterrupt:
        return
    if (
        settings.blocks is not None
        and sum(1 for b in result.blocks if b.accepted) < settings.blocks
    ):
        raise SystemExit(1)
