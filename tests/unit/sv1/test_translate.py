"""SV2 extended job <-> SV1 notify/submit, checked on a real block.

Golden data: mainnet block 413567 (shared/vectors/mainnet-block-413567.raw, Bitcoin Core's
benchmark block). The expected notify prevhash is derived by hand from the block's prev hash
as cgminer/ESP-Miner read it back: hex2bin, then every 4-byte word byte-reversed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from stratumv2.bitcoin.block import Block
from stratumv2.bitcoin.hashes import hash_to_hex, merkle_branch, sha256d
from stratumv2.bitcoin.target import DIFF1_TARGET
from stratumv2.sv1 import SessionConfig, SubmitShare, Sv1ProtocolError, Sv1ServerSession
from stratumv2.sv1.translate import (
    difficulty_to_u256_target,
    notify_from_extended_job,
    share_header,
    share_to_extended,
    sv1_job_id,
    sv2_job_id,
    u256_target_to_difficulty,
)

VECTORS = Path(__file__).resolve().parents[3].parent / "shared" / "vectors"
if not VECTORS.is_dir():  # repo checked out elsewhere: fall back to the absolute path
    VECTORS = Path("/work/shared/vectors")
BLOCK = VECTORS / "mainnet-block-413567.raw"

BLOCK_HASH = "0000000000000000025aff8be8a55df8f89c77296db6198f272d6577325d4069"
PREV_HASH_DISPLAY = "00000000000000000542b54d29b12b523ff6c6474e0e86085bd3005ec6c5ce11"
# the display hex's 8-hex-digit words in reverse order == each word of the internal bytes reversed
PREV_HASH_NOTIFY = "c6c5ce115bd3005e4e0e86083ff6c64729b12b520542b54d0000000000000000"


@dataclass(frozen=True)
class Job:  # the fields of NewExtendedMiningJob
    channel_id: int
    job_id: int
    min_ntime: int | None
    version: int
    version_rolling_allowed: bool
    merkle_path: Sequence[bytes]
    coinbase_tx_prefix: bytes
    coinbase_tx_suffix: bytes


@dataclass(frozen=True)
class PrevHash:  # the fields of SetNewPrevHash (Mining)
    channel_id: int
    job_id: int
    prev_hash: bytes
    min_ntime: int
    nbits: int


def _esp_miner_header(params: list[object], en1: str, en2: str, nonce: int, vbits: int) -> bytes:
    """Rebuild the header from notify strings as ESP-Miner does (sv1-devices.md §3)."""
    _job_id, prev, coinb1, coinb2, branch, version, nbits, ntime, _clean = params
    assert isinstance(prev, str) and isinstance(branch, list)
    coinbase = bytes.fromhex(f"{coinb1}{en1}{en2}{coinb2}")
    root = sha256d(coinbase)
    for h in branch:
        root = sha256d(root + bytes.fromhex(h))
    prev_bytes = bytes.fromhex(prev)
    prev_le = b"".join(prev_bytes[i : i + 4][::-1] for i in range(0, 32, 4))
    rolled = int(str(version), 16) | vbits
    return (
        rolled.to_bytes(4, "little")
        + prev_le
        + root
        + int(str(ntime), 16).to_bytes(4, "little")
        + int(str(nbits), 16).to_bytes(4, "little")
        + nonce.to_bytes(4, "little")
    )


@pytest.fixture(scope="module")
def block() -> Block:
    return Block.parse(BLOCK.read_bytes())


def test_block_413567_through_notify_and_submit(block: Block) -> None:
    header = block.header
    assert hash_to_hex(header.prev_hash) == PREV_HASH_DISPLAY
    coinbase = block.transactions[0].serialize(include_witness=False)
    # scriptSig starts at byte 42; keep the 4-byte height push, then 8 extranonce bytes
    prefix, extranonce, suffix = coinbase[:46], coinbase[46:54], coinbase[54:]
    channel_prefix, local, en2 = extranonce[:2], extranonce[2:4], extranonce[4:]
    job = Job(
        channel_id=1,
        job_id=7,
        min_ntime=None,
        version=header.version,
        version_rolling_allowed=True,
        merkle_path=merkle_branch([tx.txid for tx in block.transactions[1:]]),
        coinbase_tx_prefix=prefix,
        coinbase_tx_suffix=suffix,
    )
    prev = PrevHash(1, 7, header.prev_hash, header.time, header.bits)
    notify = notify_from_extended_job(job, prev, clean_jobs=True)
    assert notify.ntime == header.time and notify.job_id == "7"

    session = Sv1ServerSession(
        SessionConfig(start_difficulty=1), extranonce1=channel_prefix + local, extranonce2_size=4
    )
    session.receive_data(
        b'{"id":1,"method":"mining.subscribe","params":["bitaxe/BM1370/v2.15.0"]}\n'
        b'{"id":2,"method":"mining.authorize","params":["u.w","x"]}\n'
    )
    session.next_event()
    session.accept_authorize(2)
    session.data_to_send()
    session.notify(notify)
    lines = [json.loads(x) for x in session.data_to_send().splitlines()]
    params = lines[-1]["params"]
    assert params[1] == PREV_HASH_NOTIFY
    assert params[5:8] == ["00000004", "18058436", "57478db3"]

    rebuilt = _esp_miner_header(params, (channel_prefix + local).hex(), en2.hex(), header.nonce, 0)
    assert rebuilt == header.serialize()
    assert hash_to_hex(sha256d(rebuilt)) == BLOCK_HASH

    session.receive_data(
        json.dumps(
            {
                "id": 3,
                "method": "mining.submit",
                "params": [
                    "u.w",
                    "7",
                    en2.hex(),
                    f"{header.time:08x}",
                    f"{header.nonce:08x}",
                    "00000000",
                ],
            }
        ).encode()
        + b"\n"
    )
    session.next_event()  # Authorize
    share = session.next_event()
    assert isinstance(share, SubmitShare)
    assert share_header(share) == header.serialize()
    fields = share_to_extended(share, extranonce_prefix_size=len(channel_prefix))
    assert fields.job_id == 7 and fields.nonce == header.nonce and fields.ntime == header.time
    assert fields.version == header.version
    assert fields.extranonce == local + en2
    # the pool side rebuilds the same coinbase from prefix ‖ channel prefix ‖ extranonce ‖ suffix
    assert prefix + channel_prefix + fields.extranonce + suffix == coinbase


def test_job_min_ntime_wins_over_prev_hash_min_ntime() -> None:
    job = Job(1, 3, 1_700_000_123, 0x20000000, True, (), b"\x01", b"\x02")
    prev = PrevHash(1, 3, bytes(32), 1_700_000_000, 0x207FFFFF)
    notify = notify_from_extended_job(job, prev, clean_jobs=False, resend=2)
    assert notify.ntime == 1_700_000_123 and notify.job_id == "3#2"
    assert notify.coinb1 == b"\x01" and notify.coinb2 == b"\x02" and not notify.clean_jobs


def test_job_id_round_trip_and_garbage() -> None:
    assert sv2_job_id(sv1_job_id(4_294_967_295)) == 4_294_967_295
    assert sv2_job_id(sv1_job_id(12, resend=3)) == 12
    for bad in ("", "abc", "12#", "#1", "4294967296", "1 2", "-1", "0x10"):
        with pytest.raises(Sv1ProtocolError) as info:
            sv2_job_id(bad)
        assert info.value.code == 21


def test_difficulty_target_conversions() -> None:
    assert u256_target_to_difficulty(DIFF1_TARGET.to_bytes(32, "little")) == 1.0
    assert difficulty_to_u256_target(1024) == (DIFF1_TARGET // 1024).to_bytes(32, "little")
    assert u256_target_to_difficulty(difficulty_to_u256_target(0.5)) == pytest.approx(0.5)
    regtest_max = b"\xff" * 28 + b"\xff\xff\xff\x7f"
    assert u256_target_to_difficulty(regtest_max) == pytest.approx(DIFF1_TARGET / 2**255)


def test_share_to_extended_refuses_a_prefix_longer_than_extranonce1() -> None:
    share = SubmitShare(1, "u", "", "1", None, b"\x01", b"\x02", 0, 0, 0, None, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        share_to_extended(share, extranonce_prefix_size=2)
