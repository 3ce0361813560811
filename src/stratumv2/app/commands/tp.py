"""``sv2 tp``: a Template Provider on your own node (bitcoind JSON-RPC -> Template Distribution).

Connects to bitcoind (or ``sv2 regtest-node``), serves NewTemplate / SetNewPrevHash over
Noise to pools and JD clients, and submits the blocks they find. ``--explain`` prints the
current template and what the ``[policy]`` removed, then exits.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from pydantic import Field, field_validator

from stratumv2.app.config import ConfigError, Settings, load_config
from stratumv2.app.logs import setup_logging
from stratumv2.app.options import common_options, parse_host_port
from stratumv2.app.runner import run_until_signalled
from stratumv2.mining import template_policy
from stratumv2.net.rpc import BitcoinRpc, RpcClientError
from stratumv2.net.server import Sv2Server
from stratumv2.roles.template_provider.core import (
    MalformedTemplate,
    TemplateProviderCore,
    parse_gbt,
)
from stratumv2.roles.template_provider.explain import Removal, explain_text
from stratumv2.roles.template_provider.ports import DEFAULT_TP_PORTS
from stratumv2.roles.template_provider.service import (
    TD_SERVER_LIMITS,
    BlockStore,
    TemplatePolicyFn,
    TemplateProviderService,
    TpOptions,
)

__all__ = [
    "DEFAULT_LISTEN_PORTS",
    "DEFAULT_RPC_PORTS",
    "PolicySettings",
    "TpSettings",
    "apply_policy",
    "build_service",
    "command",
    "default_cookie_file",
    "explain_tp",
    "make_policy",
    "rpc_endpoint",
    "run_tp",
    "to_policy",
]

log = logging.getLogger("stratumv2.tp")

DEFAULT_LISTEN_PORTS = DEFAULT_TP_PORTS
#: bitcoind's RPC ports per network.
DEFAULT_RPC_PORTS = {"main": 8332, "testnet4": 48332, "signet": 38332, "regtest": 18443}
_NETWORK_SUBDIRS = {"main": "", "testnet4": "testnet4", "signet": "signet", "regtest": "regtest"}


class PolicySettings(Settings):
    """Which mempool transactions your templates may carry (applied to each template)."""

    min_fee_rate: float = Field(default=0.0, ge=0, description="sat/vB below which a tx is dropped")
    excluded_txids: list[str] = Field(default_factory=list, description="never include these")
    max_op_return_size: int | None = Field(
        default=None, ge=0, description="max OP_RETURN data bytes"
    )
    max_template_weight: int | None = Field(
        default=None, gt=0, le=4_000_000, description="max summed weight of the transactions"
    )
    prioritised_txids: list[str] = Field(default_factory=list, description="keep these first")

    @field_validator("excluded_txids", "prioritised_txids")
    @classmethod
    def _hex_txids(cls, value: list[str]) -> list[str]:
        for txid in value:
            if len(txid) != 64 or any(c not in "0123456789abcdefABCDEF" for c in txid):
                raise ValueError(f"not a txid (64 hex characters): {txid!r}")
        return [t.lower() for t in value]

    def is_empty(self) -> bool:
        """True when the policy changes nothing."""
        return (
            self.min_fee_rate == 0
            and not self.excluded_txids
            and self.max_op_return_size is None
            and self.max_template_weight is None
            and not self.prioritised_txids
        )


class TpSettings(Settings):
    """``sv2 tp`` settings (``config-examples/tp.toml``); flags override the file."""

    network: str = Field(default="main", pattern="^(main|testnet4|signet|regtest)$")
    listen: str | None = None
    datadir: str = "~/.stratumv2/tp"
    authority_secret_key: str | None = None
    rpcurl: str | None = None
    rpccookiefile: str | None = None
    rpcuser: str | None = None
    rpcpassword: str | None = None
    zmq_hashblock: str | None = None
    fee_delta: int = Field(
        default=1000, ge=0, description="sats fees must rise before a new template"
    )
    min_interval: float = Field(
        default=30.0, ge=0, description="seconds between fee-rise templates"
    )
    refresh_interval: float = Field(default=5.0, gt=0, description="seconds between template polls")
    log_level: str = "info"
    log_json: bool = False
    policy: PolicySettings = PolicySettings()

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            parse_host_port(value)
        return value

    def listen_address(self) -> tuple[str, int]:
        """Where to serve TD: ``listen`` or sv2-tp's port for the network on 127.0.0.1."""
        if self.listen:
            return parse_host_port(self.listen)
        return "127.0.0.1", DEFAULT_LISTEN_PORTS[self.network]

    def datadir_path(self) -> Path:
        """The data directory, expanded."""
        return Path(self.datadir).expanduser()


def default_cookie_file(network: str, bitcoin_dir: Path | None = None) -> Path:
    """bitcoind's cookie for ``network`` under ``~/.bitcoin``."""
    base = bitcoin_dir or Path("~/.bitcoin").expanduser()
    sub = _NETWORK_SUBDIRS[network]
    return (base / sub / ".cookie") if sub else (base / ".cookie")


def rpc_endpoint(settings: TpSettings) -> dict[str, Any]:
    """Keyword arguments for :class:`~stratumv2.net.rpc.BitcoinRpc` from the settings."""
    url = settings.rpcurl or f"http://127.0.0.1:{DEFAULT_RPC_PORTS[settings.network]}"
    if not url.startswith(("http://", "https://")):
        url = "http://" + url
    if settings.rpcuser is not None:
        return {"url": url, "user": settings.rpcuser, "password": settings.rpcpassword or ""}
    cookie = settings.rpccookiefile or str(default_cookie_file(settings.network))
    return {"url": url, "cookie_file": Path(cookie).expanduser()}


@click.command("tp")
@common_options
@click.option("--listen", default=None, help="HOST:PORT to serve Template Distribution on.")
@click.option("--authority-secret-key", default=None, help="SRI base58check authority secret.")
@click.option("--rpcurl", default=None, help="bitcoind RPC URL (default per network).")
@click.option("--rpccookiefile", default=None, help="bitcoind cookie file (default per network).")
@click.option("--rpcuser", default=None, help="bitcoind RPC user (instead of the cookie).")
@click.option("--rpcpassword", default=None, help="bitcoind RPC password.")
@click.option("--zmq-hashblock", default=None, help="bitcoind's zmqpubhashblock endpoint.")
@click.option("--fee-delta", type=int, default=None, help="Sats fees must rise for a new template.")
@click.option("--min-interval", type=float, default=None, help="Seconds between fee templates.")
@click.option("--explain", is_flag=True, default=False, help="Print the template and exit.")
def command(config: str | None, explain: bool, **flags: Any) -> None:
    """Template Provider: your node's block templates over Stratum V2 Template Distribution."""
    try:
        settings = load_config(TpSettings, config, flags)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    setup_logging(settings.log_level, settings.log_json)
    try:
        if explain:
            sys.exit(asyncio.run(explain_tp(settings)))
        run_until_signalled(run_tp(settings))
    except KeyboardInterrupt:
        log.info("stopped")


def make_policy(policy: PolicySettings) -> TemplatePolicyFn | None:
    """The ``[policy]`` as a function over GBT results (None when it changes nothing)."""
    if policy.is_empty():
        return None
    return lambda gbt: apply_policy(gbt, policy)[0]


def apply_policy(
    gbt: Mapping[str, Any], policy: PolicySettings
) -> tuple[Mapping[str, Any], list[Removal]]:
    """Run :mod:`stratumv2.mining.template_policy` on one GBT result: (filtered, removals)."""
    result = template_policy.apply_policy(gbt, to_policy(policy))
    removals = [
        Removal(r.txid, f"{r.reason} (after {r.because_of})" if r.because_of else r.reason)
        for r in result.removed
    ]
    return result.template, removals


def to_policy(policy: PolicySettings) -> template_policy.Policy:
    """The ``[policy]`` table as :class:`stratumv2.mining.template_policy.Policy`."""
    return template_policy.Policy(
        min_fee_rate=policy.min_fee_rate,
        excluded_txids=frozenset(policy.excluded_txids),
        max_op_return_size=policy.max_op_return_size,
        max_weight=policy.max_template_weight,
        prioritised_txids=tuple(policy.prioritised_txids),
    )


def build_service(settings: TpSettings) -> TemplateProviderService:
    """The service for ``settings`` (RPC client, core, block store, policy), not started."""
    rpc = BitcoinRpc(**rpc_endpoint(settings))
    core = TemplateProviderCore(fee_delta=settings.fee_delta, min_interval=settings.min_interval)
    options = TpOptions(
        zmq_hashblock=settings.zmq_hashblock,
        refresh_interval=settings.refresh_interval,
        expected_chain=settings.network,
    )
    store = BlockStore(settings.datadir_path() / "blocks")
    return TemplateProviderService(
        rpc, core, options=options, block_store=store, policy=make_policy(settings.policy)
    )


async def run_tp(settings: TpSettings, started: asyncio.Future[Sv2Server] | None = None) -> None:
    """Run ``sv2 tp`` until cancelled; ``started`` receives the listening server."""
    from stratumv2.app.keys import load_or_create_authority

    datadir = settings.datadir_path()
    datadir.mkdir(parents=True, exist_ok=True)
    authority = load_or_create_authority(datadir, settings.authority_secret_key)
    service = build_service(settings)
    server = Sv2Server(
        lambda conn: service.serve_peer(conn, conn.peer_text),
        authority,
        TD_SERVER_LIMITS,
        name="template provider",
    )
    host, port = settings.listen_address()
    try:
        await server.start(host, port)
        print(f"Template Provider authority key: {server.authority_public_key}", flush=True)
        if started is not None:
            started.set_result(server)
        await asyncio.gather(service.run(), server.serve_forever())
    finally:
        await server.close()
        await service.rpc.close()


async def explain_tp(settings: TpSettings) -> int:
    """Fetch one template, print it with what the policy removed and why; exit status."""
    rpc = BitcoinRpc(**rpc_endpoint(settings))
    try:
        gbt = await rpc.getblocktemplate()
        original = parse_gbt(gbt)
        removals: list[Removal] = []
        filtered = original
        if not settings.policy.is_empty():
            filtered_gbt, removals = apply_policy(gbt, settings.policy)
            filtered = parse_gbt(filtered_gbt)
    except (RpcClientError, MalformedTemplate) as exc:
        click.echo(f"cannot get a template from {rpc.url}: {exc}", err=True)
        return 1
    finally:
        await rpc.close()
    lines = [
        f"{key} = {value}"
        for key, value in settings.policy.model_dump().items()
        if value not in (None, [], 0, 0.0)
    ]
    click.echo(explain_text(original, filtered, removals, lines), nl=False)
    return 0
