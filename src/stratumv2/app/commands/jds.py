"""``sv2 jds``: the pool's Job Declaration server (miners choose their own transactions).

A JD client (``sv2 jdc``, or SRI's jd-client) gets tokens and the pool's coinbase output
from it, declares the jobs it built from its own node's templates, and the JDS checks each
declaration against its own bitcoind's mempool (asking the client for the transactions it
lacks). The pool then accepts ``SetCustomMiningJob`` for declared jobs only; for that the
pool and the JDS must share their declarations: run the JDS inside the pool with
``sv2 pool --jds-listen``. Run alone, ``sv2 jds`` checks declarations and submits pushed
solutions, for a pool that validates tokens another way.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import click

from stratumv2.app.commands.tp import DEFAULT_RPC_PORTS, default_cookie_file
from stratumv2.app.config import ConfigError, load_config
from stratumv2.app.keys import load_or_create_authority
from stratumv2.app.logs import setup_logging
from stratumv2.app.options import common_options, parse_host_port
from stratumv2.app.runner import run_until_signalled
from stratumv2.net.rpc import BitcoinRpc
from stratumv2.roles.jd_server.core import JdsCore, JobDeclarations
from stratumv2.roles.jd_server.service import JdsService
from stratumv2.roles.jd_server.settings import JdsSettings

__all__ = ["command", "make_rpc", "run_jds"]

log = logging.getLogger("stratumv2.jds")


def make_rpc(
    network: str,
    rpcurl: str | None,
    rpccookiefile: str | None,
    rpcuser: str | None,
    rpcpassword: str | None,
) -> BitcoinRpc:
    """The bitcoind client the JDS checks declarations with (defaults per network)."""
    url = rpcurl or f"http://127.0.0.1:{DEFAULT_RPC_PORTS[network]}"
    if rpcuser is not None:
        return BitcoinRpc(url, user=rpcuser, password=rpcpassword or "")
    cookie = rpccookiefile or str(default_cookie_file(network))
    return BitcoinRpc(url, cookie_file=Path(cookie).expanduser())


@click.command("jds")
@common_options
@click.option("--listen", default=None, help="HOST:PORT for JD clients (default 0.0.0.0:34264).")
@click.option("--authority-secret-key", default=None, help="SRI base58check authority secret.")
@click.option("--address", default=None, help="The pool's payout address (coinbase output).")
@click.option("--rpcurl", default=None, help="bitcoind RPC URL (default per network).")
@click.option("--rpccookiefile", default=None, help="bitcoind cookie file (default per network).")
@click.option("--rpcuser", default=None, help="bitcoind RPC user (instead of the cookie).")
@click.option("--rpcpassword", default=None, help="bitcoind RPC password.")
@click.option("--token-lifetime", type=float, default=None, help="Seconds a job token lives.")
def command(config: str | None, **flags: Any) -> None:
    """Job Declaration server: check miners' declared jobs against your node's mempool.

    \b
    sv2 jdc --Job Declaration--> jds --JSON-RPC--> your bitcoind (--rpcurl)

    JD clients get a token and the pool's coinbase output (--address), declare jobs built
    from their own templates (coinbase and wtxids), send the transactions your node lacks,
    and push the blocks they find; the JDS rebuilds them and submits them to your node
    (saved to DATADIR/blocks first, retried until the node answers). For the pool to
    accept the declared jobs, run the JDS inside it instead: sv2 pool --jds-listen.
    """
    try:
        settings = load_config(JdsSettings, config, flags)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    setup_logging(settings.log_level, settings.log_json)
    try:
        run_until_signalled(run_jds(settings))
    except KeyboardInterrupt:
        log.info("stopped")


async def run_jds(settings: JdsSettings, started: asyncio.Future[JdsService] | None = None) -> None:
    """Run ``sv2 jds`` until cancelled; ``started`` receives the running service."""
    datadir = settings.datadir_path()
    authority = load_or_create_authority(datadir, settings.authority_secret_key)
    rpc = make_rpc(
        settings.network,
        settings.rpcurl,
        settings.rpccookiefile,
        settings.rpcuser,
        settings.rpcpassword,
    )
    core = JdsCore(settings.jds_config(), JobDeclarations(lifetime=settings.token_lifetime))
    service = JdsService(core, authority, rpc, datadir)
    host, port = parse_host_port(settings.listen)
    try:
        bound = await service.start(host, port)
        print(f"JDS authority key: {service.authority_public_key}", flush=True)
        print(f"JDS listening on {bound[0]}:{bound[1]}", flush=True)
        if started is not None:
            started.set_result(service)
        await asyncio.Event().wait()
    finally:
        await service.close()
        await rpc.close()
