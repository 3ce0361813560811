"""Vardiff against simulated Poisson miners (seeded RNG, fake clock)."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from stratumv2.bitcoin.target import (
    difficulty_to_target,
    hashrate_to_target,
    target_to_difficulty,
    target_to_hashrate,
)
from stratumv2.mining.vardiff import Vardiff, VardiffConfig, work_of_target

TH = 1e12
GOAL = 18.0


def share_rate_ratio(vardiff: Vardiff, true_hashrate: float) -> float:
    """Expected shares per minute at the current target, relative to the goal."""
    return true_hashrate / target_to_hashrate(vardiff.target, GOAL)


def test_starts_from_nominal_hashrate() -> None:
    v = Vardiff(VardiffConfig(), 5 * TH, now=100.0)
    assert v.target == hashrate_to_target(5 * TH, GOAL)
    assert v.hashrate_estimate == 5 * TH
    assert target_to_hashrate(v.target, GOAL) == pytest.approx(5 * TH, rel=1e-9)


@pytest.mark.parametrize("nominal", [0.0, -1.0, math.nan, math.inf, 1e30])
def test_unknown_or_absurd_nominal_starts_at_minimum(nominal: float) -> None:
    config = VardiffConfig(min_hashrate=2e6)
    v = Vardiff(config, nominal, now=0.0)
    assert v.hashrate_estimate == 2e6
    assert v.target == hashrate_to_target(2e6, GOAL)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_steady_miner_does_not_oscillate(simulate: Any, seed: int) -> None:
    sim = simulate(Vardiff(VardiffConfig(), TH, 0.0), random.Random(seed))
    sim.run(3600.0, TH)
    late = sim.retargets_between(300.0, 3600.0)
    assert len(late) <= 1, late
    per_minute = sim.shares_between(300.0, 3600.0) / (3300.0 / 60.0)
    assert 0.8 * GOAL <= per_minute <= 1.2 * GOAL
    assert 0.7 <= share_rate_ratio(sim.vardiff, TH) <= 1.4


@pytest.mark.parametrize("seed", [4, 5, 6, 7, 8])
def test_converges_from_a_wrong_nominal_hashrate(simulate: Any, seed: int) -> None:
    for nominal in (TH / 100, TH * 10):
        sim = simulate(Vardiff(VardiffConfig(), nominal, 0.0), random.Random(seed))
        sim.run(120.0, TH)
        assert 0.5 <= share_rate_ratio(sim.vardiff, TH) <= 2.0, nominal
        sim.run(1800.0, TH)
        # a first estimate made from few shares may be off by ~30%; a later correction or two
        # is allowed, a retarget every few minutes is not
        assert len(sim.retargets_between(300.0, 1800.0)) <= 3


@pytest.mark.parametrize("seed", range(6, 30))
@pytest.mark.parametrize("factor", [10.0, 0.1])
def test_follows_10x_step_within_two_minutes(simulate: Any, seed: int, factor: float) -> None:
    sim = simulate(Vardiff(VardiffConfig(), TH, 0.0), random.Random(seed))
    sim.run(600.0, TH)
    before = share_rate_ratio(sim.vardiff, TH)
    assert 0.7 <= before <= 1.4
    sim.run(720.0, TH * factor)
    assert 0.5 <= share_rate_ratio(sim.vardiff, TH * factor) <= 2.0
    assert sim.retargets_between(600.0, 720.0), "no retarget after the step"
    # and it then settles: no oscillation in the following half hour
    sim.run(2520.0, TH * factor)
    assert len(sim.retargets_between(900.0, 2520.0)) <= 1


def test_silent_miner_decays_at_bounded_rate_down_to_minimum(simulate: Any) -> None:
    config = VardiffConfig(min_difficulty=0.001)
    sim = simulate(Vardiff(config, TH, 0.0), random.Random(7))
    sim.run(600.0, TH)
    start = len(sim.retargets)
    difficulty = sim.vardiff.difficulty
    sim.run(600.0 + 6 * 3600.0, 0.0)
    decays = sim.retargets[start:]
    assert len(decays) >= 3
    min_gap = config.down_threshold / ((1 - config.down_ratio) * GOAL / 60.0)
    last_time = -math.inf  # the first decay may use evidence gathered before the miner stopped
    for when, new in decays:
        assert new.difficulty < difficulty
        assert difficulty / new.difficulty <= config.max_decrease * (1 + 1e-9)
        assert when - last_time >= min_gap - 1e-6
        difficulty, last_time = new.difficulty, when
    assert sim.vardiff.difficulty == pytest.approx(0.001)
    assert sim.vardiff.target == difficulty_to_target(0.001)
    assert sim.vardiff.on_tick(sim.now + 3600.0) is None  # at the floor: nothing more to send


def test_never_harder_than_network_target() -> None:
    network = hashrate_to_target(TH, GOAL) * 4  # the network is 4x easier than our aim
    v = Vardiff(VardiffConfig(), TH, 0.0, network_target=network)
    assert v.target == network
    # a burst of shares would push difficulty up; the cap holds
    for i in range(1, 200):
        v.on_share(i * 0.05)
    assert v.target == network
    v2 = Vardiff(VardiffConfig(), TH, 0.0)
    update = v2.set_network_target(network, 1.0)
    assert update is not None and update.target == network
    assert v2.set_network_target(network, 2.0) is None


def test_min_and_max_difficulty_clamps() -> None:
    big = Vardiff(VardiffConfig(max_difficulty=1000.0), 1e18, 0.0)
    assert big.difficulty == pytest.approx(1000.0)
    small = Vardiff(VardiffConfig(min_difficulty=50.0, min_hashrate=1.0), 1.0, 0.0)
    assert small.difficulty == pytest.approx(50.0)
    assert small.target == difficulty_to_target(50.0)


def test_late_shares_at_an_older_easier_target_count_by_their_work() -> None:
    v = Vardiff(VardiffConfig(), TH, 0.0)
    forced = v.set_hashrate(10 * TH, 0.0)  # harder target now
    assert forced is not None
    old_target = hashrate_to_target(TH, GOAL)
    # shares still in flight, found at the old (10x easier) target: 10 of them in 30 s are
    # worth one share at the new target, i.e. far below the goal rate; not a reason to go up
    for i in range(10):
        assert v.on_share(3.0 * i + 1, share_target=old_target) is None
    assert v.target == hashrate_to_target(10 * TH, GOAL)


def test_new_target_reports_consistent_values(simulate: Any) -> None:
    sim = simulate(Vardiff(VardiffConfig(), TH / 50, 0.0), random.Random(9))
    sim.run(60.0, TH)
    assert sim.retargets
    for _, new in sim.retargets:
        assert new.difficulty == pytest.approx(target_to_difficulty(new.target))
        assert new.hashrate_estimate > 0
    assert sim.vardiff.retargets == len(sim.retargets)


def test_work_of_target() -> None:
    assert work_of_target(difficulty_to_target(1.0)) == pytest.approx(2**32, rel=1e-4)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"shares_per_minute": 0},
        {"min_hashrate": 0},
        {"up_ratio": 1.0},
        {"down_ratio": 1.2},
        {"max_decrease": 1.0},
        {"min_difficulty": 10.0, "max_difficulty": 1.0},
    ],
)
def test_config_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        VardiffConfig(**kwargs)
