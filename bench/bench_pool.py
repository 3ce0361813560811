"""The pool: share validation in the core, shares end to end, job fan-out, memory.

(a) ``PoolCore.on_connection_message`` with SubmitShares (standard, standard with vardiff,
    extended), shares/s on one core, beside the floor: the sha256d work of each share
    (``ratio`` = floor / rate; goal <= 1.5).
(b) End to end over loopback TCP with Noise: client processes write precomputed, encrypted
    SubmitSharesStandard frames as fast as the socket takes them to one pool process
    (pool mode: every share committed to SQLite before its SubmitShares.Success); accepted
    shares/s counted from the acks (goal >= 15,000 on one pool core); ``per pool CPU-s`` is
    accepted shares per CPU second the pool process used (all its threads): its capacity on
    one core when the clients and other load share the machine.
(c) Fan-out: from the TP's SetNewPrevHash to the last SetNewPrevHash written to a socket,
    for 10,000 channels on 1,000 connections (short: 100 on 10), with REQUIRES_STANDARD_JOBS
    (one message per channel) and with group channels (one per connection); p50 and p99
    (goal 100 ms). ``CPU`` is the event loop's thread CPU time for the same span (what the
    fan-out costs on an idle core); ``future jobs``: the NewTemplate fan-out before it.
(d) Memory per idle connection with one channel, in the pool process (tracemalloc and RSS).
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing as mp
import os
import resource
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import print_table, sample_shares
from stratumv2.app.store import AsyncStore
from stratumv2.bitcoin.coinbase import bip34_height_push
from stratumv2.bitcoin.hashes import merkle_branch
from stratumv2.bitcoin.target import bits_to_target
from stratumv2.bitcoin.tx import TxOut
from stratumv2.mining.vardiff import VardiffConfig
from stratumv2.net.client import open_sv2_connection
from stratumv2.net.limits import Limits
from stratumv2.net.pump import Sv2Connection, new_secret
from stratumv2.noise import Keypair
from stratumv2.protocol import (
    NewExtendedMiningJob,
    NewMiningJob,
    NewTemplate,
    OpenExtendedMiningChannel,
    OpenExtendedMiningChannelSuccess,
    OpenStandardMiningChannel,
    OpenStandardMiningChannelSuccess,
    SetNewPrevHashMining,
    SetNewPrevHashTd,
    SetupConnection,
    SubmitSharesStandard,
    SubmitSharesSuccess,
)
from stratumv2.roles.pool.core import PoolConfig, PoolCore
from stratumv2.roles.pool.service import PoolService

BITS = 0x17031ABE  # mainnet-like: no share is a block
NOW = 1_700_000_000
SCRIPT = bytes.fromhex("0014") + bytes(20)
FF = b"\xff" * 32
STANDARD_JOBS = 0x1


def _template(template_id: int, tx_count: int) -> NewTemplate:
    commitment = TxOut(0, bytes.fromhex("6a24aa21a9ed") + bytes(32)).serialize()
    return NewTemplate(
        template_id=template_id,
        future_template=True,
        version=0x20000000,
        coinbase_tx_version=2,
        coinbase_prefix=bip34_height_push(900_000),
        coinbase_tx_input_sequence=0xFFFFFFFE,
        coinbase_tx_value_remaining=312_500_000,
        coinbase_tx_outputs_count=1,
        coinbase_tx_outputs=commitment,
        coinbase_tx_locktime=899_999,
        merkle_path=tuple(merkle_branch([i.to_bytes(32, "little") for i in range(1, tx_count)])),
    )


def _prev_hash(template_id: int, now: int = NOW) -> SetNewPrevHashTd:
    return SetNewPrevHashTd(
        template_id=template_id,
        prev_hash=template_id.to_bytes(32, "little"),
        header_timestamp=now,
        n_bits=BITS,
        target=bits_to_target(BITS).to_bytes(32, "little"),
    )


def _setup(flags: int) -> SetupConnection:
    return SetupConnection(
        protocol=0,
        min_version=2,
        max_version=2,
        flags=flags,
        endpoint_host="127.0.0.1",
        endpoint_port=0,
        vendor="bench",
        hardware_version="",
        firmware="",
        device_id="",
    )


def _best(run: Callable[[], int], repeats: int) -> float:
    best = float("inf")
    count = 1
    for _ in range(repeats):
        start = time.perf_counter()
        count = run()
        best = min(best, time.perf_counter() - start)
    return count / best


# ---- (a) the sans-IO core ----------------------------------------------------------------


def _core_rates(short: bool) -> list[tuple[object, ...]]:
    n = 2_000 if short else 100_000
    repeats = 1 if short else 5
    easy = VardiffConfig(min_difficulty=1e-12, max_difficulty=1e-11)

    def fresh(vardiff: VardiffConfig | None, extended: bool) -> PoolCore:
        core = PoolCore(
            PoolConfig(
                payout_script=SCRIPT,
                mode="pool",
                vardiff=vardiff,
                share_rate=1e12,
                share_burst=1e12,
            )
        )
        core.on_new_template(_template(1, 3000), NOW)
        core.on_set_new_prev_hash(_prev_hash(1), NOW)
        core.connection_made(1, "bench", NOW)
        core.on_connection_message(1, _setup(0), NOW)
        if extended:
            core.on_connection_message(
                1,
                OpenExtendedMiningChannel(
                    request_id=1,
                    user_identity="u.w",
                    nominal_hash_rate=0.0,
                    max_target=FF,
                    min_extranonce_size=8,
                ),
                NOW,
            )
        else:
            core.on_connection_message(
                1,
                OpenStandardMiningChannel(
                    request_id=1, user_identity="u.w", nominal_hash_rate=0.0, max_target=FF
                ),
                NOW,
            )
        return core

    std, ext = sample_shares(n, NOW, 1, 1)

    def run(vardiff: VardiffConfig | None, shares: list[Any], extended: bool) -> int:
        core = fresh(vardiff, extended)
        handle = core.on_connection_message
        for share in shares:
            handle(1, share, NOW)
        assert core.shares_accepted == n and core.shares_rejected == 0, core.shares_rejected
        return n

    job = fresh(None, True).factory.current_job()
    coinbase_len = len(job.coinbase.prefix) + 20 + len(job.coinbase.suffix)
    headers = [bytes(76) + i.to_bytes(4, "little") for i in range(n)]
    coinbases = [i.to_bytes(4, "little") + bytes(coinbase_len - 4) for i in range(n)]
    nodes = [bytes([k]) * 64 for k in range(len(job.merkle_path))]
    sha256 = hashlib.sha256

    def floor_std() -> int:
        for header in headers:
            sha256(sha256(header).digest()).digest()
        return n

    def floor_ext() -> int:
        for coinbase in coinbases:
            sha256(sha256(coinbase).digest()).digest()
            for node in nodes:
                sha256(sha256(node).digest()).digest()
            sha256(sha256(headers[0]).digest()).digest()
        return n

    rows = []
    for label, vardiff, shares, extended, floor_fn in (
        ("standard", None, std, False, floor_std),
        ("standard+vardiff", easy, std, False, floor_std),
        ("extended+vardiff", easy, ext, True, floor_ext),
    ):
        # floor and pool alternate, so that both see the same load on a shared machine
        floor = rate = 0.0
        for _ in range(repeats):
            floor = max(floor, _best(floor_fn, 1))
            rate = max(
                rate,
                _best(lambda v=vardiff, s=shares, e=extended: run(v, s, e), 1),  # type: ignore[misc]
            )
        rows.append((label, rate, floor, floor / rate))
    return rows


# ---- pool service in a process --------------------------------------------------------------


def _pool_process(ready: Any, stop: Any, store_dir: str, batch: int) -> None:
    async def run() -> None:
        core = PoolCore(
            PoolConfig(
                payout_script=SCRIPT,
                mode="pool",
                vardiff=None,
                share_batch_size=batch,
                share_rate=1e12,
                share_burst=1e12,
            )
        )
        async with AsyncStore(Path(store_dir) / "pool.sqlite") as store:
            service = PoolService(
                core,
                Keypair(new_secret()),
                store=store,
                limits=Limits(max_connections_per_address=100_000, max_connections=100_000),
            )
            (address,) = await service.start(("127.0.0.1", 0))
            await service.on_td_event(_template(1, 12))
            await service.on_td_event(_prev_hash(1, int(time.time())))
            before = resource.getrusage(resource.RUSAGE_SELF)
            ready.put((address[1], service.authority_public_key))
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, stop.wait)
            after = resource.getrusage(resource.RUSAGE_SELF)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            ready.put((core.shares_accepted, cpu))
            await service.close()

    asyncio.run(run())


async def _open_channel(
    port: int, key: str, flags: int, channels: int = 1
) -> tuple[Sv2Connection, list[Any]]:
    conn = await open_sv2_connection("127.0.0.1", port, key)
    await conn.send(_setup(flags))
    await conn.recv()
    opened: list[Any] = []
    for i in range(channels):
        await conn.send(
            OpenStandardMiningChannel(
                request_id=i, user_identity="bench.w", nominal_hash_rate=0.0, max_target=FF
            )
        )
        ok = await conn.recv()
        assert isinstance(ok, OpenStandardMiningChannelSuccess | OpenExtendedMiningChannelSuccess)
        job = await conn.recv()
        prev = await conn.recv()
        assert isinstance(job, NewMiningJob | NewExtendedMiningJob)
        assert isinstance(prev, SetNewPrevHashMining)
        opened.append((ok, job, prev))
    return conn, opened


def _share_client(port: int, key: str, count: int, out: Any) -> None:
    async def run() -> None:
        conn, [(ok, job, prev)] = await _open_channel(port, key, STANDARD_JOBS)
        core = conn.core
        for i in range(count):  # every hash meets the all-ff target: any nonce is a share
            core.send(
                SubmitSharesStandard(
                    channel_id=ok.channel_id,
                    sequence_number=i,
                    job_id=job.job_id,
                    nonce=i,
                    ntime=prev.min_ntime,
                    version=job.version,
                )
            )
        # encrypted ahead (queued on the core): the timed part is the pool's work
        started = time.perf_counter()
        conn.write_queued()
        await conn.drain()
        accepted = 0
        while accepted < count:
            msg = await conn.recv()
            if isinstance(msg, SubmitSharesSuccess):
                accepted += msg.new_submits_accepted_count
        out.put((started, time.perf_counter(), accepted))
        conn.close()

    asyncio.run(run())


def _end_to_end(short: bool) -> list[tuple[object, ...]]:
    ctx = mp.get_context("spawn")
    clients = 2
    per_client = 5_000 if short else 60_000
    rows = []
    for batch in (10, 100):
        with tempfile.TemporaryDirectory() as tmp:
            ready, stop = ctx.Queue(), ctx.Event()
            pool = ctx.Process(target=_pool_process, args=(ready, stop, tmp, batch))
            pool.start()
            port, key = ready.get(timeout=60)
            out = ctx.Queue()
            procs = [
                ctx.Process(target=_share_client, args=(port, key, per_client, out))
                for _ in range(clients)
            ]
            for p in procs:
                p.start()
            results = [out.get(timeout=300) for _ in procs]
            for p in procs:
                p.join()
            stop.set()
            accepted_total, cpu = ready.get(timeout=60)
            pool.join()
            start = min(r[0] for r in results)
            end = max(r[1] for r in results)
            accepted = sum(r[2] for r in results)
            assert accepted == clients * per_client == accepted_total
            rows.append(
                (
                    f"pool mode, batch {batch}",
                    clients,
                    accepted,
                    accepted / (end - start),
                    cpu,
                    accepted / cpu,
                )
            )
            if short:
                break
    return rows


# ---- (c) fan-out and (d) memory: the pool in this process, clients in another -------------


def _idle_clients(port: int, key: str, conns: int, channels: int, flags: int, out: Any) -> None:
    async def run() -> None:
        opened: list[Sv2Connection] = []
        for _ in range(conns):
            conn, _ = await _open_channel(port, key, flags, channels)
            opened.append(conn)

        async def drain(conn: Sv2Connection) -> None:
            async for _ in conn:
                pass

        tasks = [asyncio.create_task(drain(c)) for c in opened]
        out.put("ready")
        await asyncio.gather(*tasks)  # until the parent terminates this process

    asyncio.run(run())


async def _fanout_and_memory(
    short: bool,
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    conns, per_conn = (10, 10) if short else (1000, 10)
    tips = 5 if short else 30
    ctx = mp.get_context("spawn")
    fan_rows: list[tuple[object, ...]] = []
    for label, flags in (("standard jobs", STANDARD_JOBS), ("group channels", 0)):
        core = PoolCore(
            PoolConfig(payout_script=SCRIPT, vardiff=None, share_rate=1e9, share_burst=1e9)
        )
        service = PoolService(
            core,
            Keypair(new_secret()),
            limits=Limits(max_connections_per_address=100_000, max_connections=100_000),
        )
        (address,) = await service.start(("127.0.0.1", 0))
        await service.on_td_event(_template(1, 2000))
        await service.on_td_event(_prev_hash(1, int(time.time())))
        ctl = ctx.Queue()
        proc = ctx.Process(
            target=_idle_clients,
            args=(address[1], service.authority_public_key, conns, per_conn, flags, ctl),
        )
        proc.start()
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, ctl.get, True, 900) == "ready"
        assert core.channel_count() == conns * per_conn
        times, cpu_times, future_times = [], [], []
        for tid in range(2, 2 + tips):
            template, prev = _template(tid, 2000), _prev_hash(tid, int(time.time()))
            t0 = time.perf_counter()
            await service.on_td_event(template)
            future_times.append(time.perf_counter() - t0)
            await asyncio.sleep(0.05)  # let the sockets drain between blocks
            await service.on_td_event(prev)
            assert service.last_fanout is not None and service.last_fanout_cpu is not None
            times.append(service.last_fanout)
            cpu_times.append(service.last_fanout_cpu)
            await asyncio.sleep(0.05)
        times.sort()
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        fan_rows.append(
            (
                label,
                conns * per_conn,
                conns,
                statistics.median(times) * 1000,
                p99 * 1000,
                statistics.median(cpu_times) * 1000,
                statistics.median(future_times) * 1000,
            )
        )
        proc.terminate()
        proc.join()
        await service.close()

    # (d) memory per idle connection with one channel
    n = 100 if short else 1000
    core = PoolCore(PoolConfig(payout_script=SCRIPT, vardiff=VardiffConfig()))
    service = PoolService(
        core,
        Keypair(new_secret()),
        limits=Limits(max_connections_per_address=100_000, max_connections=100_000),
    )
    (address,) = await service.start(("127.0.0.1", 0))
    await service.on_td_event(_template(1, 2000))
    await service.on_td_event(_prev_hash(1, int(time.time())))
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    rss0 = _rss()
    ctl = ctx.Queue()
    proc = ctx.Process(
        target=_idle_clients, args=(address[1], service.authority_public_key, n, 1, 0, ctl)
    )
    proc.start()
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, ctl.get, True, 900) == "ready"
    await asyncio.sleep(0.2)
    assert core.channel_count() == n
    traced = tracemalloc.get_traced_memory()[0] - base
    rss = _rss() - rss0
    tracemalloc.stop()
    mem_rows: list[tuple[object, ...]] = [
        (n, traced / n / 1024, rss / n / 1024),
    ]
    ctl.put("stop")
    proc.terminate()
    proc.join()
    await service.close()
    return fan_rows, mem_rows


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main(short: bool) -> None:
    """Print the four tables."""
    print_table(
        "(a) Pool core share handling, one core (shares/s; 12-level merkle path, pool mode)",
        ["path", "shares/s", "floor/s", "ratio"],
        _core_rates(short),
    )
    print_table(
        "(b) End to end: Noise over loopback TCP, precomputed shares, one pool process, "
        "SQLite commit before every ack (goal >= 15,000/s)",
        ["pool", "clients", "accepted", "accepted/s", "pool CPU s", "per pool CPU-s"],
        _end_to_end(short),
    )
    fan, mem = asyncio.run(_fanout_and_memory(short))
    print_table(
        "(c) Fan-out: TP SetNewPrevHash -> last SetNewPrevHash written (goal p99 100 ms)",
        ["connections", "channels", "conns", "p50 ms", "p99 ms", "CPU p50 ms", "future jobs ms"],
        fan,
    )
    print_table(
        "(d) Memory per idle connection with one channel (goal 20 KiB)",
        ["connections", "tracemalloc KiB/conn", "RSS KiB/conn"],
        mem,
    )
