"""TD client <-> TP service over in-memory pipes carrying real frames (no node needed here)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stratumv2.bitcoin.tx import Transaction
from stratumv2.net.rpc import BitcoinRpc
from stratumv2.protocol import (
    NewTemplate,
    SetNewPrevHashTd,
    SetupConnection,
    SetupConnectionError,
    SubmitSolution,
)
from stratumv2.roles.template_provider.client import (
    TdConnected,
    TdDisconnected,
    TemplateDistributionClient,
    TransactionDataError,
)
from stratumv2.roles.template_provider.core import (
    ClientConstraints,
    coinbase_for_variant,
    parse_gbt,
)
from stratumv2.roles.template_provider.service import BlockStore, TemplateProviderService

GbtFactory = Callable[..., dict[str, Any]]
TxFactory = Callable[..., Transaction]
PipeFactory = Callable[[], tuple[Any, Any]]


class Harness:
    """A service (fed templates directly) and clients connected through in-memory pipes."""

    def __init__(self, pipes: PipeFactory, store: BlockStore | None = None) -> None:
        # Nothing listens on port 1: only solutions would call the node here.
        rpc = BitcoinRpc("http://127.0.0.1:1", user="u", password="p", timeout=0.2)
        self.service = TemplateProviderService(rpc, block_store=store)
        self.pipes = pipes
        self.server_ends: list[Any] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def connect(self) -> Any:
        client_end, server_end = self.pipes()
        self.server_ends.append(server_end)
        self.tasks.append(asyncio.create_task(self.service.serve_peer(server_end, "mem")))
        return client_end

    def feed(self, gbt: dict[str, Any]) -> None:
        self.service._apply(parse_gbt(gbt))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.service.rpc.close()


async def _next(client: TemplateDistributionClient, kind: type) -> Any:
    while True:
        event = await client.next_event(timeout=2.0)
        if isinstance(event, kind):
            return event


async def test_client_gets_template_and_prev_hash(
    pipe_factory: PipeFactory, gbt_factory: GbtFactory, tx_factory: TxFactory
) -> None:
    h = Harness(pipe_factory)
    txs = [tx_factory(i) for i in range(3)]
    h.feed(gbt_factory(txs))
    client = TemplateDistributionClient(connect=h.connect, constraints=ClientConstraints(40, 4))
    async with client:
        assert isinstance(await client.next_event(2.0), TdConnected)
        nt = await client.next_event(2.0)
        snph = await client.next_event(2.0)
        assert isinstance(nt, NewTemplate) and nt.future_template
        assert isinstance(snph, SetNewPrevHashTd) and snph.template_id == nt.template_id
        assert client.templates[nt.template_id] == nt
        assert client.active_template == nt and client.prev_hash == snph
        data = await client.request_transaction_data(nt.template_id)
        assert data.transaction_list == tuple(t.serialize() for t in txs)
        with pytest.raises(TransactionDataError) as info:
            await client.request_transaction_data(999)
        assert info.value.error_code == "template-id-not-found"
        # New tip: a future template then its prev hash.
        h.feed(gbt_factory([], height=103, prev=b"\x22" * 32))
        nt2 = await client.next_event(2.0)
        snph2 = await client.next_event(2.0)
        assert isinstance(nt2, NewTemplate) and nt2.future_template
        assert nt2.template_id > nt.template_id
        assert isinstance(snph2, SetNewPrevHashTd) and snph2.prev_hash == b"\x22" * 32
        assert client.active_template == nt2
        with pytest.raises(TransactionDataError) as info:
            await client.request_transaction_data(nt.template_id)
        assert info.value.error_code == "stale-template-id"
    await h.stop()


async def test_several_clients_and_constraints(
    pipe_factory: PipeFactory, gbt_factory: GbtFactory, tx_factory: TxFactory
) -> None:
    h = Harness(pipe_factory)
    h.feed(gbt_factory([tx_factory(1)]))
    clients = [TemplateDistributionClient(connect=h.connect) for _ in range(5)]
    for c in clients:
        c.start()
    firsts = [await _next(c, NewTemplate) for c in clients]
    assert len({nt.template_id for nt in firsts}) == 1  # same constraints share a template
    assert h.service.client_count == 5
    await clients[0].set_constraints(ClientConstraints(100, 10))
    again = await _next(clients[0], NewTemplate)
    assert again.template_id > firsts[0].template_id
    for c in clients:
        await c.close()
    await h.stop()


async def test_server_refuses_other_protocols(pipe_factory: PipeFactory) -> None:
    h = Harness(pipe_factory)
    peer = await h.connect()
    await peer.send(
        SetupConnection(
            protocol=0,
            min_version=2,
            max_version=2,
            flags=0,
            endpoint_host="x",
            endpoint_port=1,
            vendor="v",
            hardware_version="",
            firmware="",
            device_id="",
        )
    )
    reply = await peer.recv()
    assert isinstance(reply, SetupConnectionError)
    assert reply.error_code == "unsupported-protocol"
    await h.stop()


async def test_client_reconnects_and_resends_solution(
    pipe_factory: PipeFactory,
    gbt_factory: GbtFactory,
    tx_factory: TxFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    store = BlockStore(tmp_path / "blocks")
    h = Harness(pipe_factory, store)
    h.feed(gbt_factory([tx_factory(1)]))
    attempts = 0

    async def flaky_connect() -> Any:
        nonlocal attempts
        attempts += 1
        if attempts == 2:
            raise ConnectionRefusedError("TP restarting")
        return await h.connect()

    client = TemplateDistributionClient(connect=flaky_connect, backoff_initial=0.01)
    async with client:
        nt = await _next(client, NewTemplate)
        # The TP drops the connection: the client notices, retries, comes back.
        h.server_ends[0].close()
        assert isinstance(await _next(client, TdDisconnected), TdDisconnected)
        variant = h.service.core.variant(nt.template_id)
        coinbase = coinbase_for_variant(variant, b"\x51", b"\x01\x02\x03\x04").serialize()
        solution = SubmitSolution(
            template_id=nt.template_id,
            version=nt.version,
            header_timestamp=1_700_000_000,
            header_nonce=7,
            coinbase_tx=coinbase,
        )
        await client.submit_solution(solution)  # while disconnected: kept
        assert isinstance(await _next(client, TdConnected), TdConnected)
        assert isinstance(await _next(client, NewTemplate), NewTemplate)
        for _ in range(100):
            if list((tmp_path / "blocks").glob("*.hex")):
                break
            await asyncio.sleep(0.01)
        [saved] = list((tmp_path / "blocks").glob("*.hex"))
        block_hex = saved.read_text()
        assert coinbase.hex() in block_hex
        # The node is unreachable: the block stays pending, and the log says why.
        assert store.pending() == [(saved.stem, block_hex)]
    assert attempts >= 3
    assert "cannot reach Template Provider" in caplog.text
    await asyncio.sleep(0.3)
    assert "submitblock" in caplog.text and "unreachable" in caplog.text
    await h.stop()
    await h.service.stop_submissions()


async def test_restarted_tp_ids_start_over(
    pipe_factory: PipeFactory, gbt_factory: GbtFactory, tx_factory: TxFactory
) -> None:
    """Like sv2-tp after a restart: ids begin at 1 again; the client forgets the old ones."""
    first, second = Harness(pipe_factory), Harness(pipe_factory)
    first.feed(gbt_factory([tx_factory(1)]))
    second.feed(gbt_factory([tx_factory(1)], height=200, prev=b"\x33" * 32))
    current = first

    async def connect() -> Any:
        return await current.connect()

    client = TemplateDistributionClient(connect=connect, backoff_initial=0.01)
    async with client:
        assert (await _next(client, NewTemplate)).template_id == 1
        first.feed(gbt_factory([], height=103, prev=b"\x22" * 32))
        assert (await _next(client, NewTemplate)).template_id == 2
        current = second
        first.server_ends[0].close()
        await _next(client, TdDisconnected)
        await _next(client, TdConnected)
        nt2 = await _next(client, NewTemplate)
        prev2 = await _next(client, SetNewPrevHashTd)
        assert nt2.template_id == 1 and prev2.prev_hash == b"\x33" * 32
        assert client.templates == {1: nt2} and client.active_template == nt2
    await first.stop()
    await second.stop()
