"""A simulated Poisson miner driving a Vardiff with a fake clock (no sleeping)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from stratumv2.mining.vardiff import NewTarget, Vardiff, work_of_target


@dataclass
class Simulation:
    """Drives ``vardiff`` with shares from a miner of a given hashrate, ticking every 5 s."""

    vardiff: Vardiff
    rng: random.Random
    now: float = 0.0
    tick: float = 5.0
    share_times: list[float] = field(default_factory=list)
    retargets: list[tuple[float, NewTarget]] = field(default_factory=list)

    def run(self, until: float, hashrate: float) -> None:
        next_tick = (self.now // self.tick + 1) * self.tick
        while True:
            rate = hashrate / work_of_target(self.vardiff.target)
            share_at = self.now + self.rng.expovariate(rate) if rate > 0 else float("inf")
            if min(share_at, next_tick) >= until:
                self.now = until
                return
            if next_tick <= share_at:
                self.now = next_tick
                next_tick += self.tick
                result = self.vardiff.on_tick(self.now)
            else:
                self.now = share_at
                self.share_times.append(share_at)
                result = self.vardiff.on_share(self.now)
            if result is not None:
                self.retargets.append((self.now, result))

    def shares_between(self, start: float, end: float) -> int:
        return sum(1 for t in self.share_times if start < t <= end)

    def retargets_between(self, start: float, end: float) -> Sequence[tuple[float, NewTarget]]:
        return [r for r in self.retargets if start < r[0] <= end]


@pytest.fixture
def simulate() -> type[Simulation]:
    return Simulation
