"""SV1 devices mine regtest blocks the kernel accepts, through `sv2 translator` (started by its
flags) to `sv2 pool`; the pool is killed and restarted and the devices resume. And the pool's
device port serving SV1 (embedded translator, in-process pipe) and SV2 at once."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from stratumv2.app.commands.pool import build_service, load_authority
from stratumv2.app.config import load_config
from stratumv2.app.store import AsyncStore
from stratumv2.bitcoin.address import address_to_script
from stratumv2.roles.pool.settings import PoolSettings
from stratumv2.roles.regtest_node.testing import REGTEST_ADDRESS, running_node
from stratumv2.roles.translator.core import TranslatorConfig, TranslatorCore
from stratumv2.roles.translator.service import start_embedded

pytestmark = pytest.mark.slow


async def _count(rpc: Any) -> int:
    return int(await rpc.call("getblockcount"))


async def _wait_block(rpc: Any, before: int, timeout: float = 15.0) -> dict[str, Any]:
    for _ in range(int(timeout / 0.05)):
        if await _count(rpc) > before:
            break
        await asyncio.sleep(0.05)
    assert await _count(rpc) > before, "the kernel did not take the block"
    best = await rpc.call("getbestblockhash")
    block: dict[str, Any] = await rpc.call("getblock", best, 2)
    return block


async def _on_tip(device: Any, rpc: Any) -> None:
    """Wait until the device's newest job builds on the node's best block."""
    best = await rpc.call("getbestblockhash")

    def on_tip() -> bool:
        job = device.jobs.get(device.last_job)
        return job is not None and job.prev_hash[::-1].hex() == best

    await device.wait_for(on_tip)


def _coinbase_pays(block: dict[str, Any], address: str) -> bool:
    script = address_to_script(address, "regtest").hex()
    coinbase = block["tx"][0]
    return any(out["scriptPubKey"].get("hex") == script for out in coinbase["vout"])


async def test_sv1_devices_mine_blocks_and_survive_pool_restart(
    tmp_path: Path, tp_runner: Any, process_runner: Any, device_class: Any, helpers: Any
) -> None:
    async with running_node(tmp_path / "node") as node, node.rpc() as rpc:
        await rpc.call("generatetoaddress", 1, node.address)
        async with tp_runner(node.url, node.cookie_path, tmp_path / "tp") as tp:
            sv2_port, listen_port = helpers["free_port"](), helpers["free_port"]()
            args = [*helpers["pool_args"](tp, REGTEST_ADDRESS, sv2_port, listen_port)]
            args += ["--datadir", str(tmp_path / "pool")]
            pool_cm = process_runner(args, "Pool authority key:", 3)
            _pool, pool_lines = await pool_cm.__aenter__()
            key = pool_lines[0].split(":", 1)[1].strip()
            translator_args = [
                "translator", "--network", "regtest",
                "--listen", "127.0.0.1:0",
                "--upstream", f"127.0.0.1:{sv2_port}",
                "--upstream-authority-key", key,
                "--datadir", str(tmp_path / "translator"),
            ]  # fmt: skip
            try:
                async with process_runner(translator_args, "Translator listening on") as (
                    _tr,
                    lines,
                ):
                    port = int(lines[0].rsplit(":", 1)[1])
                    devices = []
                    for kind in helpers["kinds"]:
                        device = device_class(kind, f"{kind}.rig")
                        await device.connect(port)
                        await device.handshake()
                        devices.append(device)
                        await _on_tip(device, rpc)
                        before = await _count(rpc)
                        answer = await device.mine_share()
                        assert answer["result"] is True, (kind, answer)
                        block = await _wait_block(rpc, before)
                        assert _coinbase_pays(block, REGTEST_ADDRESS), block["tx"][0]
                        if kind != "cpuminer":  # the rolled version reached the chain
                            assert block["version"] & 0x1FFFE000, hex(block["version"])
                    # the other devices are unaffected by a bad one
                    bad = device_class("cpuminer", "bad")
                    await bad.connect(port)
                    assert bad.writer is not None
                    bad.writer.write(b'{"id": 1, "method": "mining.submit", "params": []}\n')
                    bad.writer.write(b"{not json\n")
                    await bad.wait_for(lambda: len(bad.lines) >= 2)
                    assert bad.lines[0]["error"][0] == 25
                    assert bad.lines[1]["error"][0] == 20
                    bad.writer.write(b"{" + b" " * 20000 + b"\n")  # over the line limit
                    await asyncio.wait_for(bad.closed.wait(), 10)
                    await bad.close()
                    # kill the pool: every device is told to reconnect and is closed
                    await pool_cm.__aexit__(None, None, None)
                    for device in devices:
                        await asyncio.wait_for(device.closed.wait(), 15)
                        assert any(m.get("method") == "client.reconnect" for m in device.lines)
                    # the devices reconnect (ESP-Miner retries after 1 s) and wait for work
                    for device in devices:
                        await device.close()
                        await device.connect(port)
                    restart = [a for a in args]
                    pool_cm = process_runner(restart, "Pool authority key:", 3)
                    await pool_cm.__aenter__()
                    for device in devices:
                        await device.handshake()
                        await _on_tip(device, rpc)
                        before = await _count(rpc)
                        answer = await device.mine_share()
                        assert answer["result"] is True, (device.kind, answer)
                        await _wait_block(rpc, before)
                    for device in devices:
                        await device.close()
            finally:
                await pool_cm.__aexit__(None, None, None)


async def test_pool_device_port_serves_sv1_and_sv2(
    tmp_path: Path, tp_runner: Any, device_class: Any
) -> None:
    """The pool's --listen port: SV2 to the pool, SV1 to an embedded translator whose
    upstream is the pool itself over an in-memory pipe (same frames, no socket)."""
    async with running_node(tmp_path / "node") as node, node.rpc() as rpc:
        await rpc.call("generatetoaddress", 1, node.address)
        async with tp_runner(node.url, node.cookie_path, tmp_path / "tp") as tp:
            settings = load_config(
                PoolSettings,
                None,
                {
                    "network": "regtest",
                    "listen": "127.0.0.1:0",
                    "sv2_listen": "",
                    "tp": f"127.0.0.1:{tp.port}",
                    "tp_authority_key": tp.authority_key,
                    "address": REGTEST_ADDRESS,
                    "share_batch_size": 1,
                    "datadir": str(tmp_path / "pool"),
                },
            )
            authority = load_authority(tmp_path / "pool", None)
            store = await AsyncStore(tmp_path / "pool" / "pool.sqlite").open()
            pool = build_service(settings, authority, store)
            translator = None
            try:
                bound = await pool.start(None, ("127.0.0.1", 0))
                port = bound[0][1]
                translator = await start_embedded(
                    pool.server.connect_in_memory, TranslatorCore(TranslatorConfig())
                )
                pool.sv1_handler = translator.serve_transport
                await asyncio.wait_for(pool.ready.wait(), 20)
                sv1 = device_class("esp-v2.9", "alice.bitaxe")
                await sv1.connect(port)
                sv2_miner = await asyncio.create_subprocess_exec(
                    str(Path(sys.executable).with_name("sv2")), "miner",
                    "--upstream", f"127.0.0.1:{port}",
                    "--upstream-authority-key", pool.authority_public_key,
                    "--max-shares", "1", "--duration", "60",
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
                await sv1.handshake()
                await _on_tip(sv1, rpc)
                before = await _count(rpc)
                answer = await sv1.mine_share()
                assert answer["result"] is True, answer
                block = await _wait_block(rpc, before)
                assert _coinbase_pays(block, REGTEST_ADDRESS)
                _, err = await asyncio.wait_for(sv2_miner.communicate(), 90)
                assert sv2_miner.returncode == 0, err.decode()[-2000:]
                stats = translator.stats()
                assert stats["blocks_found"] >= 1
                assert stats["upstream"]["bytes_out"] > 0
                await sv1.close()
            finally:
                if translator is not None:
                    await translator.close()
                await pool.close()
                await store.close()


def _version_bit_in_mask(gbt: Mapping[str, Any]) -> Mapping[str, Any]:
    """Templates at version 0x30000000 (bit 28 inside the rolling mask), as Bitcoin Core's
    regtest gives at heights 144-431: an OR-rebuilt header differs from the device's."""
    return {**gbt, "version": 0x30000000}


async def test_aggregated_devices_mine_blocks(
    tmp_path: Path, tp_runner: Any, process_runner: Any, device_class: Any, helpers: Any
) -> None:
    """`sv2 translator --aggregate`: two devices on one channel, each its own extranonce;
    the job version has a bit inside the mask and the kernel takes the rolled blocks."""
    async with running_node(tmp_path / "node") as node, node.rpc() as rpc:
        await rpc.call("generatetoaddress", 1, node.address)
        tp_dir = tmp_path / "tp"
        async with tp_runner(node.url, node.cookie_path, tp_dir, policy=_version_bit_in_mask) as tp:
            sv2_port, listen_port = helpers["free_port"](), helpers["free_port"]()
            args = [*helpers["pool_args"](tp, REGTEST_ADDRESS, sv2_port, listen_port)]
            args += ["--datadir", str(tmp_path / "pool")]
            async with process_runner(args, "Pool authority key:", 3) as (_pool, pool_lines):
                key = pool_lines[0].split(":", 1)[1].strip()
                translator_args = [
                    "translator", "--network", "regtest", "--aggregate",
                    "--user-identity", "farm",
                    "--listen", "127.0.0.1:0",
                    "--upstream", f"127.0.0.1:{sv2_port}",
                    "--upstream-authority-key", key,
                ]  # fmt: skip
                async with process_runner(translator_args, "Translator listening on") as (
                    _tr,
                    lines,
                ):
                    port = int(lines[0].rsplit(":", 1)[1])
                    devices = [device_class("esp-v2.9", f"rig{i}") for i in range(2)]
                    for device in devices:
                        await device.connect(port)
                        await device.handshake()
                    assert devices[0].extranonce1 != devices[1].extranonce1
                    assert len(devices[0].extranonce1) == len(devices[1].extranonce1)
                    for device in devices:
                        await _on_tip(device, rpc)
                        assert device.jobs[device.last_job].version == 0x30000000
                        before = await _count(rpc)
                        answer = await device.mine_share()
                        assert answer["result"] is True, answer
                        block = await _wait_block(rpc, before)
                        assert _coinbase_pays(block, REGTEST_ADDRESS)
                        assert block["version"] & 0x10000000, hex(block["version"])
                    for device in devices:
                        await device.close()
