"""Notifications POSTed to a real aiohttp receiver on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from stratumv2.app.notify import (
    Notifier,
    NotifySettings,
    NtfyTarget,
    WebhookTarget,
    best_difficulty,
    block_found,
    upstream_failover,
    worker_offline,
)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """An HTTP server that records every POST; /fail answers 500."""
    seen: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append({"path": request.path, "headers": dict(request.headers), "body": body})
        if request.path.endswith("/fail"):
            return web.Response(status=500)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_webhook_and_ntfy(receiver: tuple[str, list[dict[str, Any]]]) -> None:
    base, seen = receiver
    notifier = Notifier([WebhookTarget(base + "/hook"), NtfyTarget(base, "mining")])
    await notifier.send(block_found(101, "00ab", "alice.rig1", "bcrt1qxyz"))
    await notifier.close()
    assert notifier.sent == 2 and notifier.failures == 0
    hook = next(r for r in seen if r["path"] == "/hook")
    body = json.loads(hook["body"])
    assert body["event"] == "block_found"
    assert body["data"] == {
        "height": 101,
        "hash": "00ab",
        "worker": "alice.rig1",
        "payee": "bcrt1qxyz",
    }
    assert hook["headers"]["Content-Type"].startswith("application/json")
    ntfy = next(r for r in seen if r["path"] == "/mining")
    assert ntfy["headers"]["Title"] == "Block found at height 101"
    assert ntfy["headers"]["Tags"] == "tada,bitcoin"
    assert b"00ab" in ntfy["body"] and b"alice.rig1" in ntfy["body"]


async def test_failures_are_counted_not_raised(receiver: tuple[str, list[dict[str, Any]]]) -> None:
    base, seen = receiver
    notifier = Notifier([WebhookTarget(base + "/fail"), WebhookTarget("http://127.0.0.1:1/x")])
    notifier.notify(worker_offline("bob.w2", 620))
    await notifier.close()
    assert notifier.failures == 2 and notifier.sent == 0
    assert [r["path"] for r in seen] == ["/fail"]


async def test_event_filter_and_settings(receiver: tuple[str, list[dict[str, Any]]]) -> None:
    base, seen = receiver
    settings = NotifySettings(
        webhooks=[base + "/a"], ntfy_url=base, ntfy_topics=["t"], events=["upstream_failover"]
    )
    notifier = Notifier.from_settings(settings)
    notifier.notify(best_difficulty("w", 10.0, 2.0))  # filtered out
    notifier.notify(upstream_failover("pool-a:3333", "pool-b:3333", "connection refused"))
    await notifier.close()
    assert sorted(r["path"] for r in seen) == ["/a", "/t"]
    assert json.loads(next(r for r in seen if r["path"] == "/a")["body"])["event"] == (
        "upstream_failover"
    )
