"""Per-channel variable difficulty: keep a miner at a chosen share rate, whatever its hashrate.

Sans-IO: every entry point takes ``now`` (seconds, any monotonic origin); nothing reads a clock.

Algorithm
---------
The controller reasons about *work*, not share counts: a share found at target ``T`` stands
for ``2**256 / (T + 1)`` hashes on average, so shares found under an older target (still in
flight after a ``SetTarget``) count correctly, and estimates are hashrates (H/s).

After each retarget the current target is assumed right: shares should arrive as a Poisson
process at the goal rate ``r``. Two CUSUM change detectors (Page's cumulative sum, the
optimal sequential test for a step change) watch for the rate being ``up_ratio`` times
higher or ``down_ratio`` times lower. Each keeps a log-likelihood score: a share adds
``ln(ratio)``, elapsed time ``dt`` adds ``-(ratio - 1) * r * dt``; a score that falls to 0
restarts, so it always measures the evidence since the change most likely happened. When a
score reaches its threshold the detector fires and the new hashrate is estimated from the
work found after the change point (none of the stale data before it): for the up detector
the maximum-likelihood change point inside its run, for the down detector the run's start.
That is ckpool's idea of a decaying share-rate window, but with the window chosen by the
data instead of a fixed time constant: a 10x step is followed within seconds (up) or about
a minute (down), yet steady Poisson arrivals almost never cross the thresholds (the scores
drift downwards under the null), so there is no oscillation. The gap between
``down_ratio`` and ``up_ratio`` is the hysteresis band.

Estimates: up, ``(work - last share) / time`` after the change point (the run stops at an
arrival, and ``(n - 1) / t`` is the unbiased Poisson rate estimate then). Down,
``(work + half a share) / time / c`` with ``c = 1 + min(1, 2 / sqrt(n + 1))`` for ``n`` shares
in the run (2 up to 3 shares, tending to 1 for many): a silent miner still yields a finite
estimate, and erring towards an easier target is cheap (more shares arrive, so the up
detector soon corrects it precisely) whereas erring harder would starve the estimate of data.

One retarget lowers the difficulty by at most ``max_decrease``, and the down detector needs
at least ``down_threshold / ((1 - down_ratio) * r)`` seconds to fire, so a miner that stops
sending shares sees its difficulty decay at a bounded rate, never below the minimum.
Clamps, in order: ``[min_difficulty, max_difficulty]``, then never harder than the network
target (a share meeting the network target is already a block).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from stratumv2.bitcoin.target import (
    difficulty_to_target,
    hashrate_to_target,
    target_to_difficulty,
    target_to_hashrate,
)

__all__ = ["NewTarget", "Vardiff", "VardiffConfig", "work_of_target"]

_MAX_ARRIVALS = 1024  # shares kept per detector run for the change-point estimate


@dataclass(frozen=True, slots=True)
class VardiffConfig:
    """Vardiff settings (the pool's ``[vardiff]`` config maps onto this).

    shares_per_minute: the share rate to aim at (ckpool and SRI use 18-20).
    min_hashrate: the starting estimate when the channel's nominal hashrate is 0 or absurd.
    max_hashrate: above this a nominal hashrate is treated as absurd (H/s).
    up_ratio / down_ratio: the rate changes the two CUSUM detectors look for (hysteresis).
    up_threshold / down_threshold: CUSUM log-likelihood thresholds; higher = fewer false
        retargets, slower reaction (up reacts fast anyway: shares arrive faster).
    max_decrease: largest factor by which one retarget may make the target easier to hit.
    min_difficulty / max_difficulty: difficulty clamps (pdiff); max 0 means no maximum.
    """

    shares_per_minute: float = 18.0
    min_hashrate: float = 1e6
    max_hashrate: float = 1e21
    up_ratio: float = 1.7
    down_ratio: float = 0.3
    up_threshold: float = 16.0
    down_threshold: float = 12.0
    max_decrease: float = 16.0
    min_difficulty: float = 1e-6
    max_difficulty: float = 0.0

    def __post_init__(self) -> None:
        if not self.shares_per_minute > 0:
            raise ValueError("shares_per_minute must be > 0")
        if not 0 < self.min_hashrate <= self.max_hashrate:
            raise ValueError("need 0 < min_hashrate <= max_hashrate")
        if not (self.up_ratio > 1 > self.down_ratio > 0):
            raise ValueError("need up_ratio > 1 > down_ratio > 0")
        if not (self.up_threshold > 0 and self.down_threshold > 0):
            raise ValueError("thresholds must be > 0")
        if not self.max_decrease > 1:
            raise ValueError("max_decrease must be > 1")
        if not self.min_difficulty > 0:
            raise ValueError("min_difficulty must be > 0")
        if self.max_difficulty and self.max_difficulty < self.min_difficulty:
            raise ValueError("max_difficulty must be 0 (none) or >= min_difficulty")


@dataclass(frozen=True, slots=True)
class NewTarget:
    """A retarget decision: send ``SetTarget`` (or ``mining.set_difficulty``) with this."""

    target: int
    difficulty: float
    hashrate_estimate: float


def work_of_target(target: int) -> float:
    """Expected hashes per share at ``target``: ``2**256 / (target + 1)``."""
    return float((1 << 256) / (target + 1))


class Vardiff:
    """Variable difficulty controller for one channel (see the module docstring)."""

    def __init__(
        self,
        config: VardiffConfig,
        initial_hashrate: float,
        now: float,
        network_target: int = 1,
    ) -> None:
        self.config = config
        self.network_target = network_target
        self._goal_per_second = config.shares_per_minute / 60.0
        hashrate = initial_hashrate
        if not math.isfinite(hashrate) or not (
            config.min_hashrate <= hashrate <= config.max_hashrate
        ):
            hashrate = config.min_hashrate  # unknown, too small or absurd: start low
        self.hashrate_estimate: float = hashrate
        self.target: int = self._clamp(hashrate_to_target(hashrate, config.shares_per_minute))
        self._share_work = work_of_target(self.target)  # cached: the share path's hot value
        self._log_up = math.log(config.up_ratio)
        self._log_down = math.log(config.down_ratio)
        self._up_drift = (config.up_ratio - 1.0) * self._goal_per_second
        self._down_drift = (1.0 - config.down_ratio) * self._goal_per_second
        self._up_threshold = config.up_threshold
        self._down_threshold = config.down_threshold
        self.retargets = 0
        self._last_share_work = 0.0
        self._restart_window(now)

    # -- public ------------------------------------------------------------------------

    @property
    def difficulty(self) -> float:
        """Current pool difficulty (pdiff) of ``target``."""
        return target_to_difficulty(self.target)

    def on_share(self, now: float, share_target: int | None = None) -> NewTarget | None:
        """Account one accepted share (found at ``share_target``, default the current one)."""
        if now > self._last_update:
            self._advance(now)
        if share_target is None or share_target == self.target:
            self._add_share(self._share_work, 1.0, now)
        else:
            work = work_of_target(share_target)
            self._add_share(work, work / self._share_work, now)
        if self._up.score < self._up_threshold and self._down.score < self._down_threshold:
            return None
        return self._decide(now)

    def on_tick(self, now: float) -> NewTarget | None:
        """Periodic check (every few seconds): lowers the difficulty of a slow or silent miner."""
        self._advance(now)
        return self._decide(now)

    def set_network_target(self, network_target: int, now: float) -> NewTarget | None:
        """New network target (difficulty adjustment): clamp the channel target to it."""
        self.network_target = network_target
        clamped = self._clamp(self.target)
        if clamped == self.target:
            return None
        return self._apply(clamped, now)

    def set_hashrate(self, hashrate: float, now: float) -> NewTarget | None:
        """Force an estimate (e.g. ``UpdateChannel.nominal_hash_rate``); restarts the window."""
        if not math.isfinite(hashrate) or hashrate <= 0:
            return None
        self.hashrate_estimate = hashrate
        new = self._clamp(hashrate_to_target(hashrate, self.config.shares_per_minute))
        return self._apply(new, now, force=True)

    # -- internals ---------------------------------------------------------------------

    def _restart_window(self, now: float) -> None:
        self._last_update = now
        self._up = _Run(now)
        self._down = _Run(now)

    def _advance(self, now: float) -> None:
        """Let time pass: no share arrived between the last update and ``now``."""
        dt = now - self._last_update
        if dt <= 0:
            return
        self._last_update = now
        up = self._up
        up.score -= self._up_drift * dt
        if up.score <= 0:
            up.reset(now)
        self._down.score += self._down_drift * dt

    def _add_share(self, work: float, shares: float, now: float) -> None:
        """One share of ``work`` hashes, ``shares`` shares at the current target."""
        self._last_share_work = work
        arrival = (now, work)
        up, down = self._up, self._down
        up.score += self._log_up * shares
        down.score += self._log_down * shares
        up.work += work
        down.work += work
        up.arrivals.append(arrival)
        down.arrivals.append(arrival)
        if len(up.arrivals) > _MAX_ARRIVALS:
            up.start, dropped = up.arrivals.popleft()
            up.work -= dropped
        if len(down.arrivals) > _MAX_ARRIVALS:
            down.start, dropped = down.arrivals.popleft()
            down.work -= dropped
        if down.score <= 0:
            down.reset(now)  # the run starts after this share

    def _decide(self, now: float) -> NewTarget | None:
        if self._up.score >= self.config.up_threshold:
            # the run stops at an arrival: (n - 1) / t is the unbiased rate estimate
            work, span = self._change_point(self._up, now, higher=True)
            hashrate = (work - self._last_share_work) / span
        elif self._down.score >= self.config.down_threshold:
            share_work = self._share_work
            work, span = self._change_point(self._down, now, higher=False)
            shares = work / share_work
            caution = 1.0 + min(1.0, 2.0 / math.sqrt(shares + 1.0))  # 2 for <= 3 shares
            hashrate = (work + 0.5 * share_work) / span / caution
            current = target_to_hashrate(self.target, self.config.shares_per_minute)
            hashrate = max(hashrate, current / self.config.max_decrease)
        else:
            return None
        self.hashrate_estimate = hashrate
        return self._apply(
            self._clamp(hashrate_to_target(hashrate, self.config.shares_per_minute)), now
        )

    def _change_point(self, run: _Run, now: float, higher: bool) -> tuple[float, float]:
        """Work and time since the most likely change point inside a detector's run.

        A run starts where its CUSUM score was last 0, which can be before the change. The
        maximum-likelihood split (the goal rate before it, a higher or lower one after) is
        found among the run's start and its share arrivals.
        """
        goal = self._goal_per_second
        share_work = self._share_work
        arrivals = list(run.arrivals)
        if higher:
            arrivals.pop()
        best_score, best = -math.inf, (run.work, max(now - run.start, 1e-9))
        work_after = run.work
        for start, arrived in zip(
            [run.start, *(t for t, _ in arrivals)], [*(w for _, w in arrivals), 0.0], strict=True
        ):
            span = now - start
            if span > 0:
                m = work_after / share_work
                rate = (m if higher else m + 0.5) / span
                score = m * math.log(rate / goal) - (rate - goal) * span if rate > 0 else 0.0
                if score > best_score and (rate > goal) == higher:
                    best_score, best = score, (work_after, span)
            work_after -= arrived
        return best

    def _apply(self, target: int, now: float, force: bool = False) -> NewTarget | None:
        self._restart_window(now)
        if target == self.target and not force:
            return None
        self.target = target
        self._share_work = work_of_target(target)
        self.retargets += 1
        return NewTarget(target, target_to_difficulty(target), self.hashrate_estimate)

    def _clamp(self, target: int) -> int:
        config = self.config
        target = min(target, difficulty_to_target(config.min_difficulty))
        if config.max_difficulty:
            target = max(target, difficulty_to_target(config.max_difficulty))
        return max(target, self.network_target, 1)


@dataclass(slots=True)
class _Run:
    """One CUSUM detector's state: its log-likelihood score and the work since its start."""

    start: float
    score: float = 0.0
    work: float = 0.0
    arrivals: deque[tuple[float, float]] = field(default_factory=deque)

    def reset(self, now: float) -> None:
        """Start over at ``now`` (in place: cheaper than a new run on every share)."""
        self.start = now
        self.score = 0.0
        self.work = 0.0
        self.arrivals.clear()
