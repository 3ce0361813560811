"""The TP on the embedded regtest node, over loopback Noise: latency, solutions, tx data."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stratumv2.bitcoin.tx import Transaction
from stratumv2.protocol import NewTemplate, SetNewPrevHashTd
from stratumv2.roles.regtest_node.testing import running_node
from stratumv2.roles.template_provider.client import TemplateDistributionClient
from stratumv2.roles.template_provider.core import ClientConstraints

pytestmark = pytest.mark.slow


async def _next(client: TemplateDistributionClient, kind: type, timeout: float = 5.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        event = await client.next_event(timeout=max(0.0, deadline - loop.time()))
        if isinstance(event, kind):
            return event


@pytest.mark.parametrize("mode", ["longpoll", "zmq"])
async def test_templates_arrive_fast(
    tmp_path: Path, tp_factory: Any, port_factory: Callable[[], int], mode: str
) -> None:
    zmq = f"tcp://127.0.0.1:{port_factory()}" if mode == "zmq" else None
    async with (
        running_node(tmp_path / "node", zmq=zmq) as node,
        tp_factory(node.url, node.cookie_path, tmp_path / "tp", zmq=zmq) as tp,
    ):
        await asyncio.wait_for(tp.service.first_template.wait(), 5)
        started = time.perf_counter()
        client = TemplateDistributionClient(
            tp.address, tp.authority_key, constraints=ClientConstraints(40, 4)
        )
        async with client:
            nt = await _next(client, NewTemplate)
            prev = await _next(client, SetNewPrevHashTd)
            assert time.perf_counter() - started < 1.0
            assert nt.future_template and prev.template_id == nt.template_id
            accepted: dict[bytes, float] = {}  # block hash -> when the node made it its tip
            chain = node.node.chain
            chain.add_listener(lambda *_: accepted.setdefault(chain.tip.hash, time.perf_counter()))
            async with node.rpc() as rpc:
                await asyncio.sleep(0.2)  # let the long poll be in place
                for _ in range(3):
                    [block_hash] = await rpc.call("generatetoaddress", 1, node.address)
                    nt2 = await _next(client, NewTemplate)
                    prev2 = await _next(client, SetNewPrevHashTd)
                    elapsed = time.perf_counter() - accepted[prev2.prev_hash]
                    assert elapsed < 0.2, f"{mode}: {elapsed * 1000:.0f} ms"
                    assert nt2.future_template
                    assert prev2.template_id == nt2.template_id
                    assert prev2.prev_hash[::-1].hex() == block_hash


async def test_solution_becomes_accepted_block(
    tmp_path: Path, tp_factory: Any, solver: Callable[..., Any]
) -> None:
    async with running_node(tmp_path / "node", tx_rate=50) as node, node.rpc() as rpc:
        await rpc.call("generatetoaddress", 101, node.address)
        await asyncio.sleep(0.5)  # the generator fills the mempool
        async with (
            tp_factory(node.url, node.cookie_path, tmp_path / "tp") as tp,
            TemplateDistributionClient(tp.address, tp.authority_key) as client,
        ):
            nt = await _next(client, NewTemplate)
            prev = await _next(client, SetNewPrevHashTd)
            assert nt.merkle_path, "the generator's transactions are in the template"
            data = await client.request_transaction_data(nt.template_id)
            assert data.excess_data == b"\x00" * 32
            mempool = set(await rpc.getrawmempool())
            txids = [Transaction.parse(raw).txid[::-1].hex() for raw in data.transaction_list]
            assert txids and set(txids) <= mempool
            solution, block_hash = solver(nt, prev, extranonce=b"\x01" * 8)
            await client.submit_solution(solution)
            hash_hex, result = await asyncio.wait_for(tp.service.submitted.get(), 10)
            assert (hash_hex, result) == (block_hash, None)
            assert await rpc.getbestblockhash() == block_hash
            block = await rpc.call("getblock", block_hash, 1)
            assert len(block["tx"]) == len(txids) + 1
            saved = tp.datadir / "blocks" / f"{block_hash}.hex"
            assert saved.exists()
            assert (tp.datadir / "blocks" / f"{block_hash}.result").read_text() == "accepted\n"
            # The new tip reaches the client as a future template + prev hash.
            prev2 = await _next(client, SetNewPrevHashTd)
            assert prev2.prev_hash[::-1].hex() == block_hash


async def test_fee_rise_sends_non_future_template(tmp_path: Path, tp_factory: Any) -> None:
    async with running_node(tmp_path / "node", tx_rate=20) as node:
        async with node.rpc() as rpc:
            await rpc.call("generatetoaddress", 101, node.address)
        async with (
            tp_factory(
                node.url, node.cookie_path, tmp_path / "tp", fee_delta=1, min_interval=0.2
            ) as tp,
            TemplateDistributionClient(tp.address, tp.authority_key) as client,
        ):
            first = await _next(client, NewTemplate)
            update = await _next(client, NewTemplate, timeout=10)
            assert not update.future_template
            assert update.template_id > first.template_id
            assert update.coinbase_tx_value_remaining > first.coinbase_tx_value_remaining
        assert client.active_template == update


async def test_solution_flood_is_answered_in_order(
    tmp_path: Path, tp_factory: Any, solver: Callable[..., Any]
) -> None:
    """Thirty blocks for one template at once (regtest): one wins, all get an answer."""
    async with (
        running_node(tmp_path / "node") as node,
        tp_factory(node.url, node.cookie_path, tmp_path / "tp") as tp,
        TemplateDistributionClient(tp.address, tp.authority_key) as client,
    ):
        nt = await _next(client, NewTemplate)
        prev = await _next(client, SetNewPrevHashTd)
        found = [solver(nt, prev, extranonce=i.to_bytes(8, "little")) for i in range(30)]
        for solution, _ in found:
            await client.submit_solution(solution)
        answers = [await asyncio.wait_for(tp.service.submitted.get(), 20) for _ in found]
        assert [h for h, _ in answers] == [h for _, h in found]  # same height: found order
        assert answers[0][1] is None
        assert all(result == "inconclusive" for _, result in answers[1:])
        async with node.rpc() as rpc:
            assert await rpc.getbestblockhash() == found[0][1]
        assert len(list((tp.datadir / "blocks").glob("*.result"))) == 30


async def test_several_clients_over_loopback_noise(tmp_path: Path, tp_factory: Any) -> None:
    """Three TD clients at once (own constraints each): all served, all told of a new block."""
    async with (
        running_node(tmp_path / "node") as node,
        tp_factory(node.url, node.cookie_path, tmp_path / "tp") as tp,
    ):
        clients = [
            TemplateDistributionClient(
                tp.address, tp.authority_key, constraints=ClientConstraints(size, 4)
            )
            for size in (0, 40, 4000)
        ]
        for client in clients:
            client.start()
        try:
            firsts = []
            for client in clients:
                nt = await _next(client, NewTemplate)
                prev = await _next(client, SetNewPrevHashTd)
                assert nt.future_template and prev.template_id == nt.template_id
                firsts.append(prev)
            assert tp.service.client_count == 3
            async with node.rpc() as rpc:
                [block_hash] = await rpc.call("generatetoaddress", 1, node.address)
            for client, first in zip(clients, firsts, strict=True):
                prev2 = await _next(client, SetNewPrevHashTd)
                assert prev2.prev_hash[::-1].hex() == block_hash
                assert prev2.template_id > first.template_id
                assert client.active_template is not None
                assert client.active_template.template_id == prev2.template_id
        finally:
            for client in clients:
                await client.close()
