"""Template provider: new block -> SetNewPrevHash latency, and NewTemplate build time.

1. Latency: the embedded regtest node, ``sv2 tp``'s service and a TD client over Noise on
   loopback, all in this process. For each of N blocks (100; short: 5) mined with
   ``generatetoaddress 1``, the clock starts when the node makes the block its tip and stops
   when the client holds the SetNewPrevHash for it; p50/p99 for ZMQ ``hashblock`` and for
   long polling. Baseline (same run): the ``generatetoaddress`` RPC round trip.
2. Build: a synthetic 4 MB-weight getblocktemplate result (about 2,700 segwit transactions)
   -> validated template -> NewTemplate (merkle path, witness commitment) -> encoded frame;
   and the RequestTransactionData.Success frame for it. Baseline: one sha256d of a header.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import per_second, print_table, sha256d_header
from stratumv2.bitcoin.hashes import hash_to_hex
from stratumv2.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut
from stratumv2.net.pump import new_secret
from stratumv2.net.rpc import BitcoinRpc
from stratumv2.net.server import Sv2Server
from stratumv2.noise import Keypair
from stratumv2.protocol import SetNewPrevHashTd, encode_frame
from stratumv2.roles.regtest_node.testing import running_node
from stratumv2.roles.template_provider.client import TemplateDistributionClient
from stratumv2.roles.template_provider.core import (
    ClientConstraints,
    TemplateProviderCore,
    parse_gbt,
)
from stratumv2.roles.template_provider.service import TemplateProviderService, TpOptions


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def _latency(mode: str, blocks: int, datadir: Path) -> tuple[list[float], list[float]]:
    zmq = f"tcp://127.0.0.1:{_free_port()}" if mode == "zmq" else None
    async with running_node(datadir, zmq=zmq) as node, node.rpc() as rpc:
        tp_rpc = BitcoinRpc(node.url, cookie_file=node.cookie_path)
        service = TemplateProviderService(
            tp_rpc, TemplateProviderCore(), options=TpOptions(zmq_hashblock=zmq)
        )
        server = Sv2Server(lambda c: service.serve_peer(c, c.peer_text), Keypair(new_secret()))
        await server.start("127.0.0.1", 0)
        runner = asyncio.create_task(service.run())
        client = TemplateDistributionClient(("127.0.0.1", server.port), server.authority_public_key)
        latencies: list[float] = []
        round_trips: list[float] = []
        accepted: dict[bytes, float] = {}  # block hash -> when the node made it its tip
        chain = node.node.chain
        chain.add_listener(lambda *_: accepted.setdefault(chain.tip.hash, time.perf_counter()))
        try:
            async with client:
                while not isinstance(await client.next_event(10), SetNewPrevHashTd):
                    pass
                await asyncio.sleep(0.1)
                for _ in range(blocks):
                    t0 = time.perf_counter()
                    [block_hash] = await rpc.call("generatetoaddress", 1, node.address)
                    t1 = time.perf_counter()
                    while True:
                        event = await client.next_event(10)
                        if (
                            isinstance(event, SetNewPrevHashTd)
                            and hash_to_hex(event.prev_hash) == block_hash
                        ):
                            break
                    latencies.append(time.perf_counter() - accepted[event.prev_hash])
                    round_trips.append(t1 - t0)
                    await asyncio.sleep(0.01)
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            await server.close()
            await tp_rpc.close()
    return latencies, round_trips


def synthetic_gbt(target_weight: int = 3_990_000) -> dict[str, Any]:
    """A getblocktemplate result of about ``target_weight`` WU of 2-in/2-out segwit txs."""
    entries: list[dict[str, Any]] = []
    weight = 0
    i = 0
    while weight < target_weight:
        seed = i.to_bytes(4, "little")
        inputs = tuple(
            TxIn(OutPoint(seed * 8, k), b"", 0xFFFFFFFD, (b"\x30" * 72, b"\x02" * 33))
            for k in range(2)
        )
        outputs = (TxOut(50_000 + i, b"\x00\x14" + seed * 5), TxOut(9_000, b"\x51\x20" + seed * 8))
        tx = Transaction(2, inputs, outputs, 0)
        raw = tx.serialize()
        entries.append(
            {
                "data": raw.hex(),
                "txid": hash_to_hex(tx.txid),
                "hash": hash_to_hex(tx.wtxid),
                "depends": [],
                "fee": 2_000 + i % 500,
                "sigops": 2,
                "weight": tx.weight,
            }
        )
        weight += tx.weight
        i += 1
    return {
        "version": 0x20000000,
        "rules": ["csv", "!segwit", "taproot"],
        "previousblockhash": "00" * 32,
        "transactions": entries,
        "coinbasevalue": 312_500_000 + sum(e["fee"] for e in entries),
        "longpollid": "00" * 32 + "1",
        "target": "00000000000000000002f1280000000000000000000000000000000000000000",
        "mintime": 1_700_000_000,
        "curtime": 1_700_000_100,
        "bits": "17034219",
        "height": 900_000,
    }


def _build(gbt: dict[str, Any]) -> tuple[bytes, bytes]:
    core = TemplateProviderCore()
    core.add_client(1)
    core.set_constraints(1, ClientConstraints(64, 4))
    sends = core.update_template(parse_gbt(gbt), 0.0)
    new_template = encode_frame(sends[0].message)
    data = encode_frame(core.transaction_data(sends[0].message.template_id))
    return new_template, data


def main(short: bool) -> None:
    """Print both tables."""
    blocks = 5 if short else 100
    rows = []
    for mode in ("zmq", "longpoll"):
        with tempfile.TemporaryDirectory() as tmp:
            lat, rtt = asyncio.run(_latency(mode, blocks, Path(tmp)))
        rows.append(
            [
                mode,
                blocks,
                statistics.median(lat) * 1e3,
                _percentile(lat, 0.99) * 1e3,
                max(lat) * 1e3,
                statistics.median(rtt) * 1e3,
            ]
        )
    print_table(
        "new block at the node -> SetNewPrevHash at a TD client (ms, loopback, one process)",
        ["mode", "blocks", "p50", "p99", "max", "baseline: generatetoaddress RTT p50"],
        rows,
    )

    hashes_per_s = per_second(sha256d_header, short=short)
    gbt = synthetic_gbt(400_000 if short else 3_990_000)
    n_tx = len(gbt["transactions"])
    repeats = 1 if short else 5
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        new_template, data = _build(gbt)
        times.append(time.perf_counter() - t0)
    build = min(times)
    t0 = time.perf_counter()
    parse_gbt(gbt)
    parse = time.perf_counter() - t0
    print_table(
        f"getblocktemplate ({n_tx} txs) -> NewTemplate + RequestTransactionData.Success frames",
        ["step", "ms", "sha256d-header units"],
        [
            ["parse + validate GBT", parse * 1e3, parse * hashes_per_s],
            ["whole build (parse, path, commitment, encode both)", build * 1e3,
             build * hashes_per_s],
            ["NewTemplate frame bytes", len(new_template), "-"],
            ["RequestTransactionData.Success bytes", len(data), "-"],
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main(short=False)
