"""``sv2 translator``: Stratum V1 devices (Bitaxe, cgminer, cpuminer) on any SV2 pool.

Serves SV1 on ``--listen`` (default 0.0.0.0:34255, SRI's translator port) and connects over
Noise to the first healthy ``--upstream`` (repeat for ordered fallbacks) whose certificate
``--upstream-authority-key`` signed; one extended channel per device, or ``--aggregate``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import click

from stratumv2.app.config import ConfigError, load_config
from stratumv2.app.logs import setup_logging
from stratumv2.app.metrics import serve_role_metrics, translator_metrics
from stratumv2.app.notify import Notifier, upstream_failover
from stratumv2.app.options import common_options, parse_host_port
from stratumv2.app.runner import run_until_signalled
from stratumv2.net.limits import Limits
from stratumv2.roles.translator.core import TranslatorCore
from stratumv2.roles.translator.service import TranslatorService, endpoint_source
from stratumv2.roles.translator.settings import TranslatorSettings

__all__ = ["build_service", "command", "run_translator"]

log = logging.getLogger("stratumv2.translator")


@click.command("translator")
@common_options
@click.option("--listen", default=None, help="HOST:PORT for SV1 devices (default 0.0.0.0:34255).")
@click.option(
    "--upstream", multiple=True, help="SV2 pool HOST:PORT (repeat for ordered fallbacks)."
)
@click.option("--upstream-authority-key", default=None, help="The upstream's authority key.")
@click.option("--aggregate", is_flag=True, default=None, help="All devices on one channel.")
@click.option("--user-identity", default=None, help="Channel identity (default: device user).")
@click.option("--extranonce2-size", type=int, default=None, help="SV1 extranonce2 bytes (4).")
@click.option("--device-hashrate", type=float, default=None, help="Nominal H/s per device.")
@click.option(
    "--on-upstream-loss",
    type=click.Choice(["reconnect", "wait"]),
    default=None,
    help="Tell devices to reconnect (default) or keep them waiting.",
)
@click.option("--health-interval", type=float, default=None, help="Seconds between probes.")
def command(config: str | None, **flags: Any) -> None:
    """Translator proxy: SV1 devices downstream, SV2 extended channels upstream.

    \b
    sv2 translator --upstream 127.0.0.1:34254 --upstream-authority-key KEY
    sv2 translator --listen 0.0.0.0:34255 --upstream pool-a:3333 --upstream pool-b:3333
    """
    try:
        settings = load_config(TranslatorSettings, config, flags)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    setup_logging(settings.log_level, settings.log_json)
    try:
        run_until_signalled(run_translator(settings))
    except KeyboardInterrupt:
        log.info("stopped")


def build_service(settings: TranslatorSettings) -> TranslatorService:
    """The translator service for ``settings`` (not started)."""
    limits = Limits(
        max_connections=settings.max_connections,
        max_connections_per_address=settings.max_connections_per_address,
    )
    core = TranslatorCore(settings.translator_config())
    return TranslatorService(
        core,
        [endpoint_source(endpoint, limits) for endpoint in settings.endpoints()],
        limits=limits,
        health_interval=settings.health_interval,
        reconnect_devices=settings.on_upstream_loss == "reconnect",
        idle_timeout=settings.idle_timeout,
    )


async def run_translator(
    settings: TranslatorSettings, started: asyncio.Future[TranslatorService] | None = None
) -> None:
    """Run ``sv2 translator`` until cancelled; ``started`` receives the running service."""
    service = build_service(settings)
    notifier = Notifier.from_settings(settings.notify)
    service.on_upstream_change = lambda previous, current, reason: notifier.notify(
        upstream_failover(previous, current, reason)
    )
    cleanups: list[Callable[[], Awaitable[None]]] = []
    try:
        bound = await service.start(parse_host_port(settings.listen))
        for host, port in bound:
            print(f"Translator listening on {host}:{port}", flush=True)
        service.metrics_port = await serve_role_metrics(
            settings.metrics, lambda: translator_metrics(service), "Translator", cleanups
        )
        if started is not None:
            started.set_result(service)
        await asyncio.Event().wait()
    finally:
        for cleanup in cleanups:
            await cleanup()
        await service.close()
        await notifier.close()
