"""Fixtures: our TP on the embedded regtest node, and `sv2 pool` / `sv2 miner` subprocesses."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stratumv2.roles.template_provider.testing import running_tp as tp_on_node

SV2 = Path(sys.executable).with_name("sv2")


@dataclass
class Tp:
    port: int
    authority_key: str


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a role that does not print its port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def tp_subprocess(url: str, cookie: Path, datadir: Path) -> AsyncIterator[Tp]:
    """`sv2 tp` (subprocess, by its flags) on the node; yields its port and authority key."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        str(SV2), "tp", "--network", "regtest", "--datadir", str(datadir),
        "--listen", f"127.0.0.1:{port}", "--rpcurl", url, "--rpccookiefile", str(cookie),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        if "authority key" not in line:
            err = await proc.stderr.read() if proc.stderr else b""
            raise AssertionError(f"tp did not start: {line!r} {err.decode()[-2000:]}")
        yield Tp(port, line.split(":", 1)[1].strip())
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


@asynccontextmanager
async def pool_subprocess(args: list[str], datadir: Path) -> AsyncIterator[tuple[str, int]]:
    """`sv2 pool ARGS` with its SV2 port on 127.0.0.1:0; yields (authority key, port)."""
    proc = await asyncio.create_subprocess_exec(
        str(SV2), "pool", "--datadir", str(datadir), "--sv2-listen", "127.0.0.1:0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        if ":" not in first or "authority key" not in first:
            err = await proc.stderr.read() if proc.stderr else b""
            raise AssertionError(f"pool did not start: {first!r} {err.decode()[-2000:]}")
        key = first.split(":", 1)[1].strip()
        port_line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        yield key, int(port_line.rsplit(":", 1)[1])
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


@asynccontextmanager
async def translator_subprocess(pool_port: int, pool_key: str) -> AsyncIterator[int]:
    """`sv2 translator` on 127.0.0.1:0 in front of the pool; yields its SV1 port."""
    proc = await asyncio.create_subprocess_exec(
        str(SV2), "translator", "--listen", "127.0.0.1:0",
        "--upstream", f"127.0.0.1:{pool_port}", "--upstream-authority-key", pool_key,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        if "listening on" not in line:
            err = await proc.stderr.read() if proc.stderr else b""
            raise AssertionError(f"translator did not start: {line!r} {err.decode()[-2000:]}")
        yield int(line.rsplit(":", 1)[1])
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def run_miner(args: list[str], timeout: float = 120) -> tuple[int, str]:
    """`sv2 miner ARGS` to the end; (exit code, its log)."""
    proc = await asyncio.create_subprocess_exec(
        str(SV2), "miner", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


@pytest.fixture
def stack() -> Any:
    """The helpers above, for the tests (test files import nothing from conftest)."""
    return type(
        "Stack",
        (),
        {
            "tp": tp_on_node,
            "tp_process": tp_subprocess,
            "pool": pool_subprocess,
            "translator": translator_subprocess,
            "miner": run_miner,
        },
    )
