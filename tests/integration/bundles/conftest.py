"""Run ``sv2 demo`` / ``sv2 solo`` as subprocesses and follow their output."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

FREE_PORTS = [
    "--listen", "127.0.0.1:0", "--sv2-listen", "127.0.0.1:0", "--dashboard", "127.0.0.1:0",
]  # fmt: skip


class Sv2Process:
    """A running ``sv2`` sub-command whose stdout lines are kept and searched."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    async def wait_line(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first line (seen before or coming) matching ``pattern``."""
        regex = re.compile(pattern)
        for line in self.lines:
            if m := regex.search(line):
                return m
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    raise AssertionError(f"exited before {pattern!r}:\n" + "\n".join(self.lines))
                line = raw.decode(errors="replace").rstrip("\n")
                self.lines.append(line)
                if m := regex.search(line):
                    return m

    async def rest(self, timeout: float) -> int:
        """Read to the end; the exit status."""
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            async for raw in self.proc.stdout:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
            return await self.proc.wait()

    def port(self, name: str) -> int:
        for line in self.lines:
            if m := re.match(rf"listening: {name} port (\d+)", line):
                return int(m.group(1))
        raise AssertionError(f"no {name} port in output")


@asynccontextmanager
async def sv2(*args: str) -> AsyncIterator[Sv2Process]:
    exe = Path(sys.executable).with_name("sv2")
    proc = await asyncio.create_subprocess_exec(
        str(exe), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        yield Sv2Process(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.fixture
def run_sv2() -> Any:
    return sv2


@pytest.fixture
def free_ports() -> list[str]:
    return list(FREE_PORTS)
