"""``sv2 regtest-node``: an embedded Bitcoin regtest node (libbitcoinkernel + bitcoind's RPC).

Flags are named as bitcoind names them. Ctrl-C or SIGTERM (or the ``stop`` RPC) stops it
cleanly, flushing the chainstate.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import Field

from stratumv2.app.config import ConfigError, Settings, load_config
from stratumv2.app.logs import setup_logging
from stratumv2.app.options import common_options
from stratumv2.roles.regtest_node.chain import ChainOpenError
from stratumv2.roles.regtest_node.service import DEFAULT_RPC_PORT, NodeConfig, RegtestNode

__all__ = ["DEFAULT_DATADIR", "RegtestNodeSettings", "command", "run_node"]

DEFAULT_DATADIR = "~/.stratumv2/regtest-node"


class RegtestNodeSettings(Settings):
    """Settings of ``sv2 regtest-node`` (keys = flag names)."""

    datadir: str = Field(default=DEFAULT_DATADIR, description="chain data; regtest/ inside")
    network: str = Field(default="regtest", pattern="^regtest$", description="regtest only")
    rpcbind: str = Field(default="127.0.0.1", description="address the JSON-RPC server binds")
    rpcport: int = Field(default=DEFAULT_RPC_PORT, ge=0, le=65535, description="JSON-RPC port")
    rpcuser: str | None = Field(default=None, description="RPC user (else the .cookie file)")
    rpcpassword: str | None = Field(default=None, description="RPC password")
    zmqpubhashblock: str | None = Field(default=None, description="ZMQ endpoint for hashblock")
    tx_rate: float = Field(default=0.0, ge=0, description="transactions generated per second")
    log_level: str = "info"
    log_json: bool = False


async def run_node(settings: RegtestNodeSettings) -> None:
    """Run the node until Ctrl-C, SIGTERM or the ``stop`` RPC."""
    config = NodeConfig(
        datadir=Path(settings.datadir).expanduser(),
        rpcbind=settings.rpcbind,
        rpcport=settings.rpcport,
        rpcuser=settings.rpcuser,
        rpcpassword=settings.rpcpassword,
        zmqpubhashblock=settings.zmqpubhashblock,
        tx_rate=settings.tx_rate,
    )
    node = RegtestNode(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    await node.start()
    click.echo(f"regtest node: JSON-RPC on {node.url}", err=True)
    if node.config.rpcuser is None:
        click.echo(f"regtest node: cookie file {node.cookie_path}", err=True)
    if node.zmq_endpoint:
        click.echo(f"regtest node: zmqpubhashblock on {node.zmq_endpoint}", err=True)
    waiter = asyncio.create_task(node.wait_stop_requested())
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        stopper.cancel()
        await node.stop()
        click.echo("regtest node: stopped, chainstate flushed", err=True)


@click.command("regtest-node")
@common_options
@click.option(
    "--rpcport", type=int, default=None, help=f"JSON-RPC port (default {DEFAULT_RPC_PORT})."
)
@click.option("--rpcbind", default=None, help="Address to bind JSON-RPC on (default 127.0.0.1).")
@click.option("--rpcuser", default=None, help="RPC user name (default: a .cookie file).")
@click.option("--rpcpassword", default=None, help="RPC password (with --rpcuser).")
@click.option(
    "--zmqpubhashblock",
    default=None,
    help="Publish new block hashes on this ZMQ endpoint, e.g. tcp://127.0.0.1:28332.",
)
@click.option(
    "--tx-rate",
    type=float,
    default=None,
    help="Generate this many fee-paying transactions per second (mines its own funds first).",
)
def command(config: str | None, **flags: Any) -> None:
    """Run a Bitcoin regtest node: Bitcoin Core's validation (libbitcoinkernel) behind
    bitcoind's JSON-RPC (getblocktemplate, submitblock, generatetoaddress...).

    Data goes to DATADIR/regtest (default ~/.stratumv2/regtest-node); the RPC cookie is written
    to DATADIR/regtest/.cookie unless --rpcuser/--rpcpassword are given.
    """
    try:
        settings = load_config(RegtestNodeSettings, config, flags)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    setup_logging(settings.log_level, settings.log_json)
    try:
        asyncio.run(run_node(settings))
    except (OSError, ChainOpenError) as exc:
        click.echo(f"regtest node: {exc}", err=True)
        sys.exit(1)
