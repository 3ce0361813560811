"""``sv2 solo``: solo mining on your own bitcoind, one process, one config file.

Template provider on your node (cookie and RPC URL found per network), the pool paying
``--address`` (or the address a device gives as its username), SV1 and SV2 devices on
``--listen`` (3333), SV2 on ``--sv2-listen`` (34254), the dashboard on 127.0.0.1:8080.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import click

from stratumv2.app.bundles import SoloSettings, run_solo
from stratumv2.app.config import ConfigError, load_config
from stratumv2.app.logs import setup_logging
from stratumv2.app.options import common_options

__all__ = ["command"]


@click.command("solo")
@common_options
@click.option("--address", default=None, help="Your payout address (required).")
@click.option("--listen", default=None, help="SV1+SV2 device port (default 0.0.0.0:3333).")
@click.option("--sv2-listen", default=None, help="SV2-only port (default 0.0.0.0:34254).")
@click.option("--dashboard", default=None, help="Dashboard HOST:PORT (default 127.0.0.1:8080).")
@click.option("--public-host", default=None, help="Host name devices use (for the URLs shown).")
@click.option("--authority-secret-key", default=None, help="SRI base58check authority secret.")
@click.option("--rpcurl", default=None, help="bitcoind RPC URL (default per network).")
@click.option("--rpccookiefile", default=None, help="bitcoind cookie (default ~/.bitcoin/...).")
@click.option("--rpcuser", default=None, help="bitcoind RPC user (instead of the cookie).")
@click.option("--rpcpassword", default=None, help="bitcoind RPC password.")
@click.option("--zmq-hashblock", default=None, help="bitcoind's zmqpubhashblock endpoint.")
@click.option("--pool-tag", default=None, help="Text in the coinbase (default stratumv2).")
def command(config: str | None, **flags: Any) -> None:
    """Solo mining on your own node: SV1 and SV2 devices, dashboard, one command.

    \b
    sv2 solo --address bc1q...            (bitcoind on this machine, cookie auth)
    sv2 solo --config solo.toml           (sv2 config example solo > solo.toml)
    """
    try:
        settings = load_config(SoloSettings, config, flags)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    setup_logging(settings.log_level, settings.log_json)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_solo(settings))
