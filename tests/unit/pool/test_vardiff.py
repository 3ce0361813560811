"""Vardiff in the pool core, on a fake clock: SetTarget follows the real share rate."""

from __future__ import annotations

from typing import Any

from stratumv2.bitcoin.target import u256_to_target
from stratumv2.protocol import SetTarget, SubmitSharesError


def _set_targets(actions: list[Any]) -> list[SetTarget]:
    return [a[1] for a in actions if isinstance(a, tuple) and isinstance(a[1], SetTarget)]


def test_fast_miner_gets_harder_target(kit: Any) -> None:
    miner = kit.miner(1)
    miner.open_standard(hashrate=1000.0)  # 18 shares/min expected; it sends 5 per second
    start = miner.channels[1].target
    now = kit.now
    changes: list[SetTarget] = []
    for i in range(200):
        now += 0.2
        out = miner.submit(miner.share(1, start=i << 22), now=now)
        assert not [a for a in out if isinstance(a, tuple) and isinstance(a[1], SubmitSharesError)]
        changes += _set_targets(out)
        if changes:
            break
    assert changes, "no retarget after 40 s at 16x the goal rate"
    new = u256_to_target(changes[0].maximum_target)
    assert start / new > 4  # clearly harder, in one step
    assert kit.core.channel(1, 1).target == new
    assert now - kit.now < 40


def test_steady_miner_is_left_alone(kit: Any) -> None:
    miner = kit.miner(1)
    miner.open_standard(hashrate=1000.0)
    now = kit.now
    changes: list[SetTarget] = []
    for i in range(30):  # exactly the goal rate: one share every 60/18 s
        now += 60 / 18
        changes += _set_targets(miner.submit(miner.share(1, start=i << 22), now=now))
        changes += _set_targets(kit.tick(now))
    assert changes == []


def test_silent_miner_target_gets_easier_on_ticks(kit: Any) -> None:
    miner = kit.miner(1)
    miner.open_standard(hashrate=1e6)
    start = miner.channels[1].target
    changes: list[SetTarget] = []
    now = kit.now
    for _ in range(120):
        now += 5
        changes += _set_targets(kit.tick(now))
    assert changes
    assert all(u256_to_target(c.maximum_target) > start for c in changes)
    # the core keeps the channel in step with what it announced
    assert kit.core.channel(1, 1).target == u256_to_target(changes[-1].maximum_target)


def test_no_vardiff_keeps_target(kit_factory: Any) -> None:
    kit = kit_factory(vardiff=None)
    miner = kit.miner(1)
    miner.open_standard(hashrate=1000.0)
    now = kit.now
    for i in range(20):
        now += 0.1
        assert not _set_targets(miner.submit(miner.share(1, start=i << 22), now=now))
    assert not _set_targets(kit.tick(now + 600))
