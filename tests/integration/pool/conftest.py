"""The pool over loopback Noise: embedded regtest node, our TP, and a small SV2 test miner.

``sv2 miner`` does not exist yet, so :class:`Sv2TestMiner` here is a minimal miner written
from the spec (03 §B, 00 §3-§7): setup, standard/extended channels, group jobs, shares.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from stratumv2.bitcoin.block import witness_commitment, witness_commitment_script
from stratumv2.bitcoin.coinbase import bip34_height_push
from stratumv2.bitcoin.hashes import merkle_root_from_branch, sha256d
from stratumv2.bitcoin.target import bits_to_target
from stratumv2.bitcoin.tx import TxOut
from stratumv2.mining.shares import solve_header
from stratumv2.net.client import open_sv2_connection
from stratumv2.net.pump import Sv2Connection, new_secret
from stratumv2.net.server import Sv2Server
from stratumv2.noise import Keypair
from stratumv2.protocol import (
    NewExtendedMiningJob,
    NewMiningJob,
    NewTemplate,
    OpenExtendedMiningChannel,
    OpenExtendedMiningChannelSuccess,
    OpenMiningChannelError,
    OpenStandardMiningChannel,
    OpenStandardMiningChannelSuccess,
    SetExtranoncePrefix,
    SetNewPrevHashMining,
    SetNewPrevHashTd,
    SetTarget,
    SetupConnection,
    SetupConnectionError,
    SetupConnectionSuccess,
    SubmitSharesError,
    SubmitSharesExtended,
    SubmitSharesStandard,
    SubmitSharesSuccess,
)
from stratumv2.roles.template_provider.testing import running_tp

FF = b"\xff" * 32


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
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class Sv2TestMiner:
    """A minimal SV2 miner over Noise: follows jobs, grinds shares with the CPU solver."""

    def __init__(self, conn: Sv2Connection) -> None:
        self.conn = conn
        self.channels: dict[int, MinerChannel] = {}
        self.group_jobs: dict[int, dict[int, NewExtendedMiningJob]] = {}
        self.replies: asyncio.Queue[Any] = asyncio.Queue()
        self.acks: list[SubmitSharesSuccess] = []
        self.errors: list[SubmitSharesError] = []
        self.seq = 0
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls, address: tuple[str, int], key: str | None, flags: int = 0
    ) -> Sv2TestMiner:
        conn = await open_sv2_connection(address[0], address[1], key)
        miner = cls(conn)
        await conn.send(
            SetupConnection(
                protocol=0,
                min_version=2,
                max_version=2,
                flags=flags,
                endpoint_host=address[0],
                endpoint_port=address[1],
                vendor="test-miner",
                hardware_version="",
                firmware="",
                device_id="",
            )
        )
        reply = await asyncio.wait_for(conn.recv(), 5)
        if isinstance(reply, SetupConnectionError):
            raise ConnectionError(reply.error_code)
        assert isinstance(reply, SetupConnectionSuccess)
        miner._reader = asyncio.create_task(miner._read())
        return miner

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        self.conn.close()
        await self.conn.wait_closed()

    async def _read(self) -> None:
        async for msg in self.conn:
            self.handle(msg)

    def handle(self, msg: Any) -> None:
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
            self.replies.put_nowait(msg)
        elif isinstance(msg, OpenMiningChannelError):
            self.replies.put_nowait(msg)
        elif isinstance(msg, NewMiningJob | NewExtendedMiningJob):
            if isinstance(msg, NewExtendedMiningJob) and msg.channel_id not in self.channels:
                self.group_jobs.setdefault(msg.channel_id, {})[msg.job_id] = msg
            for ch in self._targets(msg.channel_id):
                ch.jobs[msg.job_id] = msg
                if msg.min_ntime is not None:
                    ch.active = msg.job_id
                    ch.changed.set()
        elif isinstance(msg, SetNewPrevHashMining):
            for ch in self._targets(msg.channel_id):
                job = ch.jobs.get(msg.job_id) or self.group_jobs.get(msg.channel_id, {}).get(
                    msg.job_id
                )
                if job is None:
                    continue
                ch.jobs = {msg.job_id: job}
                ch.active = msg.job_id
                ch.prev = msg
                ch.changed.set()
        elif isinstance(msg, SetTarget):
            for ch in self._targets(msg.channel_id):
                ch.target = int.from_bytes(msg.maximum_target, "little")
        elif isinstance(msg, SetExtranoncePrefix):
            self.channels[msg.channel_id].prefix = msg.extranonce_prefix
        elif isinstance(msg, SubmitSharesSuccess):
            self.acks.append(msg)
            self.replies.put_nowait(msg)
        elif isinstance(msg, SubmitSharesError):
            self.errors.append(msg)
            self.replies.put_nowait(msg)

    def _targets(self, channel_id: int) -> list[MinerChannel]:
        if channel_id in self.channels:
            return [self.channels[channel_id]]
        return [c for c in self.channels.values() if c.group_id == channel_id]

    async def open(
        self, extended: bool, user: str = "alice.w1", hashrate: float = 1e3
    ) -> MinerChannel:
        request_id = len(self.channels) + 100
        msg: Any
        if extended:
            msg = OpenExtendedMiningChannel(
                request_id=request_id,
                user_identity=user,
                nominal_hash_rate=hashrate,
                max_target=FF,
                min_extranonce_size=8,
            )
        else:
            msg = OpenStandardMiningChannel(
                request_id=request_id, user_identity=user, nominal_hash_rate=hashrate, max_target=FF
            )
        for _ in range(100):  # the pool may still wait for its first template
            await self.conn.send(msg)
            reply = await asyncio.wait_for(self.replies.get(), 5)
            if not (
                isinstance(reply, OpenMiningChannelError) and reply.error_code == "no-template-yet"
            ):
                break
            await asyncio.sleep(0.05)
        assert not isinstance(reply, OpenMiningChannelError), reply.error_code
        ch = self.channels[reply.channel_id]
        for _ in range(50):
            if ch.prev is not None:
                break
            await asyncio.sleep(0.02)
        assert ch.prev is not None, "no SetNewPrevHash after open"
        return ch

    def make_share(
        self, ch: MinerChannel, nonce_start: int = 0, extranonce: bytes | None = None
    ) -> SubmitSharesStandard | SubmitSharesExtended:
        assert ch.active is not None and ch.prev is not None
        job = ch.jobs[ch.active]
        if extranonce is None:
            extranonce = os.urandom(ch.extranonce_size)
        if isinstance(job, NewMiningJob):
            root = job.merkle_root
        else:
            coinbase = job.coinbase_tx_prefix + ch.prefix + extranonce + job.coinbase_tx_suffix
            root = merkle_root_from_branch(sha256d(coinbase), job.merkle_path)
        nonce = solve_header(
            job.version,
            ch.prev.prev_hash,
            root,
            ch.prev.min_ntime,
            ch.prev.nbits,
            ch.target,
            nonce_start,
        )
        assert nonce is not None
        self.seq += 1
        if ch.extended:
            return SubmitSharesExtended(
                channel_id=ch.channel_id,
                sequence_number=self.seq,
                job_id=ch.active,
                nonce=nonce,
                ntime=ch.prev.min_ntime,
                version=job.version,
                extranonce=extranonce,
            )
        return SubmitSharesStandard(
            channel_id=ch.channel_id,
            sequence_number=self.seq,
            job_id=ch.active,
            nonce=nonce,
            ntime=ch.prev.min_ntime,
            version=job.version,
        )

    async def submit(self, share: Any) -> Any:
        """Send one share, return the pool's reply for it (Success or Error)."""
        await self.conn.send(share)
        while True:
            reply = await asyncio.wait_for(self.replies.get(), 10)
            if isinstance(reply, SubmitSharesSuccess | SubmitSharesError):
                return reply

    async def wait_new_tip(self, ch: MinerChannel, old_prev: bytes, timeout: float = 10) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while ch.prev is None or ch.prev.prev_hash == old_prev:
            ch.changed.clear()
            await asyncio.wait_for(ch.changed.wait(), max(0.01, deadline - loop.time()))


@asynccontextmanager
async def pool_process(
    args: list[str], datadir: Path, ports: int = 1
) -> AsyncIterator[tuple[Any, str, list[int]]]:
    """``sv2 pool ARGS`` as a subprocess; yields (process, authority key, bound ports)."""
    sv2 = Path(sys.executable).with_name("sv2")
    proc = await asyncio.create_subprocess_exec(
        str(sv2),
        "pool",
        "--datadir",
        str(datadir),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        key_line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        if not key_line.startswith("Pool authority key:"):
            err = await proc.stderr.read() if proc.stderr else b""
            raise AssertionError(f"pool did not start: {key_line!r} {err.decode()[-2000:]}")
        key = key_line.split(":", 1)[1].strip()
        bound = []
        for _ in range(ports):
            port_line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
            bound.append(int(port_line.rsplit(":", 1)[1]))
        yield proc, key, bound
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


@pytest.fixture
def tp_runner() -> Any:
    return running_tp


@pytest.fixture
def miner_class() -> type[Sv2TestMiner]:
    return Sv2TestMiner


@pytest.fixture
def pool_runner() -> Any:
    return pool_process


# ---- a scripted Template Provider with a hard (mainnet-like) target ---------------------

HARD_BITS = 0x1703A30C  # no share is a block
HEIGHT = 321


def hard_template(template_id: int = 1, future: bool = True) -> NewTemplate:
    """A template with a witness commitment and no transactions (sv2-tp's form)."""
    commitment = witness_commitment([])
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
        merkle_path=(),
    )


def hard_prev_hash(template_id: int = 1, prev: bytes = bytes(range(32))) -> SetNewPrevHashTd:
    return SetNewPrevHashTd(
        template_id=template_id,
        prev_hash=prev,
        header_timestamp=int(time.time()) - 10,
        n_bits=HARD_BITS,
        target=bits_to_target(HARD_BITS).to_bytes(32, "little"),
    )


@asynccontextmanager
async def scripted_tp() -> AsyncIterator[tuple[Sv2Server, list[Any]]]:
    """A TD server that answers SetupConnection and sends one template and its tip.

    Yields the server and the list of messages the clients sent (SubmitSolution...).
    """
    received: list[Any] = []

    async def handler(conn: Sv2Connection) -> None:
        setup = await conn.recv()
        assert isinstance(setup, SetupConnection) and setup.protocol == 2
        await conn.send(SetupConnectionSuccess(used_version=2, flags=0))
        await conn.send(hard_template())
        await conn.send(hard_prev_hash())
        async for msg in conn:
            received.append(msg)

    server = Sv2Server(handler, Keypair(new_secret()), name="scripted-tp")
    await server.start("127.0.0.1", 0)
    try:
        yield server, received
    finally:
        await server.close()


@pytest.fixture
def scripted_tp_runner() -> Any:
    return scripted_tp


@pytest.fixture
def hard_templates() -> tuple[Any, Any]:
    return hard_template, hard_prev_hash
