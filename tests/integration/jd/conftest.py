"""Job declaration over loopback: regtest node with its tx generator, two TPs (the pool's and
the miner's own, with a policy), the pool with its embedded JDS, the JDC, and a small SV2
miner that grinds one share on demand."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from stratumv2.bitcoin.hashes import merkle_root_from_branch, sha256d
from stratumv2.bitcoin.target import bits_to_target
from stratumv2.bitcoin.tx import Transaction
from stratumv2.mining.shares import solve_header
from stratumv2.net.client import open_sv2_connection
from stratumv2.net.pump import Sv2Connection
from stratumv2.protocol import (
    NewExtendedMiningJob,
    OpenExtendedMiningChannel,
    OpenExtendedMiningChannelSuccess,
    SetNewPrevHashMining,
    SetupConnection,
    SetupConnectionSuccess,
    SubmitSharesExtended,
)
from stratumv2.roles.template_provider.testing import running_tp


@dataclass
class TestMiner:
    """One extended channel; keeps the active job and grinds a share when asked."""

    conn: Sv2Connection
    channel: OpenExtendedMiningChannelSuccess | None = None
    jobs: dict[int, NewExtendedMiningJob] = field(default_factory=dict)
    active: NewExtendedMiningJob | None = None
    prev: SetNewPrevHashMining | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    seq: int = 0
    reader: asyncio.Task[None] | None = None

    __test__ = False

    @classmethod
    async def connect(cls, address: tuple[str, int], key: str) -> TestMiner:
        conn = await open_sv2_connection(address[0], address[1], key)
        miner = cls(conn)
        await conn.send(
            SetupConnection(
                protocol=0, min_version=2, max_version=2, flags=0, endpoint_host="",
                endpoint_port=0, vendor="test", hardware_version="", firmware="", device_id="",
            )
        )  # fmt: skip
        assert isinstance(await asyncio.wait_for(conn.recv(), 5), SetupConnectionSuccess)
        await conn.send(
            OpenExtendedMiningChannel(
                request_id=1, user_identity="rig", nominal_hash_rate=1e3,
                max_target=b"\xff" * 32, min_extranonce_size=4,
            )
        )  # fmt: skip
        miner.reader = asyncio.create_task(miner._read())
        return miner

    async def _read(self) -> None:
        async for msg in self.conn:
            if isinstance(msg, OpenExtendedMiningChannelSuccess):
                self.channel = msg
            elif isinstance(msg, NewExtendedMiningJob):
                self.jobs[msg.job_id] = msg
                if msg.min_ntime is not None:
                    self.active = msg
            elif isinstance(msg, SetNewPrevHashMining):
                self.prev = msg
                self.active = self.jobs.get(msg.job_id, self.active)
            self.changed.set()

    def coinbase(self, job: NewExtendedMiningJob | None = None) -> Transaction:
        job = job or self.active
        assert job is not None and self.channel is not None
        extranonce = bytes(self.channel.extranonce_size)
        return Transaction.parse(
            job.coinbase_tx_prefix + self.channel.extranonce_prefix + extranonce
            + job.coinbase_tx_suffix
        )  # fmt: skip

    async def wait_for(self, predicate: Any, timeout: float) -> float:
        """Wait until ``predicate(self)`` holds; the seconds it took."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        while not (self.active is not None and self.prev is not None and predicate(self)):
            self.changed.clear()
            remaining = timeout - (loop.time() - start)
            if remaining <= 0:
                raise TimeoutError("miner condition not reached")
            with suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)
        return loop.time() - start

    async def mine_one(self) -> SubmitSharesExtended:
        """Grind and submit one share that meets the network target (a block on regtest)."""
        job, prev, channel = self.active, self.prev, self.channel
        assert job is not None and prev is not None and channel is not None
        self.seq += 1
        extranonce = self.seq.to_bytes(channel.extranonce_size, "little")
        coinbase = job.coinbase_tx_prefix + channel.extranonce_prefix + extranonce
        root = merkle_root_from_branch(sha256d(coinbase + job.coinbase_tx_suffix), job.merkle_path)
        ntime = prev.min_ntime + 1
        target = bits_to_target(prev.nbits)
        nonce = solve_header(job.version, prev.prev_hash, root, ntime, prev.nbits, target)
        assert nonce is not None
        share = SubmitSharesExtended(
            channel_id=channel.channel_id, sequence_number=self.seq, job_id=job.job_id,
            nonce=nonce, ntime=ntime, version=job.version, extranonce=extranonce,
        )  # fmt: skip
        await self.conn.send(share)
        return share

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)
        self.conn.close()


@pytest.fixture
def tools() -> SimpleNamespace:
    """The helpers above, for the test modules (which import nothing from conftest)."""
    return SimpleNamespace(running_tp=running_tp, TestMiner=TestMiner)
