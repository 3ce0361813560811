"""Prometheus metrics (``/metrics``) for a running bundle, read from its :class:`Monitor`.

A custom collector builds every metric at scrape time from the monitor's counters, so the
share path updates nothing extra. Each bundle has its own registry (no process globals).

Bundle metrics (:class:`MonitorCollector`):
  ``sv2_shares_total{result}``          accepted, or the rejection reason
  ``sv2_blocks_found_total``            blocks the pool found (and sent to the node)
  ``sv2_blocks_accepted_total``         of those, blocks the node holds
  ``sv2_bytes_total{protocol,direction}``  device traffic (sv1/sv2, in/out)
  ``sv2_connections_total{protocol}``   device connections opened
  ``sv2_connections_open{protocol}``    device connections open now
  ``sv2_template_height``               height of the template being mined
  ``sv2_workers``                       workers seen since start

A role run alone (``sv2 translator``, ``sv2 jdc``) serves its own counters with
:func:`serve_metrics` when its config sets ``metrics = "HOST:PORT"``
(:func:`translator_metrics`, :func:`jdc_metrics`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from stratumv2.app.dashboard.monitor import Monitor

__all__ = [
    "CONTENT_TYPE",
    "CallbackCollector",
    "MonitorCollector",
    "jdc_metrics",
    "make_registry",
    "render",
    "serve_metrics",
    "serve_role_metrics",
    "translator_metrics",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PROTOCOLS = ("sv1", "sv2")


class MonitorCollector(Collector):
    """Turns a :class:`Monitor`'s state into Prometheus metric families."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Metric]:
        """Every metric, read now."""
        monitor = self.monitor
        totals = monitor.totals
        shares = CounterMetricFamily("sv2_shares", "Shares by result", labels=["result"])
        shares.add_metric(["accepted"], totals.shares_accepted)
        for reason, count in sorted(totals.shares_rejected.items()):
            shares.add_metric([reason], count)
        yield shares
        yield CounterMetricFamily(
            "sv2_blocks_found", "Blocks found by the pool", value=totals.blocks_found
        )
        yield CounterMetricFamily(
            "sv2_blocks_accepted", "Found blocks the node holds", value=totals.blocks_accepted
        )
        traffic = CounterMetricFamily(
            "sv2_bytes", "Device traffic in bytes", labels=["protocol", "direction"]
        )
        totals_bytes = monitor.bytes_total()
        for proto in PROTOCOLS:
            for direction in ("in", "out"):
                traffic.add_metric([proto, direction], totals_bytes.get((proto, direction), 0))
        yield traffic
        opened = CounterMetricFamily(
            "sv2_connections", "Device connections opened", labels=["protocol"]
        )
        live = GaugeMetricFamily(
            "sv2_connections_open", "Device connections open now", labels=["protocol"]
        )
        current = monitor.connections()
        for proto in PROTOCOLS:
            opened.add_metric([proto], totals.connections_opened.get(proto, 0))
            live.add_metric([proto], sum(1 for c in current if c["protocol"] == proto))
        yield opened
        yield live
        height = monitor.height()
        yield GaugeMetricFamily(
            "sv2_template_height",
            "Height of the template being mined",
            value=float("nan") if height is None else height,
        )
        yield GaugeMetricFamily(
            "sv2_workers", "Workers seen since start", value=len(monitor.workers)
        )


def make_registry(monitor: Monitor) -> CollectorRegistry:
    """A registry holding only this monitor's metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector(monitor))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition format of ``registry``."""
    return generate_latest(registry)


class CallbackCollector(Collector):
    """Metric families built at scrape time by ``build()`` (a role's counters, read now)."""

    def __init__(self, build: Callable[[], Iterable[Metric]]) -> None:
        self.build = build

    def collect(self) -> Iterator[Metric]:
        """Every metric, read now."""
        yield from self.build()


def translator_metrics(service: Any) -> Iterator[Metric]:
    """``sv2 translator``'s counters, from ``TranslatorService.stats()``.

    ``sv2_translator_bytes_total{connection,direction}``: each connected device
    (``ID:USER``) and the upstream (``upstream``); shares by result, blocks, devices, upstream
    connects and changes (failovers).
    """
    stats = service.stats()
    traffic = CounterMetricFamily(
        "sv2_translator_bytes",
        "Bytes on the wire per connection (SV1 devices, SV2 upstream)",
        labels=["connection", "protocol", "direction"],
    )
    shares = CounterMetricFamily(
        "sv2_translator_shares", "Device shares by result", labels=["result"]
    )
    results: dict[str, int] = {"accepted": 0}
    blocks = 0
    for name, device in sorted(stats["devices"].items()):
        traffic.add_metric([name, "sv1", "in"], device["bytes_in"])
        traffic.add_metric([name, "sv1", "out"], device["bytes_out"])
        results["accepted"] += device["shares_accepted"]
        for reason, count in device["shares_rejected"].items():
            results[reason] = results.get(reason, 0) + count
        blocks += device["blocks"]
    up = stats["upstream"]
    traffic.add_metric(["upstream", "sv2", "in"], up["bytes_in"])
    traffic.add_metric(["upstream", "sv2", "out"], up["bytes_out"])
    for result, count in sorted(results.items()):
        shares.add_metric([result], count)
    yield traffic
    yield shares
    yield GaugeMetricFamily(
        "sv2_translator_devices", "SV1 devices connected", value=len(stats["devices"])
    )
    yield CounterMetricFamily(
        "sv2_translator_blocks_found", "Blocks found", value=stats["blocks_found"]
    )
    yield CounterMetricFamily(
        "sv2_translator_upstream_connects", "Upstream connections made", value=up["connects"]
    )
    yield CounterMetricFamily(
        "sv2_translator_upstream_changes",
        "Upstream failovers (moved, back, none reachable)",
        value=up["changes"],
    )


def jdc_metrics(service: Any) -> Iterator[Metric]:
    """``sv2 jdc``'s counters: pool <-> solo switches, the current mode, blocks submitted."""
    core = service.core
    switches = CounterMetricFamily(
        "sv2_jdc_mode_switches", "Switches to the pool or to solo", labels=["to"]
    )
    for mode in ("pool", "solo"):
        switches.add_metric([mode], core.switches.get(mode, 0))
    yield switches
    current = GaugeMetricFamily("sv2_jdc_mode", "1 for the current mode", labels=["mode"])
    for name in ("pool", "solo"):
        current.add_metric([name], 1.0 if core.mode == name else 0.0)
    yield current
    yield CounterMetricFamily(
        "sv2_jdc_blocks_submitted", "Blocks found and submitted", value=service.blocks_submitted
    )
    yield GaugeMetricFamily(
        "sv2_jdc_miners", "Downstream miner connections", value=len(service.connections)
    )


async def serve_metrics(
    build: Callable[[], Iterable[Metric]], host: str, port: int
) -> tuple[web.AppRunner, int]:
    """Serve ``/metrics`` from ``build`` on ``host:port``; the runner (to clean up) and port."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CallbackCollector(build))

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=render(registry), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, int(bound)


async def serve_role_metrics(
    address: str | None,
    build: Callable[[], Iterable[Metric]],
    role: str,
    cleanups: list[Callable[[], Awaitable[None]]],
) -> int | None:
    """A role's ``metrics = "HOST:PORT"`` setting: serve ``/metrics`` there and say so.

    Returns the bound port (None when ``address`` is unset); the server's cleanup is
    appended to ``cleanups`` for the role's ``finally`` block.
    """
    if not address:
        return None
    from stratumv2.app.options import parse_host_port

    runner, port = await serve_metrics(build, *parse_host_port(address))
    cleanups.append(runner.cleanup)
    print(f"{role} metrics on port {port} (/metrics)", flush=True)
    return port
