"""Share validation in the mining core: shares per second per core, against the hashing floor.

The floor is the SHA-256 work a share needs, on prebuilt bytes, in the same loop shape:
a standard share is one header sha256d (its merkle root is precomputed per job); an extended
share is the coinbase sha256d, one sha256d per merkle path level, and the header sha256d.
``ratio`` = validation cost / floor cost, the median over interleaved rounds of CPU time
(1.0 would be "free" validation; the goal is <= 1.5).
Every share is distinct and accepted (easy channel target, mainnet-like network target).
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable, Sequence

from bench.common import print_table, sample_shares
from stratumv2.bitcoin.coinbase import bip34_height_push
from stratumv2.bitcoin.hashes import merkle_branch
from stratumv2.bitcoin.target import MAX_TARGET
from stratumv2.bitcoin.tx import TxOut
from stratumv2.mining.extended import ExtendedChannel
from stratumv2.mining.extranonce import ExtranonceAllocator
from stratumv2.mining.jobs import JobFactory, Payout
from stratumv2.mining.shares import Valid
from stratumv2.mining.standard import StandardChannel
from stratumv2.protocol import (
    NewTemplate,
    SetNewPrevHashTd,
)

BITS = 0x17031ABE  # mainnet-like: no share is a block
NOW = 1_700_000_000
TX_COUNT = 3000  # a 12-level merkle path


def _factory() -> JobFactory:
    factory = JobFactory(
        Payout.to_script(bytes.fromhex("0014") + bytes(20)),
        pool_tag="stratumv2",
        full_extranonce_size=20,
    )
    commitment = TxOut(0, bytes.fromhex("6a24aa21a9ed") + bytes(32)).serialize()
    factory.on_new_template(
        NewTemplate(
            template_id=1,
            future_template=True,
            version=0x20000000,
            coinbase_tx_version=2,
            coinbase_prefix=bip34_height_push(900_000),
            coinbase_tx_input_sequence=0xFFFFFFFE,
            coinbase_tx_value_remaining=312_500_000,
            coinbase_tx_outputs_count=1,
            coinbase_tx_outputs=commitment,
            coinbase_tx_locktime=899_999,
            merkle_path=tuple(
                merkle_branch([i.to_bytes(32, "little") for i in range(1, TX_COUNT)])
            ),
        )
    )
    factory.on_set_new_prev_hash(
        SetNewPrevHashTd(
            template_id=1,
            prev_hash=bytes(range(32)),
            header_timestamp=NOW,
            n_bits=BITS,
            target=bytes(32),
        )
    )
    return factory


def _interleaved_times(runs: Sequence[Callable[[], int]], repeats: int) -> list[list[float]]:
    """CPU seconds per item of each run, ``repeats`` times, the runs interleaved so that a
    busy machine slows them alike (CPU time: other processes disturb it much less)."""
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for i, run in enumerate(runs):
            start = time.process_time()
            count = run()
            times[i].append((time.process_time() - start) / count)
    return times


def _floor_standard(headers: Sequence[bytes]) -> int:
    sha256 = hashlib.sha256
    for header in headers:
        sha256(sha256(header).digest()).digest()
    return len(headers)


def _floor_extended(coinbases: Sequence[bytes], nodes: Sequence[bytes], header: bytes) -> int:
    sha256 = hashlib.sha256
    for coinbase in coinbases:
        sha256(sha256(coinbase).digest()).digest()
        for node in nodes:
            sha256(sha256(node).digest()).digest()
        sha256(sha256(header).digest()).digest()
    return len(coinbases)


def main(short: bool) -> None:
    """Print the table."""
    n = 2_000 if short else 30_000
    repeats = 1 if short else 11
    factory = _factory()
    job = factory.current_job()
    tip = factory.tip
    assert tip is not None

    def standard_channel() -> StandardChannel:
        alloc = ExtranonceAllocator(20)
        ch = StandardChannel(
            1,
            "bench",
            alloc.allocate_standard(),
            requested_target=MAX_TARGET,
            network_target=tip.network_target,
        )
        ch.new_job(job, future=True, now=NOW)
        ch.on_new_prev_hash(tip)
        return ch

    def extended_channel() -> ExtendedChannel:
        alloc = ExtranonceAllocator(20)
        ch = ExtendedChannel(
            2,
            "bench",
            alloc.allocate_extended(16),
            requested_target=MAX_TARGET,
            network_target=tip.network_target,
        )
        ch.new_job(job, future=True, now=NOW)
        ch.on_new_prev_hash(tip)
        return ch

    std_shares, ext_shares = sample_shares(n, NOW, 1, 2)

    def run_standard() -> int:
        ch = standard_channel()
        validate = ch.validate_share
        for share in std_shares:
            validate(share, NOW)
        return n

    def run_extended() -> int:
        ch = extended_channel()
        validate = ch.validate_share
        for share in ext_shares:
            validate(share, NOW)
        return n

    check = extended_channel()
    assert all(isinstance(check.validate_share(s, NOW), Valid) for s in ext_shares[:50])
    check_std = standard_channel()
    assert all(isinstance(check_std.validate_share(s, NOW), Valid) for s in std_shares[:50])

    headers = [bytes(76) + i.to_bytes(4, "little") for i in range(n)]
    coinbase_len = len(job.coinbase.prefix) + 20 + len(job.coinbase.suffix)
    coinbases = [i.to_bytes(4, "little") + bytes(coinbase_len - 4) for i in range(n)]
    nodes = [bytes([k]) * 64 for k in range(len(job.merkle_path))]

    std_floor, std_ours, ext_floor, ext_ours = _interleaved_times(
        [
            lambda: _floor_standard(headers),
            run_standard,
            lambda: _floor_extended(coinbases, nodes, headers[0]),
            run_extended,
        ],
        repeats,
    )

    def row(name: str, ours: list[float], floor: list[float]) -> tuple[object, ...]:
        # rates: best run; ratio: median of the per-round ratios (floor and ours side by side)
        ratios = [o / f for o, f in zip(ours, floor, strict=True)]
        return (name, 1 / min(ours), 1 / min(floor), statistics.median(ratios))

    print_table(
        f"Share validation, one core (shares/s; extended: {coinbase_len}-byte coinbase, "
        f"{len(job.merkle_path)}-level merkle path)",
        ["channel", "validated/s", "floor/s", "ratio"],
        [row("standard", std_ours, std_floor), row("extended", ext_ours, ext_floor)],
    )
