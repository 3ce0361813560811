"""SV2 codec throughput: encode and decode, messages per second, for every message type.

Baseline: one sha256d of an 80-byte header (bench.common.sha256d_header), measured in the same
run. The ratio column is (cost of one encode or decode) / (cost of one sha256d); the goal is
<= 1 for decoding SubmitSharesStandard and encoding NewMiningJob.
"""

from __future__ import annotations

from bench.common import per_second, print_table, sha256d_header
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


def main(short: bool) -> None:
    """Print messages/s for encode_frame and decode_frame of every message type."""
    # The baseline is re-measured next to every message type (before and after, the faster
    # of the two kept) so that load changes on a shared machine do not skew the ratios.
    first = per_second(sha256d_header, short)
    rows: list[list[object]] = [["sha256d(80-byte header) baseline", "-", first, 1.0]]
    goals: list[str] = []
    for message in sample_messages():
        frame = p.encode_frame(message)
        assert p.decode_frame(frame) == message
        name = type(message).__name__
        before = per_second(sha256d_header, short)
        enc = per_second(lambda m=message: p.encode_frame(m), short)
        dec = per_second(lambda f=frame: p.decode_frame(f), short)
        baseline = max(before, per_second(sha256d_header, short))
        rows.append([f"encode {name}", len(frame), enc, baseline / enc])
        rows.append([f"decode {name}", len(frame), dec, baseline / dec])
        if isinstance(message, p.NewMiningJob) and message.min_ntime is None:
            goals.append(f"encode NewMiningJob ratio {baseline / enc:.2f}")
        if name == "SubmitSharesStandard":
            goals.append(f"decode SubmitSharesStandard ratio {baseline / dec:.2f}")
    print_table(
        "SV2 codec: frames per second (ratio = cost of one call / cost of one sha256d of an "
        "80-byte header, baseline re-measured beside each row)",
        ["operation", "bytes", "per second", "ratio"],
        rows,
    )
    print(f"goals (ratio <= 1): {'; '.join(goals)}")
