"""Fixtures for the mining core: a regtest-like template with real transactions."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from stratumv2.bitcoin.block import witness_commitment, witness_commitment_script
from stratumv2.bitcoin.coinbase import bip34_height_push
from stratumv2.bitcoin.hashes import merkle_branch
from stratumv2.bitcoin.target import bits_to_target
from stratumv2.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut
from stratumv2.mining.jobs import JobFactory, Payout
from stratumv2.protocol import NewTemplate, SetNewPrevHashTd

REGTEST_BITS = 0x207FFFFF
MAINNET_LIKE_BITS = 0x1703A30C  # a hard network target: shares are never blocks
HEIGHT = 321
NOW = 1_700_000_000
POOL_SCRIPT = bytes.fromhex("0014") + bytes(range(20))
SOLO_SCRIPT = bytes.fromhex("0014") + bytes(range(100, 120))
PREV_HASH = bytes(range(32))


@dataclass
class Scenario:
    """A template with transactions, its SetNewPrevHash and the pool's job factory.

    Tests reach the module's helpers and constants through it (test files import nothing
    from conftest).
    """

    factory: JobFactory
    template: NewTemplate
    prev_hash: SetNewPrevHashTd
    transactions: list[Transaction]
    height: int = HEIGHT
    now: int = NOW
    pool_script: bytes = POOL_SCRIPT
    solo_script: bytes = SOLO_SCRIPT

    @staticmethod
    def make_template(
        template_id: int, transactions: list[Transaction], *, future: bool = True
    ) -> NewTemplate:
        """See :func:`make_template`."""
        return make_template(template_id, transactions, future=future)

    @staticmethod
    def make_prev_hash(
        template_id: int, bits: int = REGTEST_BITS, prev: bytes = PREV_HASH
    ) -> SetNewPrevHashTd:
        """See :func:`make_prev_hash`."""
        return make_prev_hash(template_id, bits, prev)

    @staticmethod
    def make_transactions(count: int, salt: int = 0) -> list[Transaction]:
        """See :func:`make_transactions`."""
        return make_transactions(count, salt)


def make_transactions(count: int, salt: int = 0) -> list[Transaction]:
    """Distinct (not necessarily spendable) non-coinbase transactions."""
    return [
        Transaction(
            2,
            (TxIn(OutPoint(bytes([salt, i % 256, i // 256]) + bytes(29), 0), b"", 0xFFFFFFFD),),
            (TxOut(1000 + i, b"\x51"),),
        )
        for i in range(count)
    ]


def make_template(
    template_id: int,
    transactions: list[Transaction],
    *,
    future: bool = True,
    value: int = 5_000_000_000,
) -> NewTemplate:
    """A NewTemplate as sv2-tp sends it: BIP34 push, witness commitment as the only output."""
    commitment = witness_commitment([tx.wtxid for tx in transactions])
    out = TxOut(0, witness_commitment_script(commitment)).serialize()
    return NewTemplate(
        template_id=template_id,
        future_template=future,
        version=0x20000000,
        coinbase_tx_version=2,
        coinbase_prefix=bip34_height_push(HEIGHT),
        coinbase_tx_input_sequence=0xFFFFFFFE,
        coinbase_tx_value_remaining=value,
        coinbase_tx_outputs_count=1,
        coinbase_tx_outputs=out,
        coinbase_tx_locktime=HEIGHT - 1,
        merkle_path=tuple(merkle_branch([tx.txid for tx in transactions])),
    )


def make_prev_hash(
    template_id: int, bits: int = REGTEST_BITS, prev: bytes = PREV_HASH
) -> SetNewPrevHashTd:
    """TD SetNewPrevHash for a template."""
    return SetNewPrevHashTd(
        template_id=template_id,
        prev_hash=prev,
        header_timestamp=NOW - 10,
        n_bits=bits,
        target=bits_to_target(bits).to_bytes(32, "little"),
    )


def scenario(bits: int = REGTEST_BITS, tx_count: int = 5) -> Scenario:
    """Factory fed with a future template and its SetNewPrevHash."""
    factory = JobFactory(Payout.to_script(POOL_SCRIPT), pool_tag="test", full_extranonce_size=20)
    txs = make_transactions(tx_count)
    template = make_template(1, txs)
    prev = make_prev_hash(1, bits)
    factory.on_new_template(template)
    factory.on_set_new_prev_hash(prev)
    return Scenario(factory, template, prev, txs)


@pytest.fixture
def regtest() -> Scenario:
    """Regtest difficulty: about every other hash is a block."""
    return scenario(REGTEST_BITS)


@pytest.fixture
def hard() -> Scenario:
    """Mainnet-like difficulty: no share is a block."""
    return scenario(MAINNET_LIKE_BITS)
