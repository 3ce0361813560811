"""Fixtures for the sans-IO pool core: synthetic templates and an in-memory test miner.

The miner here is written from the spec (03 §B, 00 §3-§7), not from the pool code: it follows
the messages the core addresses to its connection, keeps per-channel and per-group jobs, and
grinds shares on the channel target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from stratumv2.bitcoin.block import witness_commitment, witness_commitment_script
from stratumv2.bitcoin.coinbase import bip34_height_push
from stratumv2.bitcoin.hashes import merkle_branch, merkle_root_from_branch, sha256d
from stratumv2.bitcoin.target import MAX_TARGET, bits_to_target
from stratumv2.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut
from stratumv2.mining.shares import HEADER_STRUCT, solve_header
from stratumv2.mining.vardiff import VardiffConfig
from stratumv2.protocol import (
    NewExtendedMiningJob,
    NewMiningJob,
    NewTemplate,
    OpenExtendedMiningChannel,
    OpenExtendedMiningChannelSuccess,
    OpenStandardMiningChannel,
    OpenStandardMiningChannelSuccess,
    SetExtranoncePrefix,
    SetNewPrevHashMining,
    SetNewPrevHashTd,
    SetTarget,
    SetupConnection,
    SubmitSharesExtended,
    SubmitSharesStandard,
    decode_frame,
)
from stratumv2.roles.pool.core import PoolConfig, PoolCore

REGTEST_BITS = 0x207FFFFF
HARD_BITS = 0x1703A30C  # mainnet-like: a share is never a block
HEIGHT = 321
NOW = 1_700_000_000.0
POOL_ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
POOL_SCRIPT = bytes.fromhex("0014751e76e8199196d454941c45d1b3a323f1433bd6")
# BIP173 P2WSH test vector, re-encoded for regtest (a different valid address)
SOLO_ADDRESS = "bcrt1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qzf4jry"
FF = b"\xff" * 32


def make_transactions(count: int, salt: int = 0) -> list[Transaction]:
    return [
        Transaction(
            2,
            (TxIn(OutPoint(bytes([salt, i % 256, i // 256]) + bytes(29), 0), b"", 0xFFFFFFFD),),
            (TxOut(1000 + i, b"\x51"),),
        )
        for i in range(count)
    ]


def make_template(template_id: int, future: bool = True, tx_count: int = 3) -> NewTemplate:
    txs = make_transactions(tx_count, template_id)
    commitment = witness_commitment([tx.wtxid for tx in txs])
    out = TxOut(0, witness_commitment_script(commitment)).serialize()
    return NewTemplate(
        template_id=template_id,
        future_template=future,
        version=0x20000000,
        coinbase_tx_version=2,
        coinbase_prefix=bip34_height_push(HEIGHT),
        coinbase_tx_input_sequence=0xFFFFFFFE,
        coinbase_tx_value_remaining=5_000_000_000,
        coinbase_tx_outputs_count=1,
        coinbase_tx_outputs=out,
        coinbase_tx_locktime=HEIGHT - 1,
        merkle_path=tuple(merkle_branch([tx.txid for tx in txs])),
    )


def make_prev_hash(template_id: int, bits: int, prev: bytes = bytes(range(32))) -> SetNewPrevHashTd:
    return SetNewPrevHashTd(
        template_id=template_id,
        prev_hash=prev,
        header_timestamp=int(NOW) - 10,
        n_bits=bits,
        target=bits_to_target(bits).to_bytes(32, "little"),
    )


def setup_message(flags: int = 0, protocol: int = 0, lo: int = 2, hi: int = 2) -> SetupConnection:
    return SetupConnection(
        protocol=protocol,
        min_version=lo,
        max_version=hi,
        flags=flags,
        endpoint_host="127.0.0.1",
        endpoint_port=3333,
        vendor="test",
        hardware_version="",
        firmware="",
        device_id="",
    )


@dataclass
class MinerChannel:
    channel_id: int
    group_id: int
    prefix: bytes
    extranonce_size: int
    extended: bool
    target: int
    jobs: dict[int, Any] = field(default_factory=dict)
    active: int | None = None
    prev: SetNewPrevHashMining | None = None


class TestMiner:
    """A spec-following miner on one connection of an in-memory :class:`PoolCore`."""

    __test__ = False

    def __init__(self, core: PoolCore, conn_id: int, flags: int = 0) -> None:
        self.core = core
        self.conn_id = conn_id
        self.channels: dict[int, MinerChannel] = {}
        self.group_jobs: dict[int, dict[int, NewExtendedMiningJob]] = {}
        self.received: list[Any] = []
        self.seq = 0
        core.connection_made(conn_id, f"127.0.0.1:{40000 + conn_id}", NOW)
        self.feed(core.on_connection_message(conn_id, setup_message(flags), NOW))

    def feed(self, actions: list[Any]) -> list[Any]:
        """Apply the messages addressed to this connection; return every action."""
        for action in actions:
            if isinstance(action, tuple) and action[0] == self.conn_id:
                self.handle(as_message(action))
        return actions

    def handle(self, msg: Any) -> None:
        self.received.append(msg)
        if isinstance(msg, OpenStandardMiningChannelSuccess | OpenExtendedMiningChannelSuccess):
            extended = isinstance(msg, OpenExtendedMiningChannelSuccess)
            self.channels[msg.channel_id] = MinerChannel(
                msg.channel_id,
                msg.group_channel_id,
                msg.extranonce_prefix,
                msg.extranonce_size if extended else 0,  # type: ignore[union-attr]
                extended,
                int.from_bytes(msg.target, "little"),
            )
        elif isinstance(msg, NewMiningJob | NewExtendedMiningJob):
            targets = self._targets(msg.channel_id)
            if isinstance(msg, NewExtendedMiningJob) and msg.channel_id not in self.channels:
                self.group_jobs.setdefault(msg.channel_id, {})[msg.job_id] = msg
            for ch in targets:
                ch.jobs[msg.job_id] = msg
                if msg.min_ntime is not None:
                    ch.active = msg.job_id
        elif isinstance(msg, SetNewPrevHashMining):
            for ch in self._targets(msg.channel_id):
                if msg.job_id not in ch.jobs and msg.job_id in self.group_jobs.get(
                    msg.channel_id, {}
                ):
                    ch.jobs[msg.job_id] = self.group_jobs[msg.channel_id][msg.job_id]
                ch.jobs = {msg.job_id: ch.jobs[msg.job_id]}
                ch.active = msg.job_id
                ch.prev = msg
        elif isinstance(msg, SetExtranoncePrefix):
            self.channels[msg.channel_id].prefix = msg.extranonce_prefix
        elif isinstance(msg, SetTarget):
            for ch in self._targets(msg.channel_id):
                ch.target = int.from_bytes(msg.maximum_target, "little")

    def _targets(self, channel_id: int) -> list[MinerChannel]:
        if channel_id in self.channels:
            return [self.channels[channel_id]]
        return [c for c in self.channels.values() if c.group_id == channel_id]

    def open_standard(
        self, user: str = "alice.w1", hashrate: float = 1000.0, max_target: bytes = FF
    ) -> list[Any]:
        msg = OpenStandardMiningChannel(
            request_id=len(self.channels) + 1,
            user_identity=user,
            nominal_hash_rate=hashrate,
            max_target=max_target,
        )
        return self.feed(self.core.on_connection_message(self.conn_id, msg, NOW))

    def open_extended(
        self, user: str = "alice.w1", hashrate: float = 1000.0, min_size: int = 8
    ) -> list[Any]:
        msg = OpenExtendedMiningChannel(
            request_id=len(self.channels) + 1,
            user_identity=user,
            nominal_hash_rate=hashrate,
            max_target=FF,
            min_extranonce_size=min_size,
        )
        return self.feed(self.core.on_connection_message(self.conn_id, msg, NOW))

    def header_parts(self, ch: MinerChannel, job_id: int, extranonce: bytes = b"") -> tuple:
        job = ch.jobs[job_id]
        if isinstance(job, NewMiningJob):
            root = job.merkle_root
        else:
            coinbase = job.coinbase_tx_prefix + ch.prefix + extranonce + job.coinbase_tx_suffix
            root = merkle_root_from_branch(sha256d(coinbase), job.merkle_path)
        assert ch.prev is not None
        return job.version, ch.prev.prev_hash, root, ch.prev.min_ntime, ch.prev.nbits

    def share(
        self,
        channel_id: int,
        *,
        target: int | None = None,
        job_id: int | None = None,
        extranonce: bytes | None = None,
        version: int | None = None,
        ntime: int | None = None,
        nonce: int | None = None,
        miss: bool = False,
        start: int = 0,
    ) -> SubmitSharesStandard | SubmitSharesExtended:
        """A share on the active job meeting ``target`` (or the channel's); ``miss`` = fails it."""
        ch = self.channels[channel_id]
        job_id = ch.active if job_id is None else job_id
        assert job_id is not None
        if extranonce is None:
            extranonce = bytes(ch.extranonce_size)
        v, prev, root, mt, bits = self.header_parts(ch, job_id, extranonce)
        v = v if version is None else version
        nt = mt if ntime is None else ntime
        tgt = ch.target if target is None else target
        if nonce is None:
            if miss:
                nonce = start
                while _hash_value(v, prev, root, nt, bits, nonce) <= tgt:
                    nonce += 1
            else:
                found = solve_header(v, prev, root, nt, bits, tgt, start)
                assert found is not None
                nonce = found
        self.seq += 1
        if ch.extended:
            return SubmitSharesExtended(
                channel_id=channel_id,
                sequence_number=self.seq,
                job_id=job_id,
                nonce=nonce,
                ntime=nt,
                version=v,
                extranonce=extranonce,
            )
        return SubmitSharesStandard(
            channel_id=channel_id,
            sequence_number=self.seq,
            job_id=job_id,
            nonce=nonce,
            ntime=nt,
            version=v,
        )

    def submit(self, share: Any, now: float = NOW) -> list[Any]:
        return self.feed(self.core.on_connection_message(self.conn_id, share, now))


def as_message(action: tuple[Any, ...]) -> Any:
    """The message of a send action; a pre-encoded ``(conn, header, payload)`` is decoded."""
    if len(action) == 3:
        return decode_frame(action[1] + action[2])
    return action[1]


def _hash_value(v: int, prev: bytes, root: bytes, nt: int, bits: int, nonce: int) -> int:
    header = HEADER_STRUCT.pack(v & 0xFFFFFFFF, prev, root, nt, bits, nonce)
    return int.from_bytes(sha256d(header), "little")


@dataclass
class PoolKit:
    """A started core and helpers (test files import nothing from conftest)."""

    core: PoolCore
    bits: int
    now: float = NOW
    pool_script: bytes = POOL_SCRIPT
    solo_address: str = SOLO_ADDRESS
    ff: bytes = FF
    max_target: int = MAX_TARGET
    miners: list[TestMiner] = field(default_factory=list)

    @staticmethod
    def sent(actions: list[Any], conn_id: int | None = None) -> list[Any]:
        """Messages of the send actions (for ``conn_id``), decoding pre-encoded frames."""
        return [
            as_message(a)
            for a in actions
            if isinstance(a, tuple) and (conn_id is None or a[0] == conn_id)
        ]

    def miner(self, conn_id: int, flags: int = 0) -> TestMiner:
        miner = TestMiner(self.core, conn_id, flags)
        self.miners.append(miner)
        return miner

    def broadcast(self, actions: list[Any]) -> list[Any]:
        for miner in self.miners:
            miner.feed(actions)
        return actions

    def template(self, template_id: int, future: bool = True) -> list[Any]:
        return self.broadcast(
            self.core.on_new_template(make_template(template_id, future), self.now)
        )

    def prev_hash(self, template_id: int, prev: bytes = bytes(range(32))) -> list[Any]:
        return self.broadcast(
            self.core.on_set_new_prev_hash(make_prev_hash(template_id, self.bits, prev), self.now)
        )

    def tick(self, now: float) -> list[Any]:
        return self.broadcast(self.core.on_tick(now))

    @staticmethod
    def make_template(template_id: int, future: bool = True) -> NewTemplate:
        return make_template(template_id, future)

    @staticmethod
    def make_prev_hash(template_id: int, bits: int) -> SetNewPrevHashTd:
        return make_prev_hash(template_id, bits)

    @staticmethod
    def setup_message(flags: int = 0, protocol: int = 0, lo: int = 2, hi: int = 2) -> Any:
        return setup_message(flags, protocol, lo, hi)


def make_kit(bits: int = HARD_BITS, **config: Any) -> PoolKit:
    config.setdefault("vardiff", VardiffConfig(min_hashrate=100.0))
    config.setdefault("share_batch_size", 3)
    core = PoolCore(PoolConfig(payout_script=POOL_SCRIPT, network="regtest", **config))
    kit = PoolKit(core, bits)
    kit.template(1)
    kit.prev_hash(1)
    return kit


@pytest.fixture
def kit() -> PoolKit:
    """A solo-mode core on a mainnet-like target, template 1 active."""
    return make_kit()


@pytest.fixture
def kit_factory() -> Any:
    return make_kit


@pytest.fixture
def regtest_bits() -> int:
    return REGTEST_BITS
