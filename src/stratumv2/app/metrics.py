"""Prometheus metrics (``/metrics``) for a running bundle, read from its :class:`Monitor`.

A custom collector builds every metric at scrape time from the monitor's counters, so the
share path updates nothing extra. Each bundle has its own registry (no process globals).

Metrics:
  ``sv2_shares_total{result}``          accepted, or the rejection reason
  ``sv2_blocks_found_total``            blocks the pool found (and sent to the node)
  ``sv2_blocks_accepted_total``         of those, blocks the node holds
  ``sv2_bytes_total{protocol,direction}``  device traffic (sv1/sv2, in/out)
  ``sv2_connections_total{protocol}``   device connections opened
  ``sv2_connections_open{protocol}``    device connections open now
  ``sv2_template_height``               height of the template being mined
  ``sv2_workers``                       workers seen since start
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from stratumv2.app.dashboard.monitor import Monitor

__all__ = ["CONTENT_TYPE", "MonitorCollector", "make_registry", "render"]

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
