"""[policy] on real templates: excluding a parent drops its descendants, the block is valid."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stratumv2.app.cli import main
from stratumv2.app.commands.tp import PolicySettings, make_policy
from stratumv2.bitcoin.tx import Transaction
from stratumv2.protocol import NewTemplate, SetNewPrevHashTd
from stratumv2.roles.regtest_node.testing import running_node
from stratumv2.roles.template_provider.client import TemplateDistributionClient

pytestmark = pytest.mark.slow


async def _next(client: TemplateDistributionClient, kind: type, timeout: float = 5.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        event = await client.next_event(timeout=max(0.0, deadline - loop.time()))
        if isinstance(event, kind):
            return event


def _descendants(gbt: dict[str, Any], parent: int) -> set[str]:
    """txids of everything in the template that depends (transitively) on entry ``parent``."""
    txs = gbt["transactions"]
    out: set[int] = set()
    for i, tx in enumerate(txs):
        if any(d - 1 == parent or d - 1 in out for d in tx["depends"]):
            out.add(i)
    return {txs[i]["txid"] for i in out}


async def test_excluded_parent_takes_children_and_block_is_valid(
    tmp_path: Path, tp_factory: Any, solver: Callable[..., Any]
) -> None:
    async with running_node(tmp_path / "node", tx_rate=200) as node, node.rpc() as rpc:
        gbt: dict[str, Any] = {}
        parent = -1
        for _ in range(100):  # wait for the generator to make a chain
            await asyncio.sleep(0.1)
            gbt = await rpc.getblocktemplate()
            parents = [d - 1 for tx in gbt["transactions"] for d in tx["depends"]]
            if parents:
                parent = parents[0]
                break
        assert parent >= 0, "the generator made no chained transactions"
        parent_txid = gbt["transactions"][parent]["txid"]
        children = _descendants(gbt, parent)
        assert children
        settings = PolicySettings(excluded_txids=[parent_txid])
        # `sv2 tp --explain` names the exclusion and the descendants it took.
        result = await asyncio.to_thread(
            CliRunner().invoke,
            main,
            ["tp", "--network", "regtest", "--rpcurl", node.url,
             "--rpccookiefile", str(node.cookie_path), "--datadir", str(tmp_path / "x"),
             "--explain", "--config", str(_config(tmp_path, parent_txid))],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert f"{parent_txid}  excluded" in result.output
        assert f"ancestor-removed (after {parent_txid})" in result.output
        assert "After the policy" in result.output

        async with (
            tp_factory(node.url, node.cookie_path, tmp_path / "tp", policy=make_policy(settings))
            as tp,
            TemplateDistributionClient(tp.address, tp.authority_key) as client,
        ):  # fmt: skip
            nt = await _next(client, NewTemplate)
            prev = await _next(client, SetNewPrevHashTd)
            data = await client.request_transaction_data(nt.template_id)
            included = {Transaction.parse(raw).txid[::-1].hex() for raw in data.transaction_list}
            assert included
            assert parent_txid not in included
            assert not (children & included)
            solution, block_hash = solver(nt, prev)
            await client.submit_solution(solution)
            hash_hex, answer = await asyncio.wait_for(tp.service.submitted.get(), 10)
            assert (hash_hex, answer) == (block_hash, None)
            assert await rpc.getbestblockhash() == block_hash
            mempool = set(await rpc.getrawmempool())
            assert parent_txid in mempool  # still waiting for a block that wants it


def _config(tmp_path: Path, txid: str) -> Path:
    path = tmp_path / "tp.toml"
    path.write_text(f'[policy]\nexcluded_txids = ["{txid}"]\n')
    return path
