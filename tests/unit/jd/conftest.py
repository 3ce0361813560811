"""Fixtures for Job Declaration: a template with transactions, a JDC-built coinbase paying the
pool's JDS outputs, and the DeclareMiningJob / SetCustomMiningJob a JDC sends for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from stratumv2.bitcoin.block import witness_commitment, witness_commitment_script
from stratumv2.bitcoin.coinbase import bip34_height_push
from stratumv2.bitcoin.hashes import merkle_branch
from stratumv2.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut
from stratumv2.mining.jobs import JobFactory, MiningJob, Payout
from stratumv2.protocol import (
    DeclareMiningJob,
    NewTemplate,
    SetCustomMiningJob,
    SetNewPrevHashTd,
)
from stratumv2.roles.jd_server.core import ChainState, JdsConfig, JdsCore

REGTEST_BITS = 0x207FFFFF
HARD_BITS = 0x1703A30C
HEIGHT = 321
NOW = 1_700_000_000.0
POOL_SCRIPT = bytes.fromhex("0014") + bytes(range(20))
OTHER_SCRIPT = bytes.fromhex("0014") + bytes(range(100, 120))
PREV_HASH = bytes(range(32))
FULL_EXTRANONCE = 20


def make_transactions(count: int, salt: int = 0) -> list[Transaction]:
    """Distinct segwit transactions (so wtxid != txid)."""
    return [
        Transaction(
            2,
            (
                TxIn(
                    OutPoint(bytes([salt, i % 256, i // 256]) + bytes(29), 0),
                    b"",
                    0xFFFFFFFD,
                    (b"w" * (i + 1),),
                ),
            ),
            (TxOut(1000 + i, b"\x51"),),
        )
        for i in range(count)
    ]


def make_template(template_id: int, txs: list[Transaction], height: int = HEIGHT) -> NewTemplate:
    commitment = witness_commitment([tx.wtxid for tx in txs])
    out = TxOut(0, witness_commitment_script(commitment)).serialize()
    return NewTemplate(
        template_id=template_id,
        future_template=True,
        version=0x20000000,
        coinbase_tx_version=2,
        coinbase_prefix=bip34_height_push(height),
        coinbase_tx_input_sequence=0xFFFFFFFE,
        coinbase_tx_value_remaining=5_000_000_000,
        coinbase_tx_outputs_count=1,
        coinbase_tx_outputs=out,
        coinbase_tx_locktime=height - 1,
        merkle_path=tuple(merkle_branch([tx.txid for tx in txs])),
    )


def make_prev_hash(template_id: int, bits: int = REGTEST_BITS) -> SetNewPrevHashTd:
    from stratumv2.bitcoin.target import bits_to_target

    return SetNewPrevHashTd(
        template_id=template_id,
        prev_hash=PREV_HASH,
        header_timestamp=int(NOW) - 10,
        n_bits=bits,
        target=bits_to_target(bits).to_bytes(32, "little"),
    )


def declare_message(
    job: MiningJob, txs: list[Transaction], token: bytes, request_id: int = 7
) -> DeclareMiningJob:
    """What a JDC sends for ``job`` (coinbase in its witness form)."""
    return DeclareMiningJob(
        request_id=request_id,
        mining_job_token=token,
        version=job.version,
        coinbase_tx_prefix=job.coinbase.witness_prefix(),
        coinbase_tx_suffix=job.coinbase.witness_suffix(),
        wtxid_list=tuple(tx.wtxid for tx in txs),
        excess_data=b"",
    )


def custom_message(
    job: MiningJob, token: bytes, channel_id: int = 1, request_id: int = 7, bits: int = REGTEST_BITS
) -> SetCustomMiningJob:
    """The SetCustomMiningJob for ``job`` (what the JDC sends after DeclareMiningJob.Success)."""
    prefix, suffix = job.coinbase.prefix, job.coinbase.suffix
    return SetCustomMiningJob(
        channel_id=channel_id,
        request_id=request_id,
        mining_job_token=token,
        version=job.version,
        prev_hash=PREV_HASH,
        min_ntime=int(NOW) - 10,
        nbits=bits,
        coinbase_tx_version=2,
        coinbase_prefix=prefix[42:],
        coinbase_tx_input_n_sequence=int.from_bytes(suffix[:4], "little"),
        coinbase_tx_outputs=suffix[4:-4],
        coinbase_tx_locktime=int.from_bytes(suffix[-4:], "little"),
        merkle_path=job.merkle_path,
    )


@dataclass
class Jd:
    """A JDS core with the pool's output, a template of ``txs`` and jobs built from it."""

    core: JdsCore
    txs: list[Transaction]
    factory: JobFactory
    chain: ChainState = field(default_factory=lambda: ChainState(HEIGHT - 1, PREV_HASH))
    pool_script: bytes = POOL_SCRIPT
    other_script: bytes = OTHER_SCRIPT
    now: float = NOW
    bits: int = REGTEST_BITS
    hard_bits: int = HARD_BITS
    helpers: Any = None

    def job(self, script: bytes | None = None) -> MiningJob:
        return self.factory.current_job(Payout.to_script(script or self.pool_script))

    def known(self, skip: tuple[int, ...] = ()) -> dict[bytes, bytes]:
        return {tx.wtxid: tx.serialize() for i, tx in enumerate(self.txs) if i not in skip}


class _Helpers:
    declare_message = staticmethod(declare_message)
    custom_message = staticmethod(custom_message)
    make_template = staticmethod(make_template)
    make_prev_hash = staticmethod(make_prev_hash)
    make_transactions = staticmethod(make_transactions)


@pytest.fixture
def jd() -> Jd:
    core = JdsCore(JdsConfig(coinbase_outputs=(TxOut(0, POOL_SCRIPT),)))
    core.connection_made(1)
    factory = JobFactory(
        Payout.to_script(POOL_SCRIPT), pool_tag="jdc", full_extranonce_size=FULL_EXTRANONCE
    )
    txs = make_transactions(5)
    factory.on_new_template(make_template(1, txs))
    factory.on_set_new_prev_hash(make_prev_hash(1))
    return Jd(core, txs, factory, helpers=_Helpers())
