"""Every long-running role stops cleanly on SIGTERM (systemd, docker, kill): exit status 0,
a log line saying why, and its `finally` blocks run. Peers are unreachable on purpose: a
role waiting for its upstream must still stop at once."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
KEY = "9b3ktShNcErADXgki3SMZTgDZ4eWg1GrMy6bPwXHHEQWACwtZ2L"  # any valid authority key text
NOBODY = "127.0.0.1:1"  # nothing listens there: connections are refused at once
RPC = ["--rpcurl", f"http://{NOBODY}", "--rpcuser", "u", "--rpcpassword", "p"]

ROLES = {
    "tp": ["--network", "regtest", "--listen", "127.0.0.1:0", *RPC],
    "pool": [
        "--network", "regtest", "--listen", "127.0.0.1:0", "--sv2-listen", "127.0.0.1:0",
        "--tp", NOBODY, "--address", ADDRESS,
    ],
    "translator": [
        "--listen", "127.0.0.1:0", "--upstream", NOBODY, "--upstream-authority-key", KEY,
    ],
    "jds": ["--network", "regtest", "--listen", "127.0.0.1:0", "--address", ADDRESS, *RPC],
    "jdc": [
        "--network", "regtest", "--listen", "127.0.0.1:0", "--tp", NOBODY, "--address", ADDRESS,
    ],
    "miner": ["--upstream", NOBODY, "--upstream-authority-key", KEY],
}  # fmt: skip
WITH_DATADIR = {"tp", "pool", "jds", "jdc"}


@pytest.mark.parametrize("role", sorted(ROLES))
async def test_sigterm_stops_the_role_cleanly(role: str, tmp_path: Path) -> None:
    args = list(ROLES[role])
    if role in WITH_DATADIR:
        args += ["--datadir", str(tmp_path / role)]
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("sv2")),
        role,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    try:
        first = await asyncio.wait_for(proc.stdout.readline(), 30)  # it is up and talking
        assert first, f"sv2 {role} exited before saying anything"
        await asyncio.sleep(0.5)
        assert proc.returncode is None, f"sv2 {role} stopped by itself: {first!r}"
        proc.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(proc.stdout.read(), 20)
        rc = await asyncio.wait_for(proc.wait(), 5)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    output = (first + rest).decode(errors="replace")
    assert rc == 0, output[-2000:]
    assert "received SIGTERM: stopping" in output, output[-2000:]
    assert "Traceback" not in output, output[-2000:]
