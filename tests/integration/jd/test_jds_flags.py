"""`sv2 jds` started by its flags (a subprocess): a JD client gets a token carrying the
pool's coinbase output for `--address`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from stratumv2.bitcoin.address import address_to_script
from stratumv2.net.client import open_sv2_connection
from stratumv2.protocol import (
    AllocateMiningJobToken,
    AllocateMiningJobTokenSuccess,
    SetupConnection,
    SetupConnectionSuccess,
)
from stratumv2.roles.regtest_node.testing import REGTEST_ADDRESS, running_node

pytestmark = pytest.mark.slow


async def test_sv2_jds_by_its_flags(tmp_path: Path) -> None:
    async with running_node(tmp_path / "node") as node:
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("sv2")), "jds", "--network", "regtest",
            "--listen", "127.0.0.1:0", "--datadir", str(tmp_path / "jds"),
            "--address", REGTEST_ADDRESS, "--rpcurl", node.url,
            "--rpccookiefile", str(node.cookie_path), "--token-lifetime", "60",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            key = port = None
            seen: list[str] = []
            async with asyncio.timeout(30):
                while port is None:
                    line = (await proc.stdout.readline()).decode()
                    assert line, "sv2 jds exited:\n" + "".join(seen)
                    seen.append(line)
                    if line.startswith("JDS authority key:"):
                        key = line.split(":", 1)[1].strip()
                    elif line.startswith("JDS listening on"):
                        port = int(line.rsplit(":", 1)[1])
            assert key is not None
            assert (tmp_path / "jds" / "authority.pub").read_text().strip() == key
            async with open_sv2_connection("127.0.0.1", port, key) as conn:
                await conn.send(
                    SetupConnection(
                        protocol=1, min_version=2, max_version=2, flags=1, endpoint_host="",
                        endpoint_port=0, vendor="test", hardware_version="", firmware="",
                        device_id="",
                    )
                )  # fmt: skip
                assert isinstance(await asyncio.wait_for(conn.recv(), 10), SetupConnectionSuccess)
                await conn.send(AllocateMiningJobToken(user_identifier="me", request_id=7))
                token = await asyncio.wait_for(conn.recv(), 10)
            assert isinstance(token, AllocateMiningJobTokenSuccess) and token.request_id == 7
            script = address_to_script(REGTEST_ADDRESS, "regtest")
            assert script in token.coinbase_tx_outputs and token.mining_job_token
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 20)
