"""`sv2 miner` (subprocess, by its flags) against `sv2 pool` on our TP and the regtest node:
the blocks it finds are accepted by the kernel (the node's block count rises)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stratumv2.roles.regtest_node.testing import REGTEST_ADDRESS, running_node

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "miner_args",
    [
        ["--channel", "standard", "--workers", "2"],
        ["--channel", "extended", "--workers", "1"],
        ["--channel", "standard", "--requires-standard-jobs"],
    ],
    ids=["standard-group-jobs", "extended", "standard-jobs"],
)
async def test_sv2_miner_finds_blocks(tmp_path: Path, stack: Any, miner_args: list[str]) -> None:
    """The whole stack as separate processes: `sv2 tp`, `sv2 pool`, `sv2 miner`."""
    async with running_node(tmp_path / "node") as node, node.rpc() as rpc:
        await rpc.call("generatetoaddress", 1, node.address)
        start_height = await rpc.getblockcount()
        async with stack.tp_process(node.url, node.cookie_path, tmp_path / "tp") as tp:
            pool_args = [
                "--network", "regtest",
                "--listen", "127.0.0.1:0",
                "--tp", f"127.0.0.1:{tp.port}",
                "--tp-authority-key", tp.authority_key,
                "--address", REGTEST_ADDRESS,
                "--mode", "solo",
                "--share-batch-size", "1",
            ]  # fmt: skip
            async with stack.pool(pool_args, tmp_path / "pool") as (key, port):
                miner_flags = [
                    "--upstream", f"127.0.0.1:{port}",
                    "--upstream-authority-key", key,
                    "--user", "rig1",
                    "--max-shares", "3",
                    "--duration", "25",
                    "--status-interval", "1",
                ]  # fmt: skip
                code, log = await stack.miner(miner_flags + miner_args)
                assert code == 0, log[-3000:]
                assert "block candidate" in log and "shares accepted" in log
                assert "status:" in log and "rejected 0" in log.splitlines()[-1], log[-2000:]
                height = await rpc.getblockcount()
                assert height >= start_height + 3, log[-3000:]


async def test_wrong_authority_key_is_refused(tmp_path: Path, stack: Any) -> None:
    async with running_node(tmp_path / "node") as node, node.rpc() as rpc:
        await rpc.call("generatetoaddress", 1, node.address)
        async with stack.tp(node.url, node.cookie_path, tmp_path / "tp") as tp:
            pool_args = [
                "--network", "regtest", "--listen", "127.0.0.1:0",
                "--tp", f"127.0.0.1:{tp.port}", "--tp-authority-key", tp.authority_key,
                "--address", REGTEST_ADDRESS, "--mode", "solo",
            ]  # fmt: skip
            async with stack.pool(pool_args, tmp_path / "pool") as (_key, port):
                other = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72"
                code, log = await stack.miner(
                    ["--upstream", f"127.0.0.1:{port}", "--upstream-authority-key", other,
                     "--max-shares", "1", "--duration", "4"]
                )  # fmt: skip
                assert code == 1
                assert "connect to" in log and "failed" in log


@pytest.mark.parametrize("rolling", [True, False], ids=["version-rolling", "fixed-version"])
async def test_sv1_miner_through_translator_finds_blocks(
    tmp_path: Path, stack: Any, rolling: bool
) -> None:
    async with running_node(tmp_path / "node") as node, node.rpc() as rpc:
        await rpc.call("generatetoaddress", 1, node.address)
        start_height = await rpc.getblockcount()
        async with stack.tp(node.url, node.cookie_path, tmp_path / "tp") as tp:
            pool_args = [
                "--network", "regtest", "--listen", "127.0.0.1:0",
                "--tp", f"127.0.0.1:{tp.port}", "--tp-authority-key", tp.authority_key,
                "--address", REGTEST_ADDRESS, "--mode", "solo", "--share-batch-size", "1",
            ]  # fmt: skip
            async with (
                stack.pool(pool_args, tmp_path / "pool") as (key, port),
                stack.translator(port, key) as sv1_port,
            ):
                flags = [
                    "--sv1", "--upstream", f"127.0.0.1:{sv1_port}", "--user", "rig9",
                    "--max-shares", "3", "--duration", "30", "--status-interval", "1",
                ]  # fmt: skip
                if not rolling:
                    flags.append("--no-version-rolling")
                code, log = await stack.miner(flags)
                assert code == 0, log[-3000:]
                assert "block candidate" in log and "rejected 0" in log.splitlines()[-1], log
                assert await rpc.getblockcount() >= start_height + 3, log[-3000:]
