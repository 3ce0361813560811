"""The SV1 client against a scripted SV1 server (the project's own server session)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from stratumv2.bitcoin.hashes import sha256d
from stratumv2.bitcoin.target import bits_to_target, difficulty_to_target
from stratumv2.roles.miner.core import (
    ChannelOpened,
    MinerConfig,
    SharesAccepted,
    Solution,
    TargetChanged,
    WorkChanged,
)
from stratumv2.roles.miner.service import MinerService
from stratumv2.roles.miner.sv1_client import Sv1Client, Sv1ClientConfig
from stratumv2.roles.miner.workers import WorkerPool, round_parameters, scan
from stratumv2.sv1.errors import Sv1ErrorCode
from stratumv2.sv1.session import (
    Authorize,
    Configure,
    SessionConfig,
    SubmitShare,
    Subscribe,
    Sv1ServerSession,
)
from stratumv2.sv1.translate import share_header
from stratumv2.sv1.wire import MiningNotify

REGTEST_BITS = 0x207FFFFF
HARD_BITS = 0x1D00FFFF
DIFFICULTY = 2**-18  # one hash in 2^14 meets it (difficulty 1 is one in 2^32)


def notify(job_id: str, clean: bool, bits: int = HARD_BITS, tip: int = 0) -> MiningNotify:
    return MiningNotify(
        job_id=job_id,
        prev_hash=bytes([tip]) * 32,
        coinb1=bytes.fromhex("01000000010000") + b"\x11" * 30,
        coinb2=b"\x22" * 40,
        merkle_branch=(b"\x33" * 32, b"\x44" * 32),
        version=0x20000000,
        nbits=bits,
        ntime=1_700_000_000,
        clean_jobs=clean,
    )


class ScriptedServer:
    """One SV1 session per connection; checks every share's hash against the difficulty."""

    def __init__(self, bits: int = HARD_BITS) -> None:
        self.bits = bits
        self.valid = 0
        self.invalid = 0
        self.blocks = 0
        self.configured: list[Configure] = []
        self.users: list[str] = []
        self.sessions: list[Sv1ServerSession] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Sv1ServerSession(SessionConfig(start_difficulty=DIFFICULTY, min_difficulty=1e-9))
        self.sessions.append(session)
        jobs = 0
        while not session.closed:
            data = await reader.read(4096)
            if not data:
                break
            session.receive_data(data)
            while (event := session.next_event()) is not None:
                if isinstance(event, Configure):
                    self.configured.append(event)
                elif isinstance(event, Subscribe) and not event.answered:
                    session.accept_subscribe(event.request_id, b"\xab\xcd\xef\x01", 4)
                elif isinstance(event, Authorize):
                    self.users.append(event.username)
                    session.accept_authorize(event.request_id)
                    jobs += 1
                    session.notify(notify(f"j{jobs}", True, self.bits))
                elif isinstance(event, SubmitShare):
                    value = int.from_bytes(sha256d(share_header(event)), "little")
                    if value <= difficulty_to_target(event.difficulty):
                        self.valid += 1
                        session.share_accepted(event.request_id)
                        if value <= bits_to_target(self.bits):  # a block: next tip
                            self.blocks += 1
                            jobs += 1
                            session.notify(notify(f"j{jobs}", True, self.bits, self.blocks))
                        elif self.valid % 3 == 0:  # a new job now and then
                            jobs += 1
                            session.notify(notify(f"j{jobs}", False, self.bits))
                    else:
                        self.invalid += 1
                        session.share_rejected(event.request_id, Sv1ErrorCode.LOW_DIFFICULTY)
            writer.write(session.data_to_send())
        writer.close()


def test_sans_io_client_flow() -> None:
    server = Sv1ServerSession(SessionConfig(start_difficulty=DIFFICULTY))
    client = Sv1Client(Sv1ClientConfig(username="bc1qminer.rig", version_rolling=True))
    client.start()
    server.receive_data(client.data_to_send())
    events: list[Any] = []
    while (event := server.next_event()) is not None:
        events.append(event)
        if isinstance(event, Subscribe):
            server.accept_subscribe(event.request_id, b"\x01\x02", 3)
        elif isinstance(event, Authorize):
            assert event.user == "bc1qminer" and event.worker == "rig"
            server.accept_authorize(event.request_id)
    assert isinstance(events[0], Configure) and events[0].version_mask == 0x1FFFE000
    server.notify(notify("a", True))
    client.receive_data(server.data_to_send())
    got = []
    while (event := client.next_event()) is not None:
        got.append(event)
    assert client.version_mask == 0x1FFFE000
    assert any(isinstance(e, ChannelOpened) and e.extranonce_size == 3 for e in got)
    assert TargetChanged(difficulty_to_target(DIFFICULTY)) in got
    (work_event,) = [e for e in got if isinstance(e, WorkChanged)]
    work = work_event.work
    assert work.coinbase_head.endswith(b"\x01\x02") and work.version_mask == 0x1FFFE000
    # Solve one rolled round and submit: the server session rebuilds the same header.
    extranonce, version, ntime = round_parameters(work, 5 * 2**24 + 77)
    assert version != work.version
    nonce, digest = scan(work, work.target, extranonce, version, ntime, 0, 1 << 18)[0]
    seq = client.submit(Solution(work.work_id, nonce, ntime, version, extranonce, digest))
    assert seq == 1
    server.receive_data(client.data_to_send())
    (share,) = [e for e in iter(server.next_event, None)]
    assert isinstance(share, SubmitShare) and share.version == version
    assert sha256d(share_header(share)) == digest
    server.share_accepted(share.request_id)
    server.share_rejected(999, Sv1ErrorCode.LOW_DIFFICULTY)  # unknown id: ignored
    client.receive_data(server.data_to_send())
    assert list(iter(client.next_event, None)) == [SharesAccepted(1, 0, 1)]
    # A clean job makes the old work stale.
    server.notify(notify("b", True))
    client.receive_data(server.data_to_send())
    assert not client.is_current(work.work_id)
    assert client.submit(Solution(work.work_id, nonce, ntime, version, extranonce, digest)) is None


async def run_against(server: ScriptedServer, max_shares: int, **cfg: Any) -> Any:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    pool = WorkerPool(workers=2)
    pool.start()
    try:
        service = MinerService(MinerConfig(), pool, max_shares=max_shares, status_interval=0.5)
        stats = await service.run_sv1(
            "127.0.0.1", port, Sv1ClientConfig(username="tester.1", **cfg), duration=60
        )
    finally:
        pool.close()
        listener.close()
    return stats


async def test_sv1_miner_gets_shares_accepted() -> None:
    server = ScriptedServer()
    stats = await run_against(server, max_shares=8)
    assert stats.accepted >= 8 and server.valid >= 8
    assert server.invalid == 0 and stats.rejected == 0
    assert server.users == ["tester.1"]
    assert server.configured and server.configured[0].version_mask is not None


async def test_sv1_without_version_rolling_and_block_candidates(caplog: Any) -> None:
    server = ScriptedServer(bits=REGTEST_BITS)
    caplog.set_level("INFO", logger="stratumv2.miner")
    stats = await run_against(server, max_shares=3, version_rolling=False)
    assert stats.accepted >= 3 and server.invalid == 0
    assert not server.configured
    # On regtest bits about every other share is also a block.
    assert bits_to_target(REGTEST_BITS) > difficulty_to_target(DIFFICULTY)
    assert stats.blocks >= 1 and "block candidate" in caplog.text
    # one block per tip: the miner waits for the next tip after each
    assert server.blocks == stats.blocks == server.valid


def test_client_reconnect_is_recorded() -> None:
    client = Sv1Client()
    client.receive_data(b'{"id":null,"method":"client.reconnect","params":["127.0.0.3",3334,0]}\n')
    assert client.reconnect_to == ("127.0.0.3", 3334)
    client = Sv1Client()
    client.receive_data(b'{"id":null,"method":"client.reconnect","params":[]}\n')
    assert client.reconnect_to == ("", 0)


def test_job_version_with_bits_inside_the_mask() -> None:
    server = Sv1ServerSession(SessionConfig(start_difficulty=DIFFICULTY))
    client = Sv1Client(Sv1ClientConfig(username="u"))
    client.start()
    server.receive_data(client.data_to_send())
    for event in iter(server.next_event, None):
        if isinstance(event, Subscribe):
            server.accept_subscribe(event.request_id, b"\x05", 2)
        elif isinstance(event, Authorize):
            server.accept_authorize(event.request_id)
    server.notify(dataclasses.replace(notify("v", True), version=0x20004000))
    client.receive_data(server.data_to_send())
    (work,) = [e.work for e in iter(client.next_event, None) if isinstance(e, WorkChanged)]
    assert work.version_mask == 0x1FFFE000 & ~0x4000
    extranonce, version, ntime = round_parameters(work, 3 * 2**16 + 1)
    assert version & 0x4000 and version != work.version
    nonce, digest = scan(work, work.target, extranonce, version, ntime, 0, 1 << 18)[0]
    client.submit(Solution(work.work_id, nonce, ntime, version, extranonce, digest))
    server.receive_data(client.data_to_send())
    (share,) = list(iter(server.next_event, None))
    assert isinstance(share, SubmitShare) and share.version == version
    assert sha256d(share_header(share)) == digest
