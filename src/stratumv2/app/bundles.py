"""The bundles a user runs: ``sv2 solo`` (your node, your devices) and ``sv2 demo``.

One process composes the same role services that run as separate processes:

    bitcoind (or the embedded regtest node)
      <- JSON-RPC -- TemplateProviderService
      <- Template Distribution over an in-memory Noise pipe -- PoolService (solo payouts)
      <- devices: SV2 on ``sv2_listen``; SV1 and SV2 on ``listen`` (first bytes decide; SV1
         goes to a TranslatorService whose upstream is the pool over an in-memory pipe)
    + Monitor (store observer) -> dashboard, /api/, /metrics, notifications.

``sv2 demo`` adds the embedded regtest node with its transaction generator and two CPU
miners (one SV2, one SV1) and prints a status line and one ``block found:`` line per block.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from stratumv2.app.commands.pool import POOL_COINBASE_CONSTRAINTS, load_authority
from stratumv2.app.commands.tp import PolicySettings, TpSettings, make_policy, rpc_endpoint
from stratumv2.app.config import Settings
from stratumv2.app.dashboard import Dashboard, start_dashboard
from stratumv2.app.dashboard.monitor import BlockInfo, Monitor, ObservedStore
from stratumv2.app.notify import Notifier, NotifySettings
from stratumv2.app.options import parse_host_port
from stratumv2.bitcoin.address import address_to_script
from stratumv2.net.client import Endpoint
from stratumv2.net.limits import Limits
from stratumv2.net.rpc import BitcoinRpc
from stratumv2.net.server import Sv2Server
from stratumv2.roles.pool.core import PoolCore
from stratumv2.roles.pool.service import PoolService
from stratumv2.roles.pool.settings import PoolSettings
from stratumv2.roles.template_provider.client import TemplateDistributionClient
from stratumv2.roles.template_provider.core import TemplateProviderCore
from stratumv2.roles.template_provider.service import (
    TD_SERVER_LIMITS,
    BlockStore,
    TemplateProviderService,
    TpOptions,
)

__all__ = [
    "DEMO_SV1_ADDRESS",
    "Bundle",
    "BundleSettings",
    "DemoSettings",
    "SoloSettings",
    "device_instructions",
    "run_demo",
    "run_solo",
]

log = logging.getLogger("stratumv2.bundle")

Network = Literal["main", "testnet4", "signet", "regtest"]

DEMO_ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
"""The demo's payout address (BIP173's P2WPKH test program on regtest)."""
DEMO_SV1_ADDRESS = "bcrt1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qzf4jry"
"""The demo's SV1 miner mines to its own address (username = address), BIP173's P2WSH."""


class BundleSettings(Settings):
    """What ``sv2 solo`` and ``sv2 demo`` share."""

    network: Network = "main"
    datadir: str = "~/.stratumv2/solo"
    address: str | None = Field(default=None, description="payout address")
    listen: str | None = Field(default="0.0.0.0:3333", description="SV1 + SV2 device port")
    sv2_listen: str | None = Field(default="0.0.0.0:34254", description="SV2-only port")
    dashboard: str | None = Field(default="127.0.0.1:8080", description="dashboard; '' = off")
    public_host: str | None = Field(default=None, description="host name devices use")
    authority_secret_key: str | None = None
    pool_tag: str = Field(default="stratumv2", max_length=32)
    shares_per_minute: float = Field(default=18.0, gt=0)
    share_batch_size: int = Field(default=10, ge=1, le=10_000)
    sv1_device_hashrate: float = Field(
        default=1e12, gt=0, description="H/s assumed for a new SV1 device (vardiff then adapts)"
    )
    max_connections: int = Field(default=1000, ge=1)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool = False
    notify: NotifySettings = NotifySettings()
    policy: PolicySettings = PolicySettings()

    @field_validator("listen", "sv2_listen", "dashboard")
    @classmethod
    def _optional_host_port(cls, value: str | None) -> str | None:
        if value:
            parse_host_port(value)
        return value or None

    @field_validator("address")
    @classmethod
    def _payout_address(cls, value: str | None, info: ValidationInfo) -> str | None:
        network = info.data.get("network")
        if network is None:
            return value  # the network itself is wrong: that error is enough
        if not value:
            raise ValueError("a payout address is required (--address)")
        try:
            address_to_script(value, network)
        except ValueError as exc:
            raise ValueError(f"not a {network} address: {exc}") from None
        return value

    def datadir_path(self) -> Path:
        """The data directory, expanded."""
        return Path(self.datadir).expanduser()


class SoloSettings(BundleSettings):
    """``sv2 solo`` (``config-examples/solo.toml``): your bitcoind, your address, your devices."""

    rpcurl: str | None = Field(default=None, description="bitcoind RPC (default per network)")
    rpccookiefile: str | None = Field(default=None, description="default ~/.bitcoin/.../.cookie")
    rpcuser: str | None = None
    rpcpassword: str | None = None
    zmq_hashblock: str | None = Field(default=None, description="bitcoind zmqpubhashblock")
    fee_delta: int = Field(default=1000, ge=0, description="sats of new fees for a new template")
    min_interval: float = Field(default=30.0, ge=0, description="seconds between such templates")

    def rpc_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :class:`BitcoinRpc` (cookie and URL found per network)."""
        tp = TpSettings(
            network=self.network,
            rpcurl=self.rpcurl,
            rpccookiefile=self.rpccookiefile,
            rpcuser=self.rpcuser,
            rpcpassword=self.rpcpassword,
        )
        return rpc_endpoint(tp)


class DemoSettings(BundleSettings):
    """``sv2 demo`` (``config-examples/demo.toml``): everything on an embedded regtest node."""

    network: Network = "regtest"
    datadir: str = "~/.stratumv2/demo"
    address: str | None = DEMO_ADDRESS
    listen: str | None = "127.0.0.1:3333"
    sv2_listen: str | None = "127.0.0.1:34254"
    share_batch_size: int = Field(default=1, ge=1, le=10_000)
    sv1_device_hashrate: float = Field(default=0.1, gt=0)
    tx_rate: float = Field(default=2.0, ge=0, description="demo transactions per second")
    miner_hashrate: float = Field(
        default=0.1, gt=0, description="H/s of each CPU miner (a regtest block takes ~2 hashes)"
    )
    sv1_miner_user: str = Field(default=DEMO_SV1_ADDRESS + ".sv1-cpu")
    sv2_miner_user: str = Field(default="demo.sv2-cpu")
    status_interval: float = Field(default=5.0, gt=0)
    log_level: Literal["debug", "info", "warning", "error"] = "warning"
    duration: float | None = Field(default=None, gt=0, description="stop after N seconds")
    blocks: int | None = Field(default=None, ge=1, description="stop after N blocks")

    @field_validator("network")
    @classmethod
    def _regtest_only(cls, value: str) -> str:
        if value != "regtest":
            raise ValueError("the demo runs on regtest only")
        return value


def _port_free(host: str, port: int) -> bool:
    if port == 0:
        return True
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _device_host(listen_host: str, public_host: str | None) -> str:
    if public_host:
        return public_host
    if listen_host not in ("0.0.0.0", "::", ""):
        return listen_host
    try:
        found = socket.gethostbyname(socket.gethostname())
    except OSError:
        found = ""
    return found if found and not found.startswith("127.") else "<this machine's IP>"


def device_instructions(
    host: str, listen_port: int | None, sv2_port: int | None, authority_key: str, address: str
) -> list[str]:
    """What a device needs, one line each (printed at start and shown on the dashboard)."""
    lines = []
    if listen_port is not None:
        lines.append(f"SV1 firmware (e.g. Bitaxe AxeOS):  stratum+tcp://{host}:{listen_port}")
        lines.append(f"  user: {address}.WORKERNAME (or any name: pays {address}), password: x")
    port = sv2_port if sv2_port is not None else listen_port
    if port is not None:
        lines.append(f"SV2 firmware (ESP-Miner 2.14+ SV2): stratum2+tcp://{host}:{port}")
        lines.append(f"  authority public key: {authority_key}")
    return lines


@dataclass
class Bundle:
    """Template provider + pool (solo) + SV1 translator + monitor + dashboard, one process."""

    settings: BundleSettings
    rpc_kwargs: dict[str, Any]
    zmq_hashblock: str | None = None
    out: Callable[[str], None] = print
    tp_refresh_interval: float = 5.0
    fee_delta: int = 1000
    min_interval: float = 30.0
    pool: PoolService = field(init=False)
    tp: TemplateProviderService = field(init=False)
    monitor: Monitor = field(init=False)
    translator: Any = field(init=False, default=None)
    dashboard: Dashboard | None = field(init=False, default=None)
    ports: dict[str, int] = field(init=False, default_factory=dict)
    authority_key: str = field(init=False, default="")

    async def start(self, fallback_ports: bool = False) -> None:
        """Start every part; print what devices need. ``fallback_ports``: a busy port -> 0."""
        s = self.settings
        datadir = s.datadir_path()
        datadir.mkdir(parents=True, exist_ok=True)
        self._closers: list[Callable[[], Any]] = []
        self._tasks: list[asyncio.Task[Any]] = []
        authority = load_authority(datadir, s.authority_secret_key)
        self.notifier = Notifier.from_settings(s.notify)
        self._closers.append(self.notifier.close)

        # Template provider on the node, served in-process.
        tp_rpc = BitcoinRpc(**self.rpc_kwargs)
        self._closers.append(tp_rpc.close)
        self.tp = TemplateProviderService(
            tp_rpc,
            TemplateProviderCore(fee_delta=self.fee_delta, min_interval=self.min_interval),
            options=TpOptions(
                zmq_hashblock=self.zmq_hashblock, refresh_interval=self.tp_refresh_interval
            ),
            block_store=BlockStore(datadir / "blocks"),
            policy=make_policy(s.policy),
        )
        tp_server = Sv2Server(
            lambda conn: self.tp.serve_peer(conn, "pool"),
            authority,
            TD_SERVER_LIMITS,
            name="template provider",
        )
        self._closers.append(tp_server.close)
        self._tasks.append(asyncio.create_task(self.tp.run(), name="bundle-tp"))
        self._tasks.append(asyncio.create_task(self._report_node(), name="bundle-node"))

        # The pool, solo payouts, fed over an in-memory Template Distribution pipe.
        store = ObservedStore(datadir / "pool.sqlite")
        await store.open()
        self._closers.append(store.close)
        listen = parse_host_port(s.listen) if s.listen else None
        sv2_listen = parse_host_port(s.sv2_listen) if s.sv2_listen else None
        if fallback_ports:
            listen = _free_or_zero(listen, self.out)
            sv2_listen = _free_or_zero(sv2_listen, self.out)
        pool_settings = PoolSettings(
            network=s.network,
            listen=None,
            sv2_listen=s.sv2_listen or s.listen,
            datadir=str(datadir),
            address=s.address,
            mode="solo",
            pool_tag=s.pool_tag,
            share_batch_size=s.share_batch_size,
            shares_per_minute=s.shares_per_minute,
            max_connections=s.max_connections,
        )
        td = TemplateDistributionClient(
            connect=tp_server.connect_in_memory,
            constraints=POOL_COINBASE_CONSTRAINTS,
            vendor="stratumv2-solo",
        )
        self.pool = PoolService(
            PoolCore(pool_settings.pool_config()),
            authority,
            td=td,
            store=store,
            limits=Limits(
                max_payload_size=pool_settings.max_frame_size,
                max_connections=s.max_connections,
                max_connections_per_address=pool_settings.max_connections_per_address,
            ),
            max_write_backlog=pool_settings.max_write_backlog,
        )
        self._closers.append(self.pool.close)
        self.translator = await self._start_translator()
        # Monitor, dashboard, notifications.
        check_rpc = BitcoinRpc(**self.rpc_kwargs, timeout=10.0)
        self._closers.append(check_rpc.close)
        self.monitor = Monitor(
            store,
            network=s.network,
            payout_address=s.address,
            rpc=check_rpc,
            notifier=self.notifier,
            worker_offline_after=s.notify.worker_offline_after,
        )
        store.monitor = self.monitor
        self.monitor.tp = self.tp
        self.monitor.track_server("sv2", self.pool.server)
        if self.translator is not None:
            self.monitor.track_server("sv1", self.translator.server)
        bound = await self.pool.start(sv2_listen, listen)
        if sv2_listen is not None:
            self.ports["sv2"] = bound.pop(0)[1]
        if listen is not None:
            self.ports["listen"] = bound.pop(0)[1]
        self.authority_key = self.pool.authority_public_key

        await self.monitor.start()
        self._closers.append(self.monitor.close)
        host = _device_host((listen or sv2_listen or ("", 0))[0], s.public_host)
        assert s.address is not None
        lines = device_instructions(
            host, self.ports.get("listen"), self.ports.get("sv2"), self.authority_key, s.address
        )
        sv2_port = self.ports.get("sv2", self.ports.get("listen"))
        self.monitor.info = {
            "sv1_url": f"stratum+tcp://{host}:{self.ports['listen']}"
            if "listen" in self.ports
            else None,
            "sv2_url": f"stratum2+tcp://{host}:{sv2_port}" if sv2_port else None,
            "authority_key": self.authority_key,
            "username_hint": f"{s.address}.WORKER",
            "address": s.address,
        }
        if s.dashboard:
            dhost, dport = parse_host_port(s.dashboard)
            if fallback_ports and not _port_free(dhost, dport):
                self.out(f"port {dport} is busy; the dashboard takes a free port instead")
                dport = 0
            self.dashboard = await start_dashboard(self.monitor, dhost, dport)
            self.ports["dashboard"] = self.dashboard.port
            self._closers.append(self.dashboard.close)
        for line in lines:
            self.out(line)
        self.out(
            f"Authority public key (also in {datadir / 'authority.pub'}): {self.authority_key}"
        )
        for name, port in self.ports.items():
            self.out(f"listening: {name} port {port}")
        if self.dashboard is not None:
            self.out(f"dashboard: {self.dashboard.url}  (JSON API under /api/, metrics /metrics)")

    async def _start_translator(self) -> Any:
        try:
            from stratumv2.roles.translator.core import TranslatorConfig, TranslatorCore
            from stratumv2.roles.translator.service import TranslatorService, UpstreamSource
        except ImportError:  # pragma: no cover - the translator is part of the package
            log.warning("translator not available: SV1 devices will be refused")
            return None
        core = TranslatorCore(TranslatorConfig(device_hashrate=self.settings.sv1_device_hashrate))
        translator = TranslatorService(
            core,
            [UpstreamSource("pool (in-process)", self.pool.server.connect_in_memory)],
            limits=Limits(max_connections=self.settings.max_connections),
        )
        await translator.start(None)
        self._closers.append(translator.close)
        self.pool.sv1_handler = translator.serve_transport
        return translator

    async def _report_node(self) -> None:
        """Say why no template came yet (node unreachable, initial block download...)."""
        said = ""
        while not self.tp.first_template.is_set():
            reason = self.tp.node.reason
            if reason and reason != said:
                self.out(f"waiting for the node: {reason}")
                said = reason
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.tp.first_template.wait(), 2.0)
        if said:
            self.out("the node is ready: mining")

    async def close(self) -> None:
        """Stop everything, newest part first."""
        for task in getattr(self, "_tasks", []):
            task.cancel()
        await asyncio.gather(*getattr(self, "_tasks", []), return_exceptions=True)
        for closer in reversed(getattr(self, "_closers", [])):
            try:
                await closer()
            except Exception:
                log.exception("error while stopping")


def _free_or_zero(
    address: tuple[str, int] | None, out: Callable[[str], None]
) -> tuple[str, int] | None:
    if address is None or _port_free(*address):
        return address
    out(f"port {address[1]} is busy; using a free port instead")
    return address[0], 0


def _stop_event() -> asyncio.Event:
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    return stop


async def run_solo(settings: SoloSettings, started: asyncio.Future[Bundle] | None = None) -> None:
    """Run ``sv2 solo`` until Ctrl-C / SIGTERM (or cancellation)."""
    stop = _stop_event()
    bundle = Bundle(
        settings,
        settings.rpc_kwargs(),
        zmq_hashblock=settings.zmq_hashblock,
        fee_delta=settings.fee_delta,
        min_interval=settings.min_interval,
    )
    try:
        await bundle.start()
        print(f"sv2 solo: mining for {settings.address} on {settings.network}", flush=True)
        bundle.monitor.block_listeners.append(lambda info: print(block_line(info), flush=True))
        if started is not None:
            started.set_result(bundle)
        await stop.wait()
        print("stopping...", flush=True)
    finally:
        await bundle.close()


def block_line(info: BlockInfo) -> str:
    """``block found: height=H hash=HEX txs=N paid=ADDR worker=W node=accepted``."""
    r = info.record
    worker = f"{r.user}.{r.worker}" if r.worker else r.user
    verdict = info.node_status
    txs = "?" if info.tx_count is None else str(info.tx_count)
    return (
        f"block found: height={r.height} hash={r.block_hash} txs={txs} paid={r.coinbase_payee}"
        f" worker={worker} node={verdict}"
    )


@dataclass
class DemoResult:
    """What a demo run did."""

    blocks: list[BlockInfo]
    first_block_after: float | None
    height: int | None


async def run_demo(settings: DemoSettings, out: Callable[[str], None] | None = None) -> DemoResult:
    """Run ``sv2 demo``: node, bundle, two CPU miners; until Ctrl-C, duration or blocks."""
    from stratumv2.roles.miner.core import MinerConfig
    from stratumv2.roles.miner.service import MinerService, format_hashrate
    from stratumv2.roles.miner.sv1_client import Sv1ClientConfig
    from stratumv2.roles.miner.workers import WorkerPool
    from stratumv2.roles.regtest_node.service import NodeConfig, RegtestNode

    def say(text: str) -> None:
        (out or (lambda t: print(t, flush=True)))(text)

    started = time.monotonic()
    stop = _stop_event()
    if settings.log_level == "warning":  # keep the terminal to status and block lines
        for name in ("stratumv2.miner", "stratumv2.translator", "stratumv2.tp"):
            logging.getLogger(name).setLevel(logging.ERROR)
    datadir = settings.datadir_path()
    say(f"sv2 demo: data in {datadir} (a second run continues the same chain)")
    node = RegtestNode(
        NodeConfig(
            datadir=datadir / "node", rpcbind="127.0.0.1", rpcport=0, tx_rate=settings.tx_rate
        )
    )
    await node.start()
    bundle: Bundle | None = None
    miners: list[tuple[MinerService, WorkerPool, asyncio.Task[Any]]] = []
    found: list[BlockInfo] = []
    first_block_after: float | None = None
    enough = asyncio.Event()
    try:
        rpc_kwargs: dict[str, Any] = {"url": node.url, "cookie_file": node.cookie_path}
        async with BitcoinRpc(**rpc_kwargs) as rpc:
            height = await rpc.getblockcount()
            if height == 0:  # a fresh chain: one block so the node leaves "initial download"
                await rpc.call("generatetoaddress", 1, settings.address)
            note = ""
            if height < 110:
                note = " (a new chain: the transaction generator first mines 110 to fund itself)"
            say(f"regtest node: height {max(height, 1)}, JSON-RPC {node.url}{note}")
        bundle = Bundle(settings, rpc_kwargs, out=say, tp_refresh_interval=1.0, min_interval=10.0)
        await bundle.start(fallback_ports=True)

        def on_block(info: BlockInfo) -> None:
            nonlocal first_block_after
            found.append(info)
            if first_block_after is None:
                first_block_after = time.monotonic() - started
            say(block_line(info))
            if (
                settings.blocks is not None
                and sum(1 for b in found if b.accepted) >= settings.blocks
            ):
                enough.set()

        bundle.monitor.block_listeners.append(on_block)
        sv2_port = bundle.ports.get("sv2", bundle.ports.get("listen"))
        assert sv2_port is not None
        sv2_pool = WorkerPool(1, settings.miner_hashrate)
        _start_quietly(sv2_pool)
        sv2_miner = MinerService(
            MinerConfig(
                channel="standard",
                user_identity=settings.sv2_miner_user,
                nominal_hashrate=settings.miner_hashrate,
                endpoint_host="127.0.0.1",
                endpoint_port=sv2_port,
                device_id="demo-sv2",
            ),
            sv2_pool,
            status_interval=3600,
        )
        endpoint = Endpoint("127.0.0.1", sv2_port, authority=bundle.authority_key)
        miners.append((sv2_miner, sv2_pool, asyncio.create_task(sv2_miner.run([endpoint]))))
        if "listen" in bundle.ports and bundle.translator is not None:
            sv1_pool = WorkerPool(1, settings.miner_hashrate)
            _start_quietly(sv1_pool)
            sv1_miner = MinerService(MinerConfig(), sv1_pool, status_interval=3600)
            task = asyncio.create_task(
                sv1_miner.run_sv1(
                    "127.0.0.1",
                    bundle.ports["listen"],
                    Sv1ClientConfig(username=settings.sv1_miner_user, password="x"),
                )
            )
            miners.append((sv1_miner, sv1_pool, task))
        say(
            "mining with two CPU miners (SV2 standard channel, SV1 through the translator),"
            f" {settings.miner_hashrate:g} H/s each: a regtest block takes ~2 hashes. Ctrl-C stops"
        )

        async def status_loop() -> None:
            assert bundle is not None
            while True:
                await asyncio.sleep(settings.status_interval)
                say(await status_line(bundle, [m for m, _, _ in miners], format_hashrate))

        status = asyncio.create_task(status_loop())
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(enough.wait())]
        waiters.extend(t for _, _, t in miners)
        try:
            await asyncio.wait(waiters, timeout=settings.duration, return_when="FIRST_COMPLETED")
        finally:
            for t in waiters[:2]:
                t.cancel()
            status.cancel()
        for _, _, task in miners:
            if task.done() and task.exception() is not None:
                say(f"a miner stopped: {task.exception()!r}")
        if first_block_after is not None:
            say(f"first block {first_block_after:.1f} s after start; {len(found)} blocks found")
        say("stopping...")
        return DemoResult(found, first_block_after, bundle.monitor.height())
    finally:
        for _, _, task in miners:
            task.cancel()
        await asyncio.gather(*(t for _, _, t in miners), return_exceptions=True)
        for _, pool, _ in miners:
            pool.close()
        if bundle is not None:
            await bundle.close()
        await node.stop()
        say("stopped; the chain is saved for the next run")


def _start_quietly(pool: Any) -> None:
    """Start worker processes that ignore Ctrl-C (the demo stops them itself, in order)."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        pool.start()
    finally:
        signal.signal(signal.SIGINT, previous)


async def status_line(
    bundle: Bundle, miners: list[Any], format_hashrate: Callable[[float], str]
) -> str:
    """One line: height, hashrate, shares, blocks, the last block's transactions and payee."""
    status = await bundle.monitor.status()
    now = time.time()
    rates = " + ".join(format_hashrate(m.meter.rate(now)) for m in miners) or "-"
    line = (
        f"status: height={status['height']} hashrate={rates}"
        f" (pool sees {format_hashrate(status['hashrate_run'])}"
        f" over {status['hashrate_run_window']:.0f} s)"
        f" shares={status['shares_accepted']}/{status['shares_rejected']} rejected"
        f" blocks={status['blocks_found']}"
    )
    stale = sum(1 for b in bundle.monitor.blocks if b.node_status == "stale")
    if stale:
        line += f" ({stale} stale: another block took the height first)"
    last = status["last_block"]
    if last is not None:
        txs = "?" if last["tx_count"] is None else last["tx_count"]
        line += f" last: {last['height']} with {txs} txs paid {last['pays']}"
    return line
