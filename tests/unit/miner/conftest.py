"""An in-memory upstream for the miner core, built from the mining core (what the pool uses).

:class:`MiniPool` answers SetupConnection, opens one standard or extended channel with the
mining core's channels and sends jobs the way SRI's pool does (digest 00 §3): the first
job and SetNewPrevHash on the channel id, later ones on the group id unless the connection
set REQUIRES_STANDARD_JOBS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from stratumv2.bitcoin.block import witness_commitment, witness_commitment_script
from stratumv2.bitcoin.coinbase import bip34_height_push
from stratumv2.bitcoin.hashes import merkle_branch
from stratumv2.bitcoin.target import MAX_TARGET, bits_to_target, u256_to_target
from stratumv2.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut
from stratumv2.mining.channel import Channel, ChannelConfig
from stratumv2.mining.extended import ExtendedChannel
from stratumv2.mining.extranonce import ExtranonceAllocator
from stratumv2.mining.group import GroupChannel
from stratumv2.mining.jobs import JobFactory, Payout
from stratumv2.mining.standard import StandardChannel
from stratumv2.protocol import (
    REQUIRES_STANDARD_JOBS,
    Message,
    NewTemplate,
    OpenExtendedMiningChannel,
    OpenExtendedMiningChannelSuccess,
    OpenStandardMiningChannel,
    OpenStandardMiningChannelSuccess,
    SetNewPrevHashTd,
    SetupConnection,
    SetupConnectionSuccess,
    SubmitSharesExtended,
    SubmitSharesStandard,
)

REGTEST_BITS = 0x207FFFFF
HARD_BITS = 0x1703A30C  # mainnet-like: no share is a block
NOW = 1_700_000_000
HEIGHT = 200
POOL_SCRIPT = bytes.fromhex("0014") + bytes(range(20))
EASY = MAX_TARGET >> 6  # one hash in 64


def transactions(count: int, salt: int = 0) -> list[Transaction]:
    """Distinct non-coinbase transactions (not spendable; only their ids matter)."""
    return [
        Transaction(
            2,
            (TxIn(OutPoint(bytes([salt, i]) + bytes(30), 0), b"", 0xFFFFFFFD),),
            (TxOut(1000 + i, b"\x51"),),
        )
        for i in range(count)
    ]


def template(template_id: int, txs: list[Transaction], future: bool = True) -> NewTemplate:
    """A NewTemplate as a TP sends it (BIP34 push, witness commitment output)."""
    commitment = witness_commitment([tx.wtxid for tx in txs])
    return NewTemplate(
        template_id=template_id,
        future_template=future,
        version=0x20000000,
        coinbase_tx_version=2,
        coinbase_prefix=bip34_height_push(HEIGHT),
        coinbase_tx_input_sequence=0xFFFFFFFE,
        coinbase_tx_value_remaining=5_000_000_000,
        coinbase_tx_outputs_count=1,
        coinbase_tx_outputs=TxOut(0, witness_commitment_script(commitment)).serialize(),
        coinbase_tx_locktime=HEIGHT - 1,
        merkle_path=tuple(merkle_branch([tx.txid for tx in txs])),
    )


def prev_hash(template_id: int, bits: int, prev: bytes) -> SetNewPrevHashTd:
    """TD SetNewPrevHash for a template."""
    return SetNewPrevHashTd(
        template_id=template_id,
        prev_hash=prev,
        header_timestamp=NOW - 10,
        n_bits=bits,
        target=bits_to_target(bits).to_bytes(32, "little"),
    )


@dataclass
class MiniPool:
    """One miner connection served by the mining core's channels."""

    bits: int = HARD_BITS
    target: int = EASY
    factory: JobFactory = field(
        default_factory=lambda: JobFactory(Payout.to_script(POOL_SCRIPT), pool_tag="mini")
    )
    allocator: ExtranonceAllocator = field(
        default_factory=lambda: ExtranonceAllocator(20, static_prefix=b"\x07")
    )
    standard_jobs: bool = False
    channel: Channel | None = None
    group: GroupChannel | None = None
    now: int = NOW
    next_template: int = 1
    results: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.new_tip(bytes(range(32)))

    def new_tip(self, prev: bytes) -> list[Message]:
        """A future template plus its SetNewPrevHash (a new block on the network)."""
        tid = self.next_template
        self.next_template += 1
        self.factory.on_new_template(template(tid, transactions(3, salt=tid)))
        out: list[Message] = []
        if self.channel is not None:
            out += self._job(self.factory.job(tid), future=True)
        tip = self.factory.on_set_new_prev_hash(prev_hash(tid, self.bits, prev))
        if self.group is not None:
            out += self.group.on_new_prev_hash(tip)
        elif self.channel is not None:
            out += self.channel.on_new_prev_hash(tip)
        return out

    def new_template(self) -> list[Message]:
        """A non-future template on the current tip (new transactions)."""
        tid = self.next_template
        self.next_template += 1
        self.factory.on_new_template(template(tid, transactions(4, salt=tid), future=False))
        return self._job(self.factory.job(tid), future=False)

    def _job(self, job: Any, future: bool) -> list[Message]:
        if self.group is not None:
            return [self.group.new_job(job, future, self.now)]
        assert self.channel is not None
        return [self.channel.new_job(job, future, self.now)]  # type: ignore[attr-defined]

    def handle(self, message: Message) -> list[Message]:
        """What the pool sends back for one message from the miner."""
        if isinstance(message, SetupConnection):
            self.standard_jobs = bool(message.flags & REQUIRES_STANDARD_JOBS)
            return [SetupConnectionSuccess(used_version=2, flags=0)]
        tip = self.factory.tip
        assert tip is not None
        group_id = 0 if self.standard_jobs else 100
        config = ChannelConfig(share_batch_size=1)
        if isinstance(message, OpenStandardMiningChannel | OpenExtendedMiningChannel):
            if group_id:
                self.group = GroupChannel(group_id, self.allocator.full_size)
            kw: dict[str, Any] = {
                "requested_target": self.target,
                "max_target": u256_to_target(message.max_target),
                "network_target": tip.network_target,
                "config": config,
                "job_ids": self.group.job_ids if self.group else None,
            }
            reply: Message
            ch: Channel
            if isinstance(message, OpenStandardMiningChannel):
                ch = StandardChannel(
                    1, message.user_identity, self.allocator.allocate_standard(), **kw
                )
                reply = OpenStandardMiningChannelSuccess(
                    request_id=message.request_id,
                    channel_id=1,
                    target=ch.target.to_bytes(32, "little"),
                    extranonce_prefix=ch.extranonce_prefix,
                    group_channel_id=group_id,
                )
            else:
                alloc = self.allocator.allocate_extended(message.min_extranonce_size)
                ch = ExtendedChannel(1, message.user_identity, alloc, **kw)
                reply = OpenExtendedMiningChannelSuccess(
                    request_id=message.request_id,
                    channel_id=1,
                    target=ch.target.to_bytes(32, "little"),
                    extranonce_size=alloc.size,
                    extranonce_prefix=ch.extranonce_prefix,
                    group_channel_id=group_id,
                )
            self.channel = ch
            first = ch.new_job(self.factory.current_job(), True, self.now)  # type: ignore[attr-defined]
            activate = ch.on_new_prev_hash(tip)
            if self.group is not None:
                self.group.add_member(ch)
            return [reply, first, *activate]
        if isinstance(message, SubmitSharesStandard | SubmitSharesExtended):
            assert self.channel is not None
            result = self.channel.validate_share(message, self.now)  # type: ignore[attr-defined]
            self.results.append(result)
            return [result.response] if result.response is not None else []
        raise AssertionError(f"unexpected {message}")


@pytest.fixture
def mini_pool() -> type[MiniPool]:
    """The MiniPool class (tests make one with the bits and target they need)."""
    return MiniPool
