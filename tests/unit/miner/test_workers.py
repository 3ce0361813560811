"""Worker processes find easy shares, switch work promptly, throttle, and stop cleanly."""

from __future__ import annotations

import time

from stratumv2.bitcoin.hashes import sha256d
from stratumv2.bitcoin.header import BlockHeader
from stratumv2.bitcoin.target import MAX_TARGET, bits_to_target
from stratumv2.roles.miner.core import WorkUnit
from stratumv2.roles.miner.workers import Found, HashesDone, WorkerPool

REGTEST_BITS = 0x207FFFFF
NOW = 1_700_000_000


def work_unit(
    work_id: int, target: int, extranonce_size: int = 4, network_target: int = MAX_TARGET >> 64
) -> WorkUnit:
    return WorkUnit(
        work_id=work_id,
        job_id=work_id,
        version=0x20000000,
        prev_hash=bytes([work_id]) * 32,
        nbits=REGTEST_BITS,
        ntime=NOW,
        target=target,
        network_target=network_target,
        version_mask=0x1FFFFFE0,
        coinbase_head=b"\x01" * 40,
        coinbase_tail=b"\x02" * 30,
        merkle_path=(b"\x03" * 32,),
        extranonce_size=extranonce_size,
    )


def collect(pool: WorkerPool, want: int, timeout: float = 30.0) -> list[Found]:
    found: list[Found] = []
    deadline = time.monotonic() + timeout
    while len(found) < want and time.monotonic() < deadline:
        found += [r for r in pool.poll(0.2) if isinstance(r, Found)]
    return found


def test_workers_find_regtest_shares_and_stop_cleanly() -> None:
    target = bits_to_target(REGTEST_BITS) >> 10  # about one hash in 2048
    with WorkerPool(workers=2) as pool:
        assert pool.alive() == 2
        work = work_unit(1, target)
        pool.set_work(work)
        found = collect(pool, 20)
        deadline = time.monotonic() + 30
        while {f.worker for f in found} != {0, 1} and time.monotonic() < deadline:
            found += collect(pool, 1)
        assert len(found) >= 20
        assert {f.worker for f in found} == {0, 1}
        keys = set()
        for item in found:
            s = item.solution
            assert s.work_id == 1 and s.ntime == NOW
            header = BlockHeader(
                s.version,
                work.prev_hash,
                work.merkle_root_for(s.extranonce),
                s.ntime,
                REGTEST_BITS,
                s.nonce,
            ).serialize()
            assert sha256d(header) == s.hash and s.value <= target
            assert s.version & ~0x1FFFFFE0 == 0x20000000
            keys.add((s.extranonce, s.version, s.nonce))
        assert len(keys) == len(found)  # the workers never hash the same header

        # New work replaces the old one promptly: once a worker sent a share of the new
        # work, nothing of the old work comes from it any more.
        pool.set_work(work_unit(2, target))
        switched: set[int] = set()
        deadline = time.monotonic() + 20
        while switched != {0, 1} and time.monotonic() < deadline:
            for r in pool.poll(0.2):
                if isinstance(r, Found) and r.solution.work_id == 2:
                    switched.add(r.worker)
        assert switched == {0, 1}
        after = collect(pool, 8)
        assert after and all(f.solution.work_id == 2 for f in after)

        pool.pause()
        while pool.poll(0.3):
            pass  # what was found before the pause
        assert not [r for r in pool.poll(0.5) if isinstance(r, Found)]
        processes = list(pool._processes)
    assert all(not p.is_alive() for p in processes)
    assert all(p.exitcode == 0 for p in processes)


def test_standard_work_without_extranonce_and_hash_reports() -> None:
    work = WorkUnit(
        7,
        7,
        0x20000000,
        bytes(32),
        REGTEST_BITS,
        NOW,
        MAX_TARGET >> 12,
        MAX_TARGET >> 40,
        0x1FFFFFE0,
        merkle_root=bytes(range(32)),
    )
    with WorkerPool(workers=1) as pool:
        pool.set_work(work)
        results = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(isinstance(r, HashesDone) for r in results):
            results += pool.poll(0.2)
        assert any(isinstance(r, Found) and r.solution.extranonce == b"" for r in results)
        assert pool.hashes > 0


def test_hashrate_limit_throttles() -> None:
    limit = 2000.0
    with WorkerPool(workers=1, hashrate_limit=limit) as pool:
        pool.set_work(work_unit(3, 0))  # target 0: nothing found, only counted
        deadline = time.monotonic() + 30
        while not pool.hashes and time.monotonic() < deadline:
            pool.poll(0.2)  # the worker started and reported once
        base = pool.hashes
        start = time.monotonic()
        while time.monotonic() - start < 2.0:
            pool.poll(0.2)
        elapsed = time.monotonic() - start
        done = pool.hashes - base
        assert base > 0 and 0 < done <= limit * (elapsed + 0.6) * 1.2, (done, elapsed)


def test_workers_stop_on_a_block_candidate() -> None:
    network = bits_to_target(REGTEST_BITS)  # every other hash is a block
    with WorkerPool(workers=2) as pool:
        pool.set_work(work_unit(4, network, network_target=network))
        results = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(pool.dead) == 0:
            results += pool.poll(0.3)
            if sum(isinstance(r, HashesDone) for r in results) >= 2 and not pool.poll(0.6):
                break  # both workers reported and went quiet
        found = [r for r in results if isinstance(r, Found)]
        assert {f.worker for f in found} == {0, 1}
        assert len(found) == 2  # one block each, then idle
        assert all(f.solution.value <= network for f in found)
        # New work wakes them up again.
        pool.set_work(work_unit(5, network, network_target=network))
        assert len(collect(pool, 2)) == 2
