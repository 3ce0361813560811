"""Ordered fallback upstreams: the health check is a real SetupConnection, a wrong authority
key or a refusal skips an upstream, and the translator moves back to the preferred one."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from stratumv2.app.commands.translator import run_translator
from stratumv2.app.config import load_config
from stratumv2.net.client import Endpoint
from stratumv2.net.limits import Limits
from stratumv2.net.pump import Sv2Connection, new_secret
from stratumv2.net.server import Sv2Server
from stratumv2.noise import Keypair
from stratumv2.protocol import SetupConnection, SetupConnectionError, SetupConnectionSuccess
from stratumv2.roles.translator.core import TranslatorConfig, TranslatorCore
from stratumv2.roles.translator.service import TranslatorService, endpoint_source
from stratumv2.roles.translator.settings import TranslatorSettings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server(setups: list[str], name: str, refuse: bool = False) -> Sv2Server:
    async def handler(conn: Sv2Connection) -> None:
        setup = await conn.recv()
        assert isinstance(setup, SetupConnection) and setup.protocol == 0
        setups.append(name)
        if refuse:
            await conn.send(SetupConnectionError(flags=0, error_code="unsupported-protocol"))
            return
        await conn.send(SetupConnectionSuccess(used_version=2, flags=0))
        async for _ in conn:
            pass

    return Sv2Server(handler, Keypair(new_secret()), name=name)


async def test_fallback_order_health_check_and_move_back() -> None:
    setups: list[str] = []
    primary = _server(setups, "primary")
    refusing = _server(setups, "refusing", refuse=True)
    impostor = _server(setups, "impostor")  # answers, but its key is not the configured one
    fallback = _server(setups, "fallback")
    primary_port = _free_port()
    for server in (refusing, impostor, fallback):
        await server.start("127.0.0.1", 0)
    limits = Limits(handshake_timeout=2.0)
    plan = [
        (primary_port, primary),
        (refusing.port, refusing),
        (impostor.port, fallback),  # the impostor's certificate is not signed by this key
        (fallback.port, fallback),
    ]
    sources = [
        endpoint_source(Endpoint("127.0.0.1", port, server.authority_public_key), limits)
        for port, server in plan
    ]
    service = TranslatorService(
        TranslatorCore(TranslatorConfig()), sources, limits=limits, health_interval=0.3
    )
    changes: list[tuple[str, str, str]] = []
    service.on_upstream_change = lambda *change: changes.append(change)
    await service.start(None)
    try:
        await asyncio.wait_for(service.upstream_connected.wait(), 10)
        assert service.upstream_index == 3
        assert "refusing" in setups and "impostor" not in setups  # Noise refused the impostor
        assert service.core.upstream_ready
        # the primary comes up: the next probe finds it healthy and the translator moves back
        await primary.start("127.0.0.1", primary_port)
        for _ in range(100):
            if service.upstream_index == 0:
                break
            await asyncio.sleep(0.05)
        assert service.upstream_index == 0
        assert service.upstream_connects == 2
        # the primary goes away: back to the fallback, with backoff
        await primary.close()
        for _ in range(200):
            if service.upstream_index == 3:
                break
            await asyncio.sleep(0.05)
        assert service.upstream_index == 3
        # each move is an "upstream failover" event (what the notifier sends)
        names = [source.name for source in sources]
        assert [(a, b) for a, b, _ in changes] == [(names[3], names[0]), (names[0], names[3])]
        assert "preferred upstream" in changes[0][2]
        assert service.stats()["upstream"]["changes"] == 2
    finally:
        await service.close()
        for server in (refusing, impostor, fallback):
            await server.close()


async def test_sv2_translator_sends_upstream_failover_notifications(tmp_path: Path) -> None:
    """`sv2 translator` from its settings with a [notify] webhook: the only upstream goes
    away, and a local receiver gets the upstream_failover JSON POST."""
    notes: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        notes.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    receiver = web.AppRunner(app)
    await receiver.setup()
    await web.TCPSite(receiver, "127.0.0.1", 0).start()
    upstream = _server([], "pool")
    await upstream.start("127.0.0.1", 0)
    settings = load_config(
        TranslatorSettings,
        None,
        {
            "listen": "127.0.0.1:0",
            "upstream": [f"127.0.0.1:{upstream.port}"],
            "upstream_authority_key": upstream.authority_public_key,
            "datadir": str(tmp_path),
            "notify": {"webhooks": [f"http://127.0.0.1:{receiver.addresses[0][1]}/hook"]},
            "metrics": "127.0.0.1:0",
        },
    )
    started: asyncio.Future[TranslatorService] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_translator(settings, started))
    try:
        service = await asyncio.wait_for(started, 10)
        await asyncio.wait_for(service.upstream_connected.wait(), 10)
        await upstream.close()
        for _ in range(200):
            if notes:
                break
            await asyncio.sleep(0.05)
        assert notes and notes[0]["event"] == "upstream_failover", notes
        assert notes[0]["data"]["current"] == "(none)"
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{service.metrics_port}/metrics") as response,
        ):
            metrics = await response.text()
        assert "sv2_translator_upstream_changes_total 1.0" in metrics
        up_out = 'sv2_translator_bytes_total{connection="upstream",direction="out",protocol="sv2"}'
        assert up_out in metrics and f"{up_out} 0.0" not in metrics
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await receiver.cleanup()
