"""The translator over loopback: embedded regtest node, our TP, `sv2 pool`, `sv2 translator`.

:class:`ScriptedDevice` replays the exact line sequences of ESP-Miner's firmware generations
and of cpuminer (shared/sv1-devices.md §1, §4, §6) over plain TCP and hashes like the device:
coinb1 ‖ extranonce1 ‖ extranonce2 (little-endian counter) ‖ coinb2, OR version rolling with
``version_bits = rolled XOR job_version``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from stratumv2.bitcoin.hashes import merkle_root_from_branch, sha256d
from stratumv2.bitcoin.target import difficulty_to_target
from stratumv2.mining.shares import solve_header
from stratumv2.roles.template_provider.testing import TpHandle, running_tp
from stratumv2.sv1.wire import MiningNotify, parse_notify

SV2 = Path(sys.executable).with_name("sv2")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def process(
    args: list[str], first_line: str, lines: int = 1
) -> AsyncIterator[tuple[Any, list[str]]]:
    """``sv2 ARGS`` as a subprocess; waits for ``lines`` stdout lines, the first starting
    with ``first_line``; yields (process, those lines). Killed at exit."""
    proc = await asyncio.create_subprocess_exec(
        str(SV2), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        got = []
        for _ in range(lines):
            line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
            got.append(line)
        if not got[0].startswith(first_line):
            err = await proc.stderr.read() if proc.stderr else b""
            raise AssertionError(f"{args[0]} did not start: {got!r} {err.decode()[-3000:]}")
        yield proc, got
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def pool_args(tp: TpHandle, address: str, sv2_port: int, listen_port: int) -> list[str]:
    return [
        "pool", "--network", "regtest",
        "--sv2-listen", f"127.0.0.1:{sv2_port}",
        "--listen", f"127.0.0.1:{listen_port}",
        "--tp", f"127.0.0.1:{tp.port}",
        "--tp-authority-key", tp.authority_key,
        "--address", address,
        "--mode", "solo",
        "--share-batch-size", "1",
    ]  # fmt: skip


ESP_V2_9 = "esp-v2.9"
ESP_V2_4_1 = "esp-v2.4.1"
ESP_V2_4_0 = "esp-v2.4.0"
CPUMINER = "cpuminer"


class ScriptedDevice:
    """An SV1 device over TCP that replays one firmware's exact sequence."""

    def __init__(self, kind: str, user: str) -> None:
        self.kind = kind
        self.user = user
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.lines: list[dict[str, Any]] = []
        self.jobs: dict[str, MiningNotify] = {}
        self.last_job: str | None = None
        self.difficulty: float | None = None
        self.extranonce1 = b""
        self.extranonce2_size = 0
        self.mask: int | None = None
        self.next_id = 1
        self.counter = 0
        self.reconnects = 0
        self.closed = asyncio.Event()
        self.changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def connect(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.closed.clear()
        self.lines.clear()
        self.jobs.clear()
        self.last_job = None
        self.next_id = 1
        self._task = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.writer is not None:
            self.writer.close()

    def send(self, method: str, params: list[Any], spaces: bool = False) -> int:
        request_id = self.next_id
        self.next_id += 1
        obj = {"id": request_id, "method": method, "params": params}
        text = json.dumps(obj) if spaces else json.dumps(obj, separators=(",", ":"))
        assert self.writer is not None
        self.writer.write(text.encode() + b"\n")
        return request_id

    async def _read(self) -> None:
        assert self.reader is not None
        while line := await self.reader.readline():
            msg = json.loads(line)
            self.lines.append(msg)
            method = msg.get("method")
            if method == "mining.notify":
                job = parse_notify(msg["params"])
                if job.clean_jobs:
                    self.jobs.clear()
                self.jobs[job.job_id] = job
                self.last_job = job.job_id
            elif method == "mining.set_difficulty":
                self.difficulty = float(msg["params"][0])
            elif method is None and isinstance(msg.get("result"), list):
                self.extranonce1 = bytes.fromhex(msg["result"][1])
                self.extranonce2_size = msg["result"][2]
            elif (
                method is None
                and isinstance(msg.get("result"), dict)
                and msg["result"].get("version-rolling")
            ):
                self.mask = int(msg["result"]["version-rolling.mask"], 16)
            self.changed.set()
        self.closed.set()

    async def wait_for(self, predicate: Any, timeout: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            self.changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"{self.kind}: condition not met; lines: {self.lines[-5:]}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)

    def answer(self, request_id: int) -> dict[str, Any] | None:
        for msg in self.lines:
            if msg.get("id") == request_id and "method" not in msg:
                return msg
        return None

    async def handshake(self) -> None:
        """The firmware's opening sequence, as it writes it."""
        mask = {"version-rolling.mask": "ffffffff"}
        if self.kind == ESP_V2_9:
            self.send("mining.configure", [["version-rolling"], mask])
            self.send("mining.subscribe", ["bitaxe/BM1370/v2.15.0"])
            auth = self.send("mining.authorize", [self.user, "x"])
            await self.wait_for(lambda: self.answer(auth) is not None)
            assert self.answer(auth)["result"] is True  # type: ignore[index]
            self.send("mining.suggest_difficulty", [1000])
        elif self.kind == ESP_V2_4_1:
            self.send("mining.configure", [["version-rolling"], mask], spaces=True)
            self.send("mining.subscribe", ["bitaxe/BM1366/v2.5.0"], spaces=True)
            self.send("mining.authorize", [self.user, "x"], spaces=True)
            self.send("mining.suggest_difficulty", [1000], spaces=True)
        elif self.kind == ESP_V2_4_0:
            self.send("mining.subscribe", ["bitaxe/BM1397/v2.3.0"], spaces=True)
            self.send("mining.configure", [["version-rolling"], mask], spaces=True)
            self.send("mining.suggest_difficulty", [1000], spaces=True)
            self.send("mining.authorize", [self.user, "x"], spaces=True)
        elif self.kind == CPUMINER:
            sub = self.send("mining.subscribe", ["cpuminer/2.5.1"], spaces=True)
            await self.wait_for(lambda: self.answer(sub) is not None)
            self.send("mining.authorize", [self.user, "x"], spaces=True)
        else:
            raise ValueError(self.kind)
        await self.wait_for(lambda: self.last_job is not None and self.difficulty is not None)

    async def mine_share(self) -> dict[str, Any]:
        """Hash the newest job until a share meets the difficulty; submit; the answer."""
        assert self.last_job is not None and self.difficulty is not None
        job = self.jobs[self.last_job]
        self.counter += 1
        en2 = self.counter.to_bytes(8, "little")[: self.extranonce2_size]
        coinbase = job.coinb1 + self.extranonce1 + en2 + job.coinb2
        root = merkle_root_from_branch(sha256d(coinbase), job.merkle_branch)
        rolled = job.version
        if self.kind != CPUMINER:
            rolled = job.version | ((self.counter & 0xFFFF) << 13)
        nonce = solve_header(
            rolled, job.prev_hash, root, job.ntime, job.nbits, difficulty_to_target(self.difficulty)
        )
        assert nonce is not None
        params = [self.user, job.job_id, en2.hex(), f"{job.ntime:08x}", f"{nonce:08x}"]
        if self.kind == CPUMINER:
            request_id = self.send("mining.submit", params, spaces=True)
        else:
            params.append(f"{rolled ^ job.version:08x}")
            request_id = self.send("mining.submit", params)
        await self.wait_for(lambda: self.answer(request_id) is not None)
        answer = self.answer(request_id)
        assert answer is not None
        return answer


@pytest.fixture
def tp_runner() -> Any:
    return running_tp


@pytest.fixture
def process_runner() -> Any:
    return process


@pytest.fixture
def device_class() -> type[ScriptedDevice]:
    return ScriptedDevice


@pytest.fixture
def helpers() -> dict[str, Any]:
    return {
        "free_port": free_port,
        "pool_args": pool_args,
        "kinds": (ESP_V2_9, ESP_V2_4_1, ESP_V2_4_0, CPUMINER),
    }
