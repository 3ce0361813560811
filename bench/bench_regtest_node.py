"""Regtest node: getblocktemplate and submitblock latency over JSON-RPC (HTTP on loopback)
with 0, 100 and 2,000 transactions in the mempool (short mode: 0 and 10).

Baseline (same run): one sha256d of an 80-byte header; the last columns express each
latency in those units, so figures from different machines compare.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import per_second, print_table, sha256d_header
from stratumv2.roles.regtest_node.testing import block_from_gbt, running_node
from stratumv2.roles.regtest_node.txgen import TxGenerator


async def _measure(size: int, repeats: int, datadir: Path) -> tuple[float, float, float, int, int]:
    async with running_node(datadir) as handle, handle.rpc(timeout=120) as rpc:
        generator = TxGenerator(handle.node, rate=1.0, seed=size)
        await generator.ensure_funds()
        start = time.perf_counter()
        while len(handle.node.mempool) < size:
            generator.step()
        fill = time.perf_counter() - start
        accept_rate = size / fill if size and fill > 0 else 0.0
        gbt_times = []
        gbt = await rpc.getblocktemplate()
        for _ in range(repeats):
            t0 = time.perf_counter()
            gbt = await rpc.getblocktemplate()
            gbt_times.append(time.perf_counter() - t0)
        block = block_from_gbt(gbt)
        t0 = time.perf_counter()
        answer = await rpc.submitblock(block.hex())
        submit = time.perf_counter() - t0
        if answer is not None:
            raise RuntimeError(f"block rejected: {answer}")
        return (
            statistics.median(gbt_times),
            submit,
            accept_rate,
            len(gbt["transactions"]),
            len(block),
        )


def main(short: bool) -> None:
    """Print the latency table."""
    sizes = (0, 10) if short else (0, 100, 2000)
    repeats = 2 if short else 7
    hashes_per_s = per_second(sha256d_header, short=short)
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            gbt, submit, accept_rate, n_tx, block_bytes = asyncio.run(
                _measure(size, repeats, Path(tmp))
            )
        rows.append(
            (
                size,
                n_tx,
                block_bytes,
                gbt * 1e3,
                submit * 1e3,
                accept_rate,
                gbt * hashes_per_s,
                submit * hashes_per_s,
            )
        )
    print_table(
        f"regtest node over JSON-RPC (baseline: {hashes_per_s:,.0f} sha256d headers/s)",
        (
            "mempool txs",
            "template txs",
            "block bytes",
            "gbt ms",
            "submitblock ms",
            "mempool accept tx/s",
            "gbt (hashes)",
            "submit (hashes)",
        ),
        rows,
    )
