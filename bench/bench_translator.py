"""SV1 shares per second through the translator core on one core, against the hashing floor.

One share = a ``mining.submit`` line in, the session's checks, the header rebuilt and hashed
(coinbase sha256d, merkle path, header sha256d), the ``true`` answer, and the share forwarded
as ``SubmitSharesExtended`` encoded and Noise-encrypted for the upstream (the worst case: every
share also meets the channel target). Every share is distinct and accepted. Baselines in the
same run: one sha256d of a header, and the SV1 session alone (parse + checks, no hashing).
"""

from __future__ import annotations

import json
import time

from bench.common import per_second, print_table, sha256d_header
from stratumv2.bitcoin.hashes import merkle_branch
from stratumv2.bitcoin.target import MAX_TARGET, bits_to_target
from stratumv2.connection import Connection
from stratumv2.noise import Keypair, ResponderIdentity
from stratumv2.protocol import (
    NewExtendedMiningJob,
    OpenExtendedMiningChannelSuccess,
    SetNewPrevHashMining,
    SetupConnectionSuccess,
)
from stratumv2.roles.translator.core import SendUpstream, TranslatorConfig, TranslatorCore
from stratumv2.sv1 import SessionConfig, Sv1ServerSession

HARD_BITS = 0x17031ABE  # mainnet-like: no share is a block
NOW = 1_700_000_000.0
TX_COUNT = 3000  # a 12-level merkle path


def _secret(i: int) -> bytes:
    return bytes([i]) * 32


def _upstream() -> Connection:
    authority = Keypair(_secret(1))
    identity = ResponderIdentity(authority, _secret(2))
    client = Connection.initiator(authority.public_key, _secret(3), time.time())
    server = Connection.responder(identity, _secret(4), time.time())
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    client.events()
    return client


def _translator() -> tuple[TranslatorCore, str, bytes, int]:
    """A core with one device on an open channel; returns (core, job id, extranonce1, size)."""
    core = TranslatorCore(
        TranslatorConfig(vardiff=None, session=SessionConfig(min_difficulty=1e-12))
    )
    core.upstream_connected(NOW)
    core.on_upstream_message(SetupConnectionSuccess(used_version=2, flags=0), NOW)
    core.device_connected(1, "bench", NOW)
    core.on_device_data(
        1,
        b'{"id":1,"method":"mining.configure","params":[["version-rolling"],'
        b'{"version-rolling.mask":"ffffffff"}]}\n'
        b'{"id":2,"method":"mining.subscribe","params":["bitaxe/BM1370/v2.15.0"]}\n'
        b'{"id":3,"method":"mining.authorize","params":["bench.rig","x"]}\n'
        b'{"id":4,"method":"mining.suggest_difficulty","params":[1e-11]}\n',
        NOW,
    )
    core.on_upstream_message(
        OpenExtendedMiningChannelSuccess(
            request_id=1,
            channel_id=7,
            target=MAX_TARGET.to_bytes(32, "little"),
            extranonce_size=16,
            extranonce_prefix=bytes(4),
            group_channel_id=0,
        ),
        NOW,
    )
    path = tuple(merkle_branch([i.to_bytes(32, "little") for i in range(1, TX_COUNT)]))
    job = NewExtendedMiningJob(
        channel_id=7,
        job_id=1,
        min_ntime=None,
        version=0x20000000,
        version_rolling_allowed=True,
        merkle_path=path,
        coinbase_tx_prefix=bytes(42) + b"\x14",
        coinbase_tx_suffix=bytes(120),
    )
    core.on_upstream_message(job, NOW)
    core.on_upstream_message(
        SetNewPrevHashMining(
            channel_id=7, job_id=1, prev_hash=bytes(32), min_ntime=int(NOW), nbits=HARD_BITS
        ),
        NOW,
    )
    channel = core.device_channel(1)
    assert channel is not None
    assert bits_to_target(HARD_BITS) < MAX_TARGET
    return core, "1", channel[1], channel[2]


def _lines(count: int, job_id: str, size: int) -> list[bytes]:
    out = []
    for i in range(count):
        params = [
            "bench.rig",
            job_id,
            (i >> 16).to_bytes(size, "little").hex(),
            f"{int(NOW):08x}",
            f"{i & 0xFFFF:08x}",
            f"{(i % 7) << 13:08x}",
        ]
        out.append(
            json.dumps(
                {"id": 10 + i, "method": "mining.submit", "params": params}, separators=(",", ":")
            ).encode()
            + b"\n"
        )
    return out


def _translator_rate(count: int, rounds: int) -> tuple[float, int]:
    best = float("inf")
    accepted = 0
    for _ in range(rounds):
        core, job_id, _, size = _translator()
        upstream = _upstream()
        lines = _lines(count, job_id, size)
        started = time.perf_counter()
        for line in lines:
            for action in core.on_device_data(1, line, NOW):
                if type(action) is SendUpstream:
                    upstream.send(action.message)
            upstream.data_to_send()
        best = min(best, time.perf_counter() - started)
        stats = core.stats(1)
        assert stats is not None
        accepted = stats.shares_accepted
        assert stats.shares_forwarded == accepted
    return count / best, accepted


def _session_rate(count: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        core, _, extranonce1, size = _translator()
        session = Sv1ServerSession(SessionConfig(min_difficulty=1e-12), subscription_id="1")
        session.receive_data(b'{"id":2,"method":"mining.subscribe","params":["x"]}\n')
        session.next_event()
        session.accept_subscribe(2, extranonce1, size)
        session.receive_data(b'{"id":3,"method":"mining.authorize","params":["bench.rig","x"]}\n')
        session.next_event()
        session.accept_authorize(3)
        device = core.devices[1].session
        job = next(iter(device._jobs.values())).notify  # the notify the device got
        session.notify(job)
        session.data_to_send()
        lines = _lines(count, job.job_id, size)
        started = time.perf_counter()
        for line in lines:
            session.receive_data(line)
            event = session.next_event()
            session.share_accepted(event.request_id)  # type: ignore[union-attr]
            session.data_to_send()
        best = min(best, time.perf_counter() - started)
    return count / best


def main(short: bool) -> None:
    count = 2000 if short else 60_000
    rounds = 1 if short else 3
    floor = per_second(sha256d_header, short)
    translator, accepted = _translator_rate(count, rounds)
    session = _session_rate(count, rounds)
    rows: list[list[object]] = [
        ["sha256d of a header (baseline)", floor, 1.0],
        ["SV1 session alone: parse + checks + answer", session, floor / session],
        ["translator: submit -> hash check -> answer + encrypted SubmitSharesExtended",
         translator, floor / translator],
    ]  # fmt: skip
    print_table(
        f"SV1 shares through the translator, one core ({accepted} accepted shares per round, "
        f"{TX_COUNT}-tx merkle path)",
        ["path", "per second", "cost in sha256d"],
        rows,
    )


if __name__ == "__main__":
    main(short=False)
