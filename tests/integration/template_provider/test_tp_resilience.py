"""The TP when the node is down, restarts, or answers garbage: logs, retries, no lost block."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from stratumv2.protocol import NewTemplate, SetNewPrevHashTd
from stratumv2.roles.regtest_node.service import NodeConfig, RegtestNode
from stratumv2.roles.template_provider.client import TemplateDistributionClient

pytestmark = pytest.mark.slow


async def _next(client: TemplateDistributionClient, kind: type, timeout: float = 5.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        event = await client.next_event(timeout=max(0.0, deadline - loop.time()))
        if isinstance(event, kind):
            return event


@asynccontextmanager
async def node_on(datadir: Path, port: int) -> AsyncIterator[RegtestNode]:
    node = RegtestNode(NodeConfig(datadir=datadir, rpcport=port))
    await node.start()
    try:
        yield node
    finally:
        await node.stop()


async def _wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_node_down_at_start_then_up(
    tmp_path: Path,
    tp_factory: Any,
    port_factory: Callable[[], int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    port = port_factory()
    url = f"http://127.0.0.1:{port}"
    cookie = tmp_path / "node" / "regtest" / ".cookie"
    async with tp_factory(url, cookie, tmp_path / "tp") as tp:  # noqa: SIM117
        async with TemplateDistributionClient(tp.address, tp.authority_key) as client:
            await client.wait_connected(2)
            await asyncio.sleep(0.5)
            # No cookie yet (the node writes it when it starts), then the node comes up.
            assert f"cannot authenticate to the node at {url}" in caplog.text
            assert "--rpccookiefile" in caplog.text
            assert not tp.service.first_template.is_set()
            async with node_on(tmp_path / "node", port):
                nt = await _next(client, NewTemplate, timeout=5)
                assert nt.future_template
                await _next(client, SetNewPrevHashTd)
                await _wait_for(lambda: "is reachable again" in caplog.text)


async def test_node_restart_with_pending_solution(
    tmp_path: Path,
    tp_factory: Any,
    port_factory: Callable[[], int],
    solver: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    port = port_factory()
    datadir = tmp_path / "node"
    url = f"http://127.0.0.1:{port}"
    cookie = datadir / "regtest" / ".cookie"
    async with tp_factory(url, cookie, tmp_path / "tp") as tp:  # noqa: SIM117
        async with TemplateDistributionClient(tp.address, tp.authority_key) as client:
            async with node_on(datadir, port) as node:
                await node.generate(5, b"\x51")
                nt = await _next(client, NewTemplate)
                while True:  # the latest tip's template
                    prev = await _next(client, SetNewPrevHashTd)
                    if prev.prev_hash == node.chain.tip.hash:
                        break
                nt = client.templates[prev.template_id]
            # The node is down when the block is found.
            solution, block_hash = solver(nt, prev)
            await client.submit_solution(solution)
            saved = tp.datadir / "blocks" / f"{block_hash}.hex"
            await _wait_for(saved.exists)
            await _wait_for(lambda: f"submitblock {block_hash}: node unreachable" in caplog.text)
            assert tp.service.submitted.empty()
            # Back up: the retry lands the block.
            async with node_on(datadir, port) as node:
                hash_hex, result = await asyncio.wait_for(tp.service.submitted.get(), 10)
                assert (hash_hex, result) == (block_hash, None)
                assert node.chain.tip.hash[::-1].hex() == block_hash
                # The TP keeps serving after the restart: the new tip reaches the client.
                tip = bytes.fromhex(block_hash)[::-1]
                while (await _next(client, SetNewPrevHashTd, timeout=10)).prev_hash != tip:
                    pass
                assert client.connected
    assert (tp.datadir / "blocks" / f"{block_hash}.result").read_text() == "accepted\n"


async def test_saved_block_resubmitted_at_start(
    tmp_path: Path,
    tp_factory: Any,
    port_factory: Callable[[], int],
    solver: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    port = port_factory()
    datadir = tmp_path / "node"
    url = f"http://127.0.0.1:{port}"
    cookie = datadir / "regtest" / ".cookie"
    async with node_on(datadir, port), tp_factory(url, cookie, tmp_path / "tp") as tp:  # noqa: SIM117
        async with TemplateDistributionClient(tp.address, tp.authority_key) as client:
            nt = await _next(client, NewTemplate)
            prev = await _next(client, SetNewPrevHashTd)
    # Node and TP both down; the block was saved but never answered (e.g. a crash).
    solution, block_hash = solver(nt, prev)
    block = tp.service.core.solve(solution)
    assert block.hash_hex == block_hash
    tp.service.store.save(block.hash_hex, block.raw.hex())  # type: ignore[union-attr]
    async with node_on(datadir, port) as node, tp_factory(url, cookie, tmp_path / "tp") as tp2:
        hash_hex, result = await asyncio.wait_for(tp2.service.submitted.get(), 10)
        assert (hash_hex, result) == (block_hash, None)
        assert node.chain.tip.hash[::-1].hex() == block_hash
    assert f"resubmitting saved block {block_hash}" in caplog.text


async def test_malformed_rpc_replies_and_initial_download(
    tmp_path: Path, tp_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A fake HTTP server (this test only) answering garbage: logged, retried, no crash."""
    caplog.set_level(logging.INFO)
    replies = [
        web.Response(text="<html>bad gateway</html>", status=502),
        web.Response(text='{"result": {"height": "tall"}, "error": null, "id": 1}'),
        web.Response(text='{"result": [1, 2, 3], "error": null, "id": 1}'),
        web.Response(
            text=json.dumps(
                {
                    "result": None,
                    "error": {"code": -10, "message": "Bitcoin is downloading blocks..."},
                    "id": 1,
                }
            )
        ),
        web.Response(text="\x00\xff garbage"),
    ]
    served = 0
    infos = 0

    async def handle(request: web.Request) -> web.Response:
        nonlocal served, infos
        body = await request.json()
        if body["method"] == "getblockchaininfo":
            infos += 1
            syncing = infos <= 2
            info = {
                "chain": "main",
                "initialblockdownload": syncing,
                "blocks": 800_000,
                "headers": 900_000,
                "verificationprogress": 0.75,
            }
            return web.json_response({"result": info, "error": None, "id": body["id"]})
        reply = replies[served % len(replies)]
        served += 1
        return web.Response(text=reply.text, status=reply.status)

    app = web.Application()
    app.router.add_post("/", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    cookie = tmp_path / ".cookie"
    cookie.write_text("__cookie__:secret")
    url = f"http://127.0.0.1:{port}"
    try:
        async with tp_factory(url, cookie, tmp_path / "tp") as tp:  # noqa: SIM117
            async with TemplateDistributionClient(tp.address, tp.authority_key) as client:
                await client.wait_connected(2)
                await _wait_for(lambda: served > len(replies), timeout=15)
                assert not tp.service.first_template.is_set()
                assert client.connected
    finally:
        await runner.cleanup()
    text = caplog.text
    assert "answered something that is not JSON-RPC: " in text
    assert "HTTP 502, not JSON: '<html>bad gateway</html>'" in text
    assert "sent an unusable template: getblocktemplate 'height' has the wrong type" in text
    assert "sent an unusable template: getblocktemplate reply is not an object" in text
    assert "is in initial block download, waiting" in text  # bitcoind's -10 error
    assert "in initial block download (block 800000 of 900000, 75.0%)" in text
    assert "Traceback" not in text


async def test_silent_zmq_is_reported_and_polling_still_works(
    tmp_path: Path,
    tp_factory: Any,
    port_factory: Callable[[], int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    zmq = f"tcp://127.0.0.1:{port_factory()}"  # nothing publishes there
    async with (
        node_on(tmp_path / "node", port_factory()) as node,
        tp_factory(node.url, node.cookie_path, tmp_path / "tp", zmq=zmq) as tp,
        TemplateDistributionClient(tp.address, tp.authority_key) as client,
    ):
        await _next(client, SetNewPrevHashTd)
        for _ in range(2):
            [block] = await node.generate(1, b"\x51")
            while (await _next(client, SetNewPrevHashTd, timeout=5)).prev_hash != block:
                pass
    assert f"not announced on ZMQ {zmq}" in caplog.text


async def test_quiet_node_long_polls_without_complaint(
    tmp_path: Path,
    tp_factory: Any,
    port_factory: Callable[[], int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with (
        node_on(tmp_path / "node", port_factory()) as node,
        tp_factory(node.url, node.cookie_path, tmp_path / "tp", longpoll_timeout=0.2) as tp,
        TemplateDistributionClient(tp.address, tp.authority_key) as client,
    ):
        await _next(client, SetNewPrevHashTd)
        applied = tp.service.templates_applied
        await asyncio.sleep(1.5)  # several long polls and a refresh end with nothing new...
        assert tp.service.templates_applied == applied  # ...and are not even parsed
        [block] = await node.generate(1, b"\x51")
        while (await _next(client, SetNewPrevHashTd)).prev_hash != block:
            pass
    complaints = [r for r in caplog.records if r.name == "stratumv2.tp" and r.levelno >= 30]
    assert complaints == []
