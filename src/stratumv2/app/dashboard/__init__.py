"""The dashboard: an aiohttp app serving a static page, a JSON API and Prometheus metrics.

Routes (all read-only):
  ``/``                 the page (``static/index.html``, no external resources)
  ``/api/status``       headline numbers (hashrate, shares, rejects by reason, blocks, height)
  ``/api/workers``      per worker: hashrate over 1 h and 24 h with its standard error,
                        shares, best difficulty this session and of all time
  ``/api/blocks``       blocks found, newest first, with the node's verdict
  ``/api/template``     the template being mined (height, fees, tx count, who it pays)
  ``/api/connections``  live device connections (SV1/SV2, bytes in and out)
  ``/api/history``      total hashrate over the last hour in 30 steps
  ``/api/all``          all of the above in one object (what the page polls)
  ``/metrics``          Prometheus text format
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aiohttp import web

from stratumv2.app.dashboard.monitor import Monitor
from stratumv2.app.metrics import CONTENT_TYPE, make_registry, render

__all__ = ["Dashboard", "make_app", "start_dashboard"]

_STATIC_FILES = {
    "index.html": "text/html",
    "app.js": "application/javascript",
    "style.css": "text/css",
}


def _json(data: Any) -> web.Response:
    return web.Response(
        text=json.dumps(data, allow_nan=False, default=str),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def make_app(monitor: Monitor) -> web.Application:
    """The dashboard application for ``monitor``."""
    registry = make_registry(monitor)
    static = resources.files("stratumv2.app.dashboard") / "static"

    async def page(request: web.Request) -> web.Response:
        name = request.match_info.get("name") or "index.html"
        if name not in _STATIC_FILES:
            raise web.HTTPNotFound()
        body = (static / name).read_bytes()
        return web.Response(body=body, content_type=_STATIC_FILES[name])

    async def status(request: web.Request) -> web.Response:
        return _json(await monitor.status())

    async def workers(request: web.Request) -> web.Response:
        return _json(await monitor.worker_stats())

    async def blocks(request: web.Request) -> web.Response:
        try:
            limit = max(1, min(1000, int(request.query.get("limit", "50"))))
        except ValueError:
            raise web.HTTPBadRequest(text="limit must be an integer") from None
        return _json(await monitor.block_list(limit))

    async def template(request: web.Request) -> web.Response:
        return _json(monitor.template())

    async def connections(request: web.Request) -> web.Response:
        return _json(monitor.connections())

    async def history(request: web.Request) -> web.Response:
        return _json(await monitor.history())

    async def everything(request: web.Request) -> web.Response:
        return _json(
            {
                "status": await monitor.status(),
                "workers": await monitor.worker_stats(),
                "blocks": await monitor.block_list(20),
                "template": monitor.template(),
                "connections": monitor.connections(),
                "history": await monitor.history(),
            }
        )

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=render(registry), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/static/{name}", page)
    app.router.add_get("/api/status", status)
    app.router.add_get("/api/workers", workers)
    app.router.add_get("/api/blocks", blocks)
    app.router.add_get("/api/template", template)
    app.router.add_get("/api/connections", connections)
    app.router.add_get("/api/history", history)
    app.router.add_get("/api/all", everything)
    app.router.add_get("/metrics", metrics)
    return app


@dataclass
class Dashboard:
    """A running dashboard: its runner and bound address."""

    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        """``http://HOST:PORT/``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def close(self) -> None:
        """Stop serving."""
        await self.runner.cleanup()


async def start_dashboard(monitor: Monitor, host: str, port: int) -> Dashboard:
    """Serve the dashboard on ``host:port`` (port 0 picks one); returns where."""
    runner = web.AppRunner(make_app(monitor), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    bound = runner.addresses[0]
    return Dashboard(runner, str(bound[0]), int(bound[1]))
