"""``sv2 miner``: a CPU mining device for tests, demos and load generation.

SV2 (default): connects over Noise to ``--upstream`` (a pool, proxy or JD client; repeat
for fallbacks) whose certificate ``--upstream-authority-key`` signed, opens one standard or
extended channel and hashes with ``--workers`` processes. ``--sv1``: connects to an SV1
endpoint (plain TCP, e.g. ``sv2 translator`` or the pool's device port) like cpuminer.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Literal

import click
from pydantic import Field, field_validator

from stratumv2.app.config import ConfigError, Settings, load_config
from stratumv2.app.logs import setup_logging
from stratumv2.app.options import common_options, parse_host_port
from stratumv2.app.runner import run_until_signalled
from stratumv2.net.client import Endpoint
from stratumv2.roles.miner.core import MinerConfig
from stratumv2.roles.miner.service import MinerService, MinerStats
from stratumv2.roles.miner.sv1_client import Sv1ClientConfig
from stratumv2.roles.miner.workers import WorkerPool

__all__ = ["MinerSettings", "command", "run_miner"]

log = logging.getLogger("stratumv2.miner")

#: A rough CPU hashrate per worker (H/s) for the nominal hashrate when none is given.
DEFAULT_HASHRATE_PER_WORKER = 300_000.0


class MinerSettings(Settings):
    """``sv2 miner`` settings (``config-examples/miner.toml``); flags override the file."""

    upstream: list[str] = Field(default_factory=list, description="HOST:PORT, in order")
    upstream_authority_key: str | None = None
    sv1: bool = False
    channel: Literal["standard", "extended"] = "standard"
    workers: int = Field(default=1, ge=1, le=1024)
    user: str = "sv2-miner"
    password: str = "x"
    hashrate_limit: float | None = Field(default=None, gt=0)
    nominal_hashrate: float | None = Field(default=None, gt=0)
    min_extranonce_size: int = Field(default=4, ge=1, le=32)
    requires_standard_jobs: bool = False
    version_rolling: bool = True
    duration: float | None = Field(default=None, gt=0)
    max_shares: int | None = Field(default=None, ge=1)
    status_interval: float = Field(default=10.0, gt=0)
    network: str | None = None
    datadir: str | None = None
    log_level: str = "info"
    log_json: bool = False

    @field_validator("upstream")
    @classmethod
    def _host_ports(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_host_port(item)
        return value

    def endpoints(self) -> list[Endpoint]:
        """The upstreams in order, each with the authority key (SV2)."""
        return [
            Endpoint(*parse_host_port(text), authority=self.upstream_authority_key)
            for text in self.upstream
        ]

    def miner_config(self) -> MinerConfig:
        """The device core's settings."""
        first = parse_host_port(self.upstream[0]) if self.upstream else ("", 0)
        hashrate = self.nominal_hashrate or self.hashrate_limit
        if hashrate is None:
            hashrate = DEFAULT_HASHRATE_PER_WORKER * self.workers
        return MinerConfig(
            channel=self.channel,
            user_identity=self.user,
            nominal_hashrate=hashrate,
            min_extranonce_size=self.min_extranonce_size,
            version_rolling=self.version_rolling,
            requires_standard_jobs=self.requires_standard_jobs,
            endpoint_host=first[0],
            endpoint_port=first[1],
            device_id=f"cpu-{os.getpid()}",
        )

    def sv1_config(self) -> Sv1ClientConfig:
        """The SV1 client's settings."""
        return Sv1ClientConfig(
            username=self.user, password=self.password, version_rolling=self.version_rolling
        )


@click.command("miner")
@common_options
@click.option(
    "--upstream",
    multiple=True,
    help="HOST:PORT of the pool/proxy (repeat for ordered fallbacks; with --sv1 the SV1 port).",
)
@click.option(
    "--upstream-authority-key", default=None, help="The upstream's authority public key (SV2)."
)
@click.option("--sv1", is_flag=True, default=None, help="Speak Stratum V1 (plain TCP) instead.")
@click.option(
    "--channel",
    type=click.Choice(["standard", "extended"]),
    default=None,
    help="SV2 channel: standard (header-only) or extended (rolls its extranonce).",
)
@click.option("--workers", type=int, default=None, help="Hashing processes (default 1).")
@click.option("--user", default=None, help="User identity / SV1 username (e.g. an address).")
@click.option("--password", default=None, help="SV1 password (default x).")
@click.option("--hashrate-limit", type=float, default=None, help="Throttle to this many H/s.")
@click.option("--nominal-hashrate", type=float, default=None, help="H/s told to the pool.")
@click.option("--min-extranonce-size", type=int, default=None, help="Extended: rollable bytes.")
@click.option(
    "--requires-standard-jobs", is_flag=True, default=None, help="Ask for NewMiningJob only."
)
@click.option(
    "--version-rolling/--no-version-rolling",
    default=None,
    help="Roll BIP320 version bits (default on; SV1: mining.configure).",
)
@click.option("--duration", type=float, default=None, help="Stop after this many seconds.")
@click.option("--max-shares", type=int, default=None, help="Stop after N accepted shares.")
@click.option("--status-interval", type=float, default=None, help="Seconds between status lines.")
def command(config: str | None, **flags: Any) -> None:
    """CPU miner: an SV2 device (standard/extended channel) or an SV1 client, N processes.

    \b
    sv2 miner --upstream 127.0.0.1:34254 --upstream-authority-key KEY --workers 2
    sv2 miner --sv1 --upstream 127.0.0.1:3333 --user bcrt1q... --duration 60

    Logs accepted/rejected shares, "block candidate" when a share meets the network
    target, and a status line (hashrate, accepted, rejected) every --status-interval.
    Exit status 0; 1 when --max-shares was asked for and not reached.
    """
    try:
        settings = load_config(MinerSettings, config, flags)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if not settings.upstream:
        raise click.UsageError("give --upstream HOST:PORT (or upstream in the config file)")
    setup_logging(settings.log_level, settings.log_json)
    try:
        stats = run_until_signalled(run_miner(settings))
    except KeyboardInterrupt:
        stats = None
    if stats is None:  # stopped by a signal
        log.info("stopped")
        return
    if settings.max_shares is not None and stats.accepted < settings.max_shares:
        raise SystemExit(1)


async def run_miner(settings: MinerSettings) -> MinerStats:
    """Run the miner until ``duration`` / ``max_shares`` / cancellation; its statistics."""
    pool = WorkerPool(settings.workers, settings.hashrate_limit)
    pool.start()
    try:
        service = MinerService(
            settings.miner_config(),
            pool,
            max_shares=settings.max_shares,
            status_interval=settings.status_interval,
        )
        if settings.sv1:
            host, port = parse_host_port(settings.upstream[0])
            return await service.run_sv1(
                host, port, settings.sv1_config(), duration=settings.duration
            )
        return await service.run(settings.endpoints(), duration=settings.duration)
    finally:
        pool.close()
