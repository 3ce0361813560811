"""SV2 codec throughput: encode and decode, messages per second, for every message type.

Baseline: one sha256d of an 80-byte header (bench.common.sha256d_header), measured in the same
run, round-robin with each row, in CPU time. The ratio column is (cost of one encode or
decode) / (cost of one sha256d), the median over the rounds; the goal is <= 1 for decoding
SubmitSharesStandard and encoding NewMiningJob.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable

from bench.common import print_table, sha256d_header
from stratumv2 import protocol as p

_HASH = bytes(range(32))
_TARGET = bytes(26) + b"\xff\xff" + bytes(4)


def sample_messages() -> list[p.Message]:
    """One typical instance of every message type."""
    return [
        p.SetupConnection(0, 2, 2, 4, "0.0.0.0", 3333, "SRI", "Translator Proxy", "", ""),
        p.SetupConnectionSuccess(2, 0),
        p.SetupConnectionError(0, "protocol-version-mismatch"),
        p.ChannelEndpointChanged(1),
        p.Reconnect("pool.example.com", 3333),
        p.OpenStandardMiningChannel(1, "user.worker", 2.0**40, b"\xff" * 32),
        p.OpenStandardMiningChannelSuccess(1, 2, _TARGET, bytes(20), 3),
        p.OpenMiningChannelError(1, "unknown-user"),
        p.OpenExtendedMiningChannel(1, "user.worker", 2.0**40, b"\xff" * 32, 4),
        p.OpenExtendedMiningChannelSuccess(1, 2, _TARGET, 16, bytes(4), 3),
        p.NewMiningJob(1, 5, None, 0x20000000, _HASH),
        p.UpdateChannel(1, 2.0**40, b"\xff" * 32),
        p.UpdateChannelError(1, "invalid-channel-id"),
        p.CloseChannel(1, "bye"),
        p.SetExtranoncePrefix(1, bytes(8)),
        p.SubmitSharesStandard(1, 7, 2, 0x12345678, 0x66000000, 0x20000000),
        p.SubmitSharesExtended(1, 8, 2, 0x12345678, 0x66000000, 0x20000000, bytes(16)),
        p.SubmitSharesSuccess(1, 8, 10, 10_000),
        p.SubmitSharesError(1, 8, "stale-share"),
        p.NewExtendedMiningJob(3, 5, None, 0x20000000, True, (_HASH,) * 12, bytes(42), bytes(120)),
        p.SetNewPrevHashMining(3, 5, _HASH, 0x66000000, 0x1703A30C),
        p.SetTarget(1, _TARGET),
        p.SetCustomMiningJob(
            1,
            9,
            bytes(8),
            0x20000000,
            _HASH,
            0x66000000,
            0x1703A30C,
            2,
            bytes(30),
            0xFFFFFFFF,
            bytes(80),
            0,
            (_HASH,) * 12,
        ),
        p.SetCustomMiningJobSuccess(1, 9, 10),
        p.SetCustomMiningJobError(1, 9, "stale-chain-tip"),
        p.SetGroupChannel(3, tuple(range(1, 11))),
        p.AllocateMiningJobToken("user", 1),
        p.AllocateMiningJobTokenSuccess(1, bytes(8), bytes(40)),
        p.ProvideMissingTransactions(1, tuple(range(10))),
        p.ProvideMissingTransactionsSuccess(1, (bytes(250),) * 10),
        p.DeclareMiningJob(
            1, bytes(8), 0x20000000, bytes(60), bytes(120), (_HASH,) * 100, bytes(32)
        ),
        p.DeclareMiningJobSuccess(1, bytes(8)),
        p.DeclareMiningJobError(1, "invalid-job", b"details"),
        p.PushSolution(bytes(20), _HASH, 1, 2, 3, 4),
        p.CoinbaseOutputConstraints(100, 4),
        p.NewTemplate(
            1,
            False,
            0x30000000,
            2,
            bytes.fromhex("03012100"),
            0xFFFFFFFF,
            2_100_000_000_000_000,
            1,
            bytes(46),
            903387,
            (_HASH,) * 12,
        ),
        p.SetNewPrevHashTd(2, _HASH, 1661877399, 0x037FFFFF, _TARGET),
        p.RequestTransactionData(1),
        p.RequestTransactionDataSuccess(1, bytes(32), (bytes(250),) * 10),
        p.RequestTransactionDataError(1, "stale-template-id"),
        p.SubmitSolution(1, 0x20000000, 1661877399, 42, bytes(250)),
        p.RequestExtensions(1, (2,)),
        p.RequestExtensionsSuccess(1, (2,)),
        p.RequestExtensionsError(1, (3,), (2,)),
    ]


def _calibrate(fn: Callable[[], object], budget: float) -> int:
    """Calls of ``fn`` that take about ``budget`` seconds of CPU time."""
    n = 1
    while True:
        start = time.process_time()
        for _ in range(n):
            fn()
        if time.process_time() - start >= budget / 4 or n >= 1 << 22:
            return max(1, int(n * budget / max(time.process_time() - start, 1e-9)))
        n *= 4


def _cpu_seconds(fn: Callable[[], object], n: int) -> float:
    """CPU seconds per call of ``fn`` over ``n`` calls (CPU time: other processes on a shared
    machine disturb it much less than wall time)."""
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n


def _interleaved(fns: list[Callable[[], object]], rounds: int, budget: float) -> list[list[float]]:
    """Per-call CPU seconds of each of ``fns``, measured round-robin ``rounds`` times so that a
    load change hits the baseline and the subjects alike."""
    counts = [_calibrate(fn, budget) for fn in fns]
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            times[i].append(_cpu_seconds(fn, counts[i]))
    return times


def _median_ratio(subject: list[float], baseline: list[float]) -> float:
    return statistics.median(s / b for s, b in zip(subject, baseline, strict=True))


def main(short: bool) -> None:
    """Print messages/s for encode_frame and decode_frame of every message type."""
    # Each row: the sha256d baseline, the encoder and the decoder measured round-robin in
    # CPU time; the ratio is the median of the per-round ratios. The two goal rows get more
    # rounds. Every callable is a single call of a function (no lambda around the subject
    # but not around the baseline).
    budget = 0.002 if short else 0.01
    rows: list[list[object]] = []
    goals: list[str] = []
    baseline_rates: list[float] = []
    for message in sample_messages():
        frame = p.encode_frame(message)
        assert p.decode_frame(frame) == message
        name = type(message).__name__
        goal_enc = isinstance(message, p.NewMiningJob) and message.min_ntime is None
        goal_dec = name == "SubmitSharesStandard"
        rounds = 1 if short else (41 if goal_enc or goal_dec else 7)
        base, enc, dec = _interleaved(
            [
                sha256d_header,
                functools.partial(p.encode_frame, message),
                functools.partial(p.decode_frame, frame),
            ],
            rounds,
            budget,
        )
        baseline_rates.append(1 / min(base))
        enc_ratio, dec_ratio = _median_ratio(enc, base), _median_ratio(dec, base)
        rows.append([f"encode {name}", len(frame), 1 / min(enc), enc_ratio])
        rows.append([f"decode {name}", len(frame), 1 / min(dec), dec_ratio])
        if goal_enc:
            goals.append(f"encode NewMiningJob ratio {enc_ratio:.2f}")
        if goal_dec:
            goals.append(f"decode SubmitSharesStandard ratio {dec_ratio:.2f}")
    baseline_row: list[object] = [
        "sha256d(80-byte header) baseline",
        "-",
        statistics.median(baseline_rates),
        1.0,
    ]
    print_table(
        "SV2 codec: frames per second of CPU time (ratio = cost of one call / cost of one "
        "sha256d of an 80-byte header, measured round-robin beside each row, median ratio)",
        ["operation", "bytes", "per second", "ratio"],
        [baseline_row, *rows],
    )
    print(f"goals (ratio <= 1): {'; '.join(goals)}")
