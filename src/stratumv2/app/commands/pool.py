"""``sv2 pool``: a Stratum V2 mining server (solo or pool payouts) fed by a Template Provider.

Serves the Mining protocol over Noise on ``--listen`` (the device port, where SV1 devices
are served too, through a translator in the same process) and ``--sv2-listen``, takes
templates from ``--tp`` (our ``sv2 tp`` or Bitcoin Core's sv2-tp), submits blocks to it,
and keeps shares and blocks in ``DATADIR/pool.sqlite``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from stratumv2.app.config import ConfigError, load_config
from stratumv2.app.keys import load_or_create_authority
from stratumv2.app.logs import setup_logging
from stratumv2.app.options import common_options, parse_host_port
from stratumv2.app.runner import run_until_signalled
from stratumv2.app.store import AsyncStore
from stratumv2.net.limits import Limits
from stratumv2.noise import Keypair
from stratumv2.roles.pool.core import PoolCore
from stratumv2.roles.pool.service import PoolService
from stratumv2.roles.pool.settings import PoolSettings
from stratumv2.roles.template_provider.client import TemplateDistributionClient
from stratumv2.roles.template_provider.core import ClientConstraints
from stratumv2.roles.translator.core import TranslatorConfig, TranslatorCore
from stratumv2.roles.translator.service import TranslatorService, start_embedded

if TYPE_CHECKING:
    from stratumv2.roles.jd_server.service import JdsService

__all__ = ["build_service", "command", "load_authority", "run_pool"]

log = logging.getLogger("stratumv2.pool")

# Room for our coinbase outputs: one output up to P2WSH/P2TR size (8 + 1 + 34 bytes) plus
# the scriptSig tag and 20-byte extranonce; a P2PKH output costs 4 sigops (weight units).
POOL_COINBASE_CONSTRAINTS = ClientConstraints(max_additional_size=100, max_additional_sigops=4)


@click.command("pool")
@common_options
@click.option("--listen", default=None, help="HOST:PORT for devices (default 0.0.0.0:3333).")
@click.option("--sv2-listen", default=None, help="SV2-only HOST:PORT (default 0.0.0.0:34254).")
@click.option("--authority-secret-key", default=None, help="SRI base58check authority secret.")
@click.option("--tp", default=None, help="Template Provider HOST:PORT.")
@click.option("--tp-authority-key", default=None, help="The TP's authority public key.")
@click.option("--address", default=None, help="Payout address.")
@click.option("--mode", type=click.Choice(["solo", "pool"]), default=None, help="Payout mode.")
@click.option("--jds-listen", default=None, help="Also serve Job Declaration here (embedded JDS).")
@click.option("--rpcurl", default=None, help="Node RPC URL for the embedded JDS.")
@click.option("--rpccookiefile", default=None, help="That node's cookie file.")
@click.option("--rpcuser", default=None, help="That node's RPC user (instead of the cookie).")
@click.option("--rpcpassword", default=None, help="That node's RPC password.")
@click.option("--share-batch-size", type=int, default=None, help="Shares per Success message.")
@click.option("--shares-per-minute", type=float, default=None, help="Vardiff goal.")
def command(config: str | None, **flags: Any) -> None:
    """Mining pool / solo server: Stratum V2 Mining protocol on your Template Provider."""
    try:
        settings = load_config(PoolSettings, config, flags)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    setup_logging(settings.log_level, settings.log_json)
    try:
        run_until_signalled(run_pool(settings))
    except KeyboardInterrupt:
        log.info("stopped")


def load_authority(datadir: Path, secret_text: str | None) -> Keypair:
    """The authority keypair: ``secret_text``, else ``DIR/authority.key`` (made on first run).

    Also writes the public key, SRI's base58check text alone, to ``DIR/authority.pub``
    (:func:`stratumv2.app.keys.load_or_create_authority`).
    """
    return load_or_create_authority(datadir, secret_text)


def build_service(settings: PoolSettings, authority: Keypair, store: AsyncStore) -> PoolService:
    """The pool service for ``settings`` (not started)."""
    core = PoolCore(settings.pool_config())
    td = TemplateDistributionClient(
        settings.tp_address(),
        settings.tp_authority_key,
        constraints=POOL_COINBASE_CONSTRAINTS,
        vendor="stratumv2-pool",
    )
    limits = Limits(
        max_payload_size=settings.max_frame_size,
        max_connections=settings.max_connections,
        max_connections_per_address=settings.max_connections_per_address,
        idle_timeout=settings.idle_timeout,
    )
    return PoolService(
        core,
        authority,
        td=td,
        store=store,
        limits=limits,
        max_write_backlog=settings.max_write_backlog,
    )


async def run_pool(
    settings: PoolSettings, started: asyncio.Future[PoolService] | None = None
) -> None:
    """Run ``sv2 pool`` until cancelled; ``started`` receives the running service."""
    datadir = settings.datadir_path()
    authority = load_authority(datadir, settings.authority_secret_key)
    store = await AsyncStore(datadir / "pool.sqlite").open()
    service = build_service(settings, authority, store)
    sv2 = parse_host_port(settings.sv2_listen) if settings.sv2_listen else None
    listen = parse_host_port(settings.listen) if settings.listen else None
    jds = _embedded_jds(settings, service, authority, datadir)  # --jds-listen (jd_server)
    translator: TranslatorService | None = None
    try:
        bound = await service.start(sv2, listen)
        if listen is not None:  # SV1 devices on the shared port, through a translator in-process
            translator = await start_embedded(
                service.server.connect_in_memory,
                TranslatorCore(TranslatorConfig(device_hashrate=settings.sv1_device_hashrate)),
                limits=service.limits,
            )
            service.sv1_handler = translator.serve_transport
        if jds is not None:
            assert settings.jds_listen is not None
            host, port = await jds.start(*parse_host_port(settings.jds_listen))
            print(f"Pool JDS listening on {host}:{port}", flush=True)
        print(f"Pool authority key: {service.authority_public_key}", flush=True)
        for host, port in bound:
            print(f"Pool listening on {host}:{port}", flush=True)
        if started is not None:
            started.set_result(service)
        await asyncio.Event().wait()
    finally:
        if translator is not None:
            await translator.close()
        await service.close()
        if jds is not None:
            await jds.close()
            await jds.rpc.close()
        await store.close()


def _embedded_jds(
    settings: PoolSettings, service: PoolService, authority: Keypair, datadir: Path
) -> JdsService | None:
    """The JDS sharing its declarations with the pool core (``--jds-listen``), or None."""
    if not settings.jds_listen:
        return None
    from stratumv2.app.commands.jds import make_rpc
    from stratumv2.roles.jd_server.core import JdsCore
    from stratumv2.roles.jd_server.service import JdsService, embed_in_pool
    from stratumv2.roles.jd_server.settings import jds_config_for

    rpc = make_rpc(
        settings.network,
        settings.rpcurl,
        settings.rpccookiefile,
        settings.rpcuser,
        settings.rpcpassword,
    )
    assert settings.address is not None
    jds = JdsService(
        JdsCore(jds_config_for(settings.address, settings.network)), authority, rpc, datadir
    )
    embed_in_pool(service.core, jds)
    return jds
