"""Bytes on the wire: the same mining workload over SV1, SV2 extended and SV2 standard channels.

One device, one share difficulty, the same jobs: every message is produced by our real
encoders (the SV1 session's lines, a device's ``mining.submit`` in ESP-Miner's compact form;
SV2 frames through a Noise ``Connection``, so the 6-byte header, its 16-byte MAC and the
payload's 16-byte MAC are all counted). The job is a mainnet-like one: a 12-level merkle path
(~3000 transactions), a SRI-sized coinbase (scriptSig with BIP34 height, pool tag and a 20-byte
extranonce; a payout output and the witness commitment).

Events:
* accepted share: device -> server submit, plus the server's answer. SV1 answers every share;
  SV2 acknowledges in batches (``SubmitShares.Success`` every ``share_batch_size`` shares), so
  its answer is counted as 1/batch of one Success (batch 1 and our default 10 shown).
* job update (same tip, new template): SV1 ``mining.notify``; SV2 extended
  ``NewExtendedMiningJob``; SV2 standard ``NewMiningJob`` (header-only: 48 bytes of payload).
* new block: SV1 clean ``mining.notify``; SV2 a future job plus ``SetNewPrevHash``.
A device-hour at 18 shares/min, a job update every 30 s and a block every 10 minutes sums
it up; "saving" is 1 - SV2/SV1. The SV2 spec's "up to 95%" is compared with what we measure.
A second table drives that same device-hour through the translator core (SV1 bytes on the
device side, SV2 extended bytes on the upstream side) as a cross-check of the per-event sums.
Reading: job distribution saves 93% (standard, header-only) and ~53% (extended); shares save
little (an encrypted SV2 frame carries 32 bytes of MACs), so shares decide the total.
"""

from __future__ import annotations

import json
import time

from bench.common import print_table
from stratumv2.bitcoin.coinbase import bip34_height_push
from stratumv2.bitcoin.hashes import merkle_branch
from stratumv2.connection import Connection
from stratumv2.noise import Keypair, ResponderIdentity
from stratumv2.protocol import (
    Message,
    NewExtendedMiningJob,
    NewMiningJob,
    SetNewPrevHashMining,
    SubmitSharesExtended,
    SubmitSharesStandard,
    SubmitSharesSuccess,
)
from stratumv2.sv1 import MiningNotify, SessionConfig, Sv1ServerSession
from stratumv2.sv1.translate import notify_from_extended_job

TX_COUNT = 3000
NTIME = 1_700_000_000
NBITS = 0x17031ABE
SHARES_PER_HOUR = 18 * 60
JOB_UPDATES_PER_HOUR = 120
BLOCKS_PER_HOUR = 6


def _secret(i: int) -> bytes:
    return bytes([i]) * 32


def _connection() -> Connection:
    authority = Keypair(_secret(1))
    identity = ResponderIdentity(authority, _secret(2))
    client = Connection.initiator(authority.public_key, _secret(3), time.time())
    server = Connection.responder(identity, _secret(4), time.time())
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    client.events()
    return client


_CONN = None


def _sv2_bytes(message: Message) -> int:
    """Bytes of one message on an established Noise connection."""
    global _CONN
    if _CONN is None:
        _CONN = _connection()
    _CONN.send(message)
    return len(_CONN.data_to_send())


def _job(job_id: int, future: bool) -> NewExtendedMiningJob:
    script_sig = bip34_height_push(900_000) + b"\x0f/stratumv2-pool/" + b"\x14"  # + 20 bytes
    prefix = (
        bytes.fromhex("02000000") + b"\x01" + bytes(32) + b"\xff\xff\xff\xff"
        + bytes([len(script_sig) + 20]) + script_sig
    )  # fmt: skip
    outputs = (
        b"\x02" + (312_500_000).to_bytes(8, "little") + b"\x16\x00\x14" + bytes(20)
        + bytes(8) + b"\x26\x6a\x24\xaa\x21\xa9\xed" + bytes(32)
    )  # fmt: skip
    suffix = b"\xfe\xff\xff\xff" + outputs + (899_999).to_bytes(4, "little")
    return NewExtendedMiningJob(
        channel_id=1,
        job_id=job_id,
        min_ntime=None if future else NTIME,
        version=0x20000000,
        version_rolling_allowed=True,
        merkle_path=tuple(
            merkle_branch([(i + job_id).to_bytes(32, "little") for i in range(1, TX_COUNT)])
        ),
        coinbase_tx_prefix=prefix,
        coinbase_tx_suffix=suffix,
    )


def _prev(job_id: int) -> SetNewPrevHashMining:
    return SetNewPrevHashMining(
        channel_id=1, job_id=job_id, prev_hash=bytes(range(32)), min_ntime=NTIME, nbits=NBITS
    )


def _sv1_session() -> Sv1ServerSession:
    session = Sv1ServerSession(SessionConfig(), subscription_id="00000001")
    session.receive_data(b'{"id":2,"method":"mining.subscribe","params":["bitaxe"]}\n')
    session.next_event()
    session.accept_subscribe(2, bytes(8), 4)
    session.receive_data(b'{"id":3,"method":"mining.authorize","params":["bc1qexample.rig","x"]}\n')
    session.next_event()
    session.accept_authorize(3)
    session.set_difficulty(1000)
    session.data_to_send()
    return session


def _sv1_notify(session: Sv1ServerSession, job_id: int, clean: bool) -> int:
    notify: MiningNotify = notify_from_extended_job(
        _job(job_id, False), _prev(job_id), clean_jobs=clean
    )
    session.notify(notify)
    return len(session.data_to_send())


def _sv1_share(session: Sv1ServerSession, job_id: int, i: int) -> tuple[int, int]:
    line = json.dumps(
        {
            "id": 10 + i,
            "method": "mining.submit",
            "params": ["bc1qexample.rig", str(job_id), f"{i:08x}", f"{NTIME:08x}",
                       f"{0x1234567 + i:08x}", f"{i << 13:08x}"],
        },
        separators=(",", ":"),
    ).encode() + b"\n"  # fmt: skip
    session.receive_data(line)
    event = session.next_event()
    session.share_accepted(event.request_id)  # type: ignore[union-attr]
    return len(line), len(session.data_to_send())


def _rows() -> list[list[object]]:
    session = _sv1_session()
    _sv1_notify(session, 1, True)
    up, down = _sv1_share(session, 1, 1)
    sv1_share = up + down
    sv1_update = _sv1_notify(session, 2, False)
    sv1_block = _sv1_notify(session, 3, True)

    success = _sv2_bytes(
        SubmitSharesSuccess(
            channel_id=1, last_sequence_number=9, new_submits_accepted_count=10, new_shares_sum=10
        )
    )
    ext_submit = _sv2_bytes(SubmitSharesExtended(1, 7, 2, 0x12345678, NTIME, 0x20002000, bytes(8)))
    std_submit = _sv2_bytes(SubmitSharesStandard(1, 7, 2, 0x12345678, NTIME, 0x20002000))
    ext_update = _sv2_bytes(_job(2, False))
    std_update = _sv2_bytes(NewMiningJob(1, 2, NTIME, 0x20000000, bytes(32)))
    prev = _sv2_bytes(_prev(3))
    ext_block = _sv2_bytes(_job(3, True)) + prev
    std_block = _sv2_bytes(NewMiningJob(1, 3, None, 0x20000000, bytes(32))) + prev

    def hour(share: float, update: float, block: float) -> float:
        return share * SHARES_PER_HOUR + update * JOB_UPDATES_PER_HOUR + block * BLOCKS_PER_HOUR

    cases = [
        ("SV1 (JSON lines)", sv1_share, sv1_update, sv1_block),
        ("SV2 extended, ack every share", ext_submit + success, ext_update, ext_block),
        ("SV2 extended, ack per 10", ext_submit + success / 10, ext_update, ext_block),
        ("SV2 standard, ack every share", std_submit + success, std_update, std_block),
        ("SV2 standard, ack per 10", std_submit + success / 10, std_update, std_block),
    ]
    sv1_hour = hour(sv1_share, sv1_update, sv1_block)
    rows: list[list[object]] = []
    for name, share, update, block in cases:
        total = hour(share, update, block)
        rows.append(
            [
                name,
                float(share),
                float(update),
                float(block),
                total / 1000,
                f"{1 - total / sv1_hour:.0%}",
            ]
        )
    return rows


def _through_translator(batch: int) -> tuple[float, float]:
    """One device-hour driven through the translator core: (SV1 kB device side, SV2 kB
    upstream side, both directions, Noise included)."""
    from stratumv2.bitcoin.target import MAX_TARGET
    from stratumv2.protocol import (
        OpenExtendedMiningChannelSuccess,
        SetupConnectionSuccess,
    )
    from stratumv2.roles.translator.core import SendUpstream, TranslatorConfig, TranslatorCore

    up = _connection()  # translator -> pool
    down = _connection()  # pool -> translator (same sizes: one Noise direction each)
    core = TranslatorCore(
        TranslatorConfig(vardiff=None, session=SessionConfig(min_difficulty=1e-12))
    )
    core.upstream_connected(0)
    core.on_upstream_message(SetupConnectionSuccess(used_version=2, flags=0), 0)
    core.device_connected(1, "bench", 0)
    core.on_device_data(
        1,
        b'{"id":1,"method":"mining.subscribe","params":["bitaxe"]}\n'
        b'{"id":2,"method":"mining.authorize","params":["bc1qexample.rig","x"]}\n'
        b'{"id":3,"method":"mining.suggest_difficulty","params":[1e-11]}\n',
        0,
    )
    sv2 = 0

    def from_pool(message: Message) -> None:
        nonlocal sv2
        down.send(message)
        sv2 += len(down.data_to_send())
        for action in core.on_upstream_message(message, 0):
            if type(action) is SendUpstream:
                up.send(action.message)
                sv2 += len(up.data_to_send())

    from_pool(
        OpenExtendedMiningChannelSuccess(
            request_id=1, channel_id=1, target=MAX_TARGET.to_bytes(32, "little"),
            extranonce_size=16, extranonce_prefix=bytes(4), group_channel_id=0,
        )
    )  # fmt: skip
    stats = core.stats(1)
    assert stats is not None
    sv2 = 0
    base = stats.bytes_in + stats.bytes_out
    shares = 0
    per_update = SHARES_PER_HOUR // JOB_UPDATES_PER_HOUR
    for update in range(JOB_UPDATES_PER_HOUR):
        job_id = update + 1
        if update % (JOB_UPDATES_PER_HOUR // BLOCKS_PER_HOUR) == 0:
            from_pool(_job(job_id, True))
            from_pool(_prev(job_id))
        else:
            from_pool(_job(job_id, False))
        channel = core.device_channel(1)
        assert channel is not None
        for _ in range(per_update):
            shares += 1
            line = json.dumps(
                {"id": 10 + shares, "method": "mining.submit",
                 "params": ["bc1qexample.rig", str(job_id), f"{shares:08x}", f"{NTIME:08x}",
                            f"{shares:08x}", f"{(shares & 0xFFFF) << 13:08x}"]},
                separators=(",", ":"),
            ).encode() + b"\n"  # fmt: skip
            for action in core.on_device_data(1, line, 0):
                if type(action) is SendUpstream:
                    up.send(action.message)
                    sv2 += len(up.data_to_send())
            if shares % batch == 0:
                from_pool(SubmitSharesSuccess(1, shares, batch, batch))
    assert stats.shares_forwarded == SHARES_PER_HOUR, stats
    return (stats.bytes_in + stats.bytes_out - base) / 1000, sv2 / 1000


def main(short: bool) -> None:
    rows = _rows()
    print_table(
        f"Bytes on the wire per event (Noise overhead included; {TX_COUNT}-tx merkle path); "
        f"device-hour = {SHARES_PER_HOUR} shares, {JOB_UPDATES_PER_HOUR} job updates, "
        f"{BLOCKS_PER_HOUR} blocks",
        ["protocol", "per share", "per job update", "per new block", "kB per hour", "saving"],
        rows,
    )
    measured = []
    for batch in (1, 10):
        sv1_kb, sv2_kb = _through_translator(batch)
        measured.append([f"ack per {batch}", sv1_kb, sv2_kb, f"{1 - sv2_kb / sv1_kb:.0%}"])
    print_table(
        "The same device-hour driven through the translator core: SV1 device side vs SV2 "
        "extended upstream side (kB, both directions)",
        ["SV2 acks", "SV1 kB", "SV2 kB", "saving"],
        measured,
    )
    best = max(int(str(row[5]).rstrip("%")) for row in rows)
    print(f"\nbest saving measured: {best}% (the SV2 spec says 'up to 95%')")


if __name__ == "__main__":
    main(short=False)
