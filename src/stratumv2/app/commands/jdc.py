"""``sv2 jdc``: mine on a pool with templates from your own node (Job Declaration client).

Your miners (``sv2 translator``, SV2 devices, ``sv2 miner``) connect to ``--listen``. The
JDC takes templates from your Template Provider (``--tp``: your node, your transaction
policy), declares them to the pool's Job Declaration server (``--jds``), and has the pool
accept them as custom jobs on its mining port (``--upstream``); shares go to the pool,
blocks to your node and to the JDS. If the pool or its JDS fails, disconnects or refuses
your jobs, your miners keep hashing on your own templates paying ``--address`` (solo), and
go back to the pool when it recovers (``--no-return-to-pool`` to stay solo after a refusal).
Without ``--jds``/``--upstream`` it mines solo only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import click

from stratumv2.app.config import ConfigError, load_config
from stratumv2.app.keys import load_or_create_authority
from stratumv2.app.logs import setup_logging
from stratumv2.app.metrics import jdc_metrics, serve_role_metrics
from stratumv2.app.notify import Notification, Notifier, upstream_failover
from stratumv2.app.options import common_options, parse_host_port
from stratumv2.app.runner import run_until_signalled
from stratumv2.roles.jd_client.core import JdcCore, ModeChanged
from stratumv2.roles.jd_client.service import JdcService
from stratumv2.roles.jd_client.settings import JdcSettings
from stratumv2.roles.template_provider.client import TemplateDistributionClient

__all__ = ["command", "mode_notification", "run_jdc"]

log = logging.getLogger("stratumv2.jdc")


@click.command("jdc")
@common_options
@click.option("--listen", default=None, help="HOST:PORT for your miners (default 0.0.0.0:34265).")
@click.option("--authority-secret-key", default=None, help="SRI base58check authority secret.")
@click.option("--tp", default=None, help="Your Template Provider HOST:PORT.")
@click.option("--tp-authority-key", default=None, help="Your TP's authority public key.")
@click.option("--jds", default=None, help="The pool's Job Declaration server HOST:PORT.")
@click.option("--jds-authority-key", default=None, help="The JDS's authority public key.")
@click.option("--upstream", default=None, help="The pool's mining HOST:PORT.")
@click.option("--upstream-authority-key", default=None, help="The pool's authority public key.")
@click.option("--address", default=None, help="Your payout address (solo fallback).")
@click.option("--user-identity", default=None, help="Your account at the pool.")
@click.option(
    "--return-to-pool/--no-return-to-pool",
    default=None,
    help="Go back to a pool that refused your jobs after --retry-after seconds.",
)
@click.option("--retry-after", type=float, default=None, help="Seconds before retrying the pool.")
def command(config: str | None, **flags: Any) -> None:
    """Job Declaration client: your node's templates, mined on a pool, solo as fallback.

    \b
    your miners --Mining--> jdc --Mining (SetCustomMiningJob)--> pool (--upstream)
                             |  --Job Declaration------------> pool's JDS (--jds)
                             +--Template Distribution--------> your TP (--tp)

    Your miners (sv2 translator, SV2 devices, sv2 miner) connect to --listen. Each template
    of your TP (your node, your transaction policy) is declared to the pool's JDS and set
    on the pool as a custom job; shares go to the pool, blocks to your TP and the JDS. If
    the pool or the JDS fails, disconnects or refuses your jobs, your miners keep hashing
    on your templates paying --address (solo) and return to the pool when it recovers.
    Every switch is logged and counted. Without --jds/--upstream: solo only.
    """
    try:
        settings = load_config(JdcSettings, config, flags)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    setup_logging(settings.log_level, settings.log_json)
    try:
        run_until_signalled(run_jdc(settings))
    except KeyboardInterrupt:
        log.info("stopped")


async def run_jdc(settings: JdcSettings, started: asyncio.Future[JdcService] | None = None) -> None:
    """Run ``sv2 jdc`` until cancelled; ``started`` receives the running service."""
    authority = load_or_create_authority(settings.datadir_path(), settings.authority_secret_key)
    jds, pool = settings.endpoints()
    if jds is None:
        log.warning("no --jds/--upstream: mining solo on your own templates only")
    td = TemplateDistributionClient(
        parse_host_port(settings.tp), settings.tp_authority_key, vendor="stratumv2-jdc"
    )
    service = JdcService(JdcCore(settings.jdc_config()), authority, td, jds=jds, pool=pool)
    notifier = Notifier.from_settings(settings.notify)

    def on_mode(change: ModeChanged) -> None:
        if change.mode == "solo" or service.core.switches["solo"] > 0:  # not the first start
            notifier.notify(mode_notification(change, settings))

    service.on_mode = on_mode
    host, port = parse_host_port(settings.listen)
    cleanups: list[Callable[[], Awaitable[None]]] = []
    try:
        bound = await service.start(host, port)
        print(f"JDC authority key: {service.authority_public_key}", flush=True)
        print(f"JDC listening on {bound[0]}:{bound[1]}", flush=True)
        service.metrics_port = await serve_role_metrics(
            settings.metrics, lambda: jdc_metrics(service), "JDC", cleanups
        )
        if started is not None:
            started.set_result(service)
        await asyncio.Event().wait()
    finally:
        for cleanup in cleanups:
            await cleanup()
        await service.close()
        await notifier.close()


def mode_notification(change: ModeChanged, settings: JdcSettings) -> Notification:
    """The ``upstream_failover`` notification for a switch between the pool and solo."""
    pool = f"pool {settings.upstream} (JDS {settings.jds})"
    solo = f"solo on your own templates, paying {settings.address}"
    if change.mode == "solo":
        return upstream_failover(pool, solo, change.reason)
    return upstream_failover(solo, pool, change.reason)
