"""Monitor + dashboard app + /metrics on a real store, served on 127.0.0.1:0."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from stratumv2.app.dashboard import start_dashboard
from stratumv2.app.dashboard.monitor import Monitor, ObservedStore, hashrate_series
from stratumv2.app.notify import Notification
from stratumv2.app.store import BlockRecord, ShareRecord


@dataclass
class _Conn:
    peer_text: str
    bytes_in: int
    bytes_out: int


class _Recorder:
    """Collects notifications (the Notifier's interface as the monitor uses it)."""

    def __init__(self) -> None:
        self.notes: list[Notification] = []

    def notify(self, note: Notification) -> None:
        self.notes.append(note)


async def test_api_and_metrics(tmp_path: Path) -> None:
    now = time.time()
    store = await ObservedStore(tmp_path / "pool.sqlite").open()
    recorder = _Recorder()
    monitor = Monitor(store, network="regtest", payout_address="bcrt1qpay", notifier=recorder)  # type: ignore[arg-type]
    store.monitor = monitor
    sv2_conn = _Conn("127.0.0.1:4000", 0, 0)
    monitor.connection_opened("sv1", _Conn("127.0.0.9:5000", 300, 4000))
    monitor.info = {"sv1_url": "stratum+tcp://host:3333"}
    await monitor.start(poll_interval=3600)
    dashboard = await start_dashboard(monitor, "127.0.0.1", 0)
    try:
        monitor.connection_opened("sv2", sv2_conn)
        sv2_conn.bytes_in, sv2_conn.bytes_out = 1000, 2000
        shares = [ShareRecord(now - 60 * i, "alice", "rig1", 2.0) for i in range(10)]
        shares.append(
            ShareRecord(now - 5, "alice", "rig1", 0.0, accepted=False, reject_reason="stale-share")
        )
        shares.append(ShareRecord(now - 4, "bob", "", 8.0))
        await store.record_batch(shares)
        await store.record_batch([ShareRecord(now - 1, "alice", "rig1", 4.0)])  # a new best
        block = BlockRecord(
            101, "ab" * 32, "bcrt1qpay", 50_0000_0000, now, user="alice", worker="rig1"
        )
        await store.record_batch([], [block])
        monitor.connection_closed(sv2_conn)  # closed: its bytes stay in the counters
        async with aiohttp.ClientSession() as http:

            async def get(path: str) -> Any:
                async with http.get(dashboard.url.rstrip("/") + path) as response:
                    assert response.status == 200, path
                    if path == "/metrics":
                        return await response.text()
                    if path.startswith("/static") or path == "/":
                        return await response.text()
                    return await response.json()

            status = await get("/api/status")
            assert status["shares_accepted"] == 12 and status["shares_rejected"] == 1
            assert status["rejected_by_reason"] == {"stale-share": 1}
            assert status["rejected_by_reason_24h"] == {"stale-share": 1}
            assert status["blocks_found"] == 1 and status["blocks_all_time"] == 1
            assert status["last_block"]["hash"] == "ab" * 32
            assert status["info"]["sv1_url"] == "stratum+tcp://host:3333"
            workers = {w["name"]: w for w in await get("/api/workers")}
            rig = workers["alice.rig1"]
            # 10 shares of difficulty 2 and one of 4 in the hour: 24 * 2**32 / 3600
            assert abs(rig["hashrate_1h"] - 24 * 2**32 / 3600) < 1
            assert abs(rig["hashrate_1h_stderr"] - (10 * 4 + 16) ** 0.5 * 2**32 / 3600) < 1
            assert rig["accepted"] == 11 and rig["rejected"] == 1
            assert rig["best_session"] == 4.0 and rig["best_all_time"] == 4.0
            assert workers["bob"]["shares_24h"] == 1
            blocks = await get("/api/blocks")
            assert blocks[0]["height"] == 101 and blocks[0]["pays"] == "bcrt1qpay"
            assert blocks[0]["worker"] == "alice.rig1"
            conns = await get("/api/connections")
            assert conns == [
                {"protocol": "sv1", "peer": "127.0.0.9:5000", "bytes_in": 300, "bytes_out": 4000}
            ]
            assert await get("/api/template") is None
            everything = await get("/api/all")
            assert len(everything["history"]) == 30
            page = await get("/")
            assert "/static/app.js" in page and "http" not in page.split("<footer")[0].replace(
                "http://www.w3.org", ""
            )
            assert "drawChart" in await get("/static/app.js")
            metrics = await get("/metrics")
            assert 'sv2_shares_total{result="accepted"} 12.0' in metrics
            assert 'sv2_shares_total{result="stale-share"} 1.0' in metrics
            assert "sv2_blocks_found_total 1.0" in metrics
            assert 'sv2_bytes_total{direction="in",protocol="sv2"} 1000.0' in metrics
            assert 'sv2_bytes_total{direction="out",protocol="sv1"} 4000.0' in metrics
            assert 'sv2_connections_total{protocol="sv2"} 1.0' in metrics
            assert 'sv2_connections_open{protocol="sv2"} 0.0' in metrics
            async with http.get(dashboard.url + "static/secret.py") as response:
                assert response.status == 404
    finally:
        await dashboard.close()
        await monitor.close()
        await store.close()
    kinds = [n.kind for n in recorder.notes]
    assert kinds == ["best_difficulty", "block_found"]  # first shares set no "new best"


def test_hashrate_series_buckets() -> None:
    shares = [ShareRecord(985.0, "u", "w", 3.0), ShareRecord(995.0, "u", "w", 1.0)]
    series = hashrate_series(shares, now=1000.0, window=100.0, buckets=10)
    assert [round(p["hashrate"] / 2**32 * 10, 6) for p in series][-2:] == [3.0, 1.0]
    assert series[-1]["time"] == 1000.0 and sum(p["hashrate"] for p in series[:-2]) == 0


class _Node:
    def __init__(self) -> None:
        self.url = "http://127.0.0.1:8332"
        self.ok: bool | None = True
        self.reason = ""


class _Tp:
    def __init__(self) -> None:
        self.node = _Node()


async def test_worker_offline_and_upstream_notifications(tmp_path: Path) -> None:
    now = [1000.0]
    store = await ObservedStore(tmp_path / "pool.sqlite").open()
    recorder = _Recorder()
    monitor = Monitor(
        store,
        network="regtest",
        notifier=recorder,  # type: ignore[arg-type]
        worker_offline_after=60,
        clock=lambda: now[0],
    )
    try:
        monitor.on_records([ShareRecord(1000.0, "alice", "rig1", 1.0)], [])
        tp = _Tp()
        monitor.tp = tp
        monitor.poll()
        now[0] = 1059.0
        monitor.poll()
        assert recorder.notes == []
        now[0] = 1061.0
        monitor.poll()
        monitor.poll()  # told once, not at every poll
        assert [n.kind for n in recorder.notes] == ["worker_offline"]
        assert recorder.notes[0].data["worker"] == "alice.rig1"
        monitor.on_records([ShareRecord(1062.0, "alice", "rig1", 1.0)], [])
        now[0] = 1200.0
        tp.node.ok, tp.node.reason = False, "node at http://127.0.0.1:8332 is unreachable"
        monitor.poll()
        kinds = [n.kind for n in recorder.notes]
        assert kinds == ["worker_offline", "worker_offline", "upstream_failover"]
        assert "unreachable" in recorder.notes[-1].message
    finally:
        await monitor.close()
        await store.close()


async def test_fresh_run_is_not_diluted_by_time_before_it(tmp_path: Path) -> None:
    """A run 30 s old with no earlier shares: hashrates average over those 30 s, not 10 min
    (the demo's 0.1 H/s miners must not read as 0 H/s); shares from before the start keep
    the full window."""
    clock = [1_000_000.0]
    store = await ObservedStore(tmp_path / "pool.sqlite").open()
    monitor = Monitor(store, network="regtest", clock=lambda: clock[0])
    store.monitor = monitor
    await monitor.start(poll_interval=3600)
    try:
        start = clock[0]
        await store.record_batch([ShareRecord(start + t, "demo", "cpu", 1.0) for t in (10, 20)])
        clock[0] = start + 30
        status = await monitor.status()
        expected = 2 * 2**32 / 30
        assert abs(status["hashrate_10m"] - expected) < 1
        assert abs(status["hashrate_run"] - expected) < 1 and status["hashrate_run_window"] == 30
        (worker,) = await monitor.worker_stats()
        assert abs(worker["hashrate_1h"] - expected) < 1
        await store.record_batch([ShareRecord(start - 100, "demo", "cpu", 1.0)])  # earlier run
        status = await monitor.status()
        assert abs(status["hashrate_10m"] - 3 * 2**32 / 600) < 1
        assert abs(status["hashrate_run"] - expected) < 1  # this run only
    finally:
        await monitor.close()
        await store.close()
