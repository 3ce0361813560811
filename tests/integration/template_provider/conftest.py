"""A running TP (service + Noise server on 127.0.0.1:0) over the embedded regtest node."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stratumv2.bitcoin.hashes import sha256d
from stratumv2.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut
from stratumv2.protocol import NewTemplate, SetNewPrevHashTd, SubmitSolution
from stratumv2.roles.template_provider import testing

PAYOUT = bytes.fromhex("0014751e76e8199196d454941c45d1b3a323f1433bd6")


def running_tp(url: str, cookie: Path, datadir: Path, **kwargs: Any) -> Any:
    """The shared in-process TP, refreshing every second as these tests expect."""
    kwargs.setdefault("refresh_interval", 1.0)
    return testing.running_tp(url, cookie, datadir, **kwargs)


def coinbase_from_template(
    nt: NewTemplate, payout: bytes = PAYOUT, extranonce: bytes = b""
) -> Transaction:
    """What a pool builds from NewTemplate alone: payout first, the TP's outputs last."""
    outputs = [TxOut(nt.coinbase_tx_value_remaining, payout)]
    raw = nt.coinbase_tx_outputs
    pos = 0
    for _ in range(nt.coinbase_tx_outputs_count):
        value = int.from_bytes(raw[pos : pos + 8], "little")
        length = raw[pos + 8]
        outputs.append(TxOut(value, raw[pos + 9 : pos + 9 + length]))
        pos += 9 + length
    assert pos == len(raw)
    script_sig = nt.coinbase_prefix + (extranonce or b"\x00" * 8)
    return Transaction(
        version=nt.coinbase_tx_version,
        inputs=(TxIn(OutPoint.null(), script_sig, nt.coinbase_tx_input_sequence, (b"\x00" * 32,)),),
        outputs=tuple(outputs),
        locktime=nt.coinbase_tx_locktime,
    )


def solve_template(
    nt: NewTemplate, prev: SetNewPrevHashTd, extranonce: bytes = b""
) -> tuple[SubmitSolution, str]:
    """Grind a nonce on the regtest target (a few tries); the solution and the block hash."""
    coinbase = coinbase_from_template(nt, extranonce=extranonce)
    node = coinbase.txid
    for sibling in nt.merkle_path:
        node = sha256d(node + sibling)
    target = int.from_bytes(prev.target, "little")
    head = (
        nt.version.to_bytes(4, "little")
        + prev.prev_hash
        + node
        + prev.header_timestamp.to_bytes(4, "little")
        + prev.n_bits.to_bytes(4, "little")
    )
    for nonce in range(1 << 24):
        h = sha256d(head + nonce.to_bytes(4, "little"))
        if int.from_bytes(h, "little") <= target:
            solution = SubmitSolution(
                template_id=nt.template_id,
                version=nt.version,
                header_timestamp=prev.header_timestamp,
                header_nonce=nonce,
                coinbase_tx=coinbase.serialize(),
            )
            return solution, h[::-1].hex()
    raise AssertionError("no nonce found")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def tp_factory() -> Callable[..., Any]:
    return running_tp


@pytest.fixture
def solver() -> Callable[..., tuple[SubmitSolution, str]]:
    return solve_template


@pytest.fixture
def port_factory() -> Callable[[], int]:
    return free_port
