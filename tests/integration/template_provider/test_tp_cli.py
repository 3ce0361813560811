"""`sv2 tp` started by its flags in a subprocess, followed by our TD client."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

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


async def test_sv2_tp_command(tmp_path: Path, port_factory: Callable[[], int]) -> None:
    port = port_factory()
    datadir = tmp_path / "tp"
    async with running_node(tmp_path / "node") as node:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from stratumv2.app.cli import main; main()",
            "tp",
            "--network", "regtest",
            "--rpcurl", node.url,
            "--rpccookiefile", str(node.cookie_path),
            "--listen", f"127.0.0.1:{port}",
            "--datadir", str(datadir),
            "--min-interval", "1",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
            prefix = "Template Provider authority key: "
            assert line.decode().startswith(prefix), line
            key = line.decode()[len(prefix) :].strip()
            assert (datadir / "authority.pub").read_text().strip() == key
            client = TemplateDistributionClient(("127.0.0.1", port), key)
            async with client:
                nt = await _next(client, NewTemplate, timeout=10)
                assert nt.future_template
                await _next(client, SetNewPrevHashTd)
                async with node.rpc() as rpc:
                    [block_hash] = await rpc.call("generatetoaddress", 1, node.address)
                prev = await _next(client, SetNewPrevHashTd)
                assert prev.prev_hash[::-1].hex() == block_hash
        finally:
            proc.send_signal(signal.SIGINT)
            _, stderr = await asyncio.wait_for(proc.communicate(), 20)
    assert "connected as TD client" in stderr.decode()
    assert "Traceback" not in stderr.decode()
