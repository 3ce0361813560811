"""Scripted exchanges replaying what real devices send (shared/sv1-devices.md §1, §4, §6)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stratumv2.bitcoin.hashes import sha256d
from stratumv2.sv1 import (
    Authorize,
    Configure,
    InvalidRequest,
    MiningNotify,
    SessionConfig,
    SubmitShare,
    Subscribe,
    SuggestDifficulty,
)
from stratumv2.sv1.translate import share_header

ESP_CONFIGURE = (
    '{"id":1,"method":"mining.configure","params":[["version-rolling"],'
    '{"version-rolling.mask":"ffffffff"}]}'
)


def _difficulties(messages: list[dict[str, Any]]) -> list[object]:
    return [m["params"][0] for m in messages if m.get("method") == "mining.set_difficulty"]


def test_esp_miner_v2_15_sequence(device_factory: Callable[..., Any], job_factory: Any) -> None:
    """v2.9.0 - now: configure, subscribe, authorize at once; suggest after authorize succeeds."""
    dev = device_factory(SessionConfig(start_difficulty=512))
    events = dev.send(
        ESP_CONFIGURE,
        '{"id":2,"method":"mining.subscribe","params":["bitaxe/BM1370/v2.15.0"]}',
        '{"id":3,"method":"mining.authorize","params":["bc1qexample.bitaxe1","x"]}',
    )
    assert [type(e) for e in events] == [Configure, Subscribe, Authorize]
    assert events[0].version_mask == 0x1FFFE000
    assert events[2] == Authorize(3, "bc1qexample.bitaxe1", "bc1qexample", "bitaxe1", "x")
    out = dev.read()
    assert out[0] == {
        "id": 1,
        "result": {"version-rolling": True, "version-rolling.mask": "1fffe000"},
        "error": None,
    }
    assert out[1]["id"] == 2 and out[1]["result"][1:] == ["f000000d", 4]
    assert out[1]["result"][0][1][0] == "mining.notify"
    assert len(out) == 2  # authorize waits for the role
    dev.session.accept_authorize(3)
    dev.session.notify(job_factory("a1", clean=True))
    out = dev.read()
    assert out[0] == {"id": 3, "result": True, "error": None}
    assert _difficulties(out) == [512]
    assert out[-1]["method"] == "mining.notify"
    # the suggestion arrives after the authorize answer: it applies from the next job on
    events = dev.send('{"id":4,"method":"mining.suggest_difficulty","params":[1000]}')
    assert events == [SuggestDifficulty(4, 1000.0, 1000)]
    assert _difficulties(dev.read()) == [1000]
    # a share on the old job is checked against the old (lower) difficulty
    events = dev.send(
        '{"id":5,"method":"mining.submit","params":["bc1qexample.bitaxe1","a1","01000000",'
        '"66000000","12345678","00002000"]}'
    )
    (share,) = events
    assert isinstance(share, SubmitShare)
    assert share.difficulty == 512
    assert share.version == 0x20002000 and share.version_bits == 0x2000
    assert share.extranonce2 == bytes.fromhex("01000000") and share.nonce == 0x12345678
    dev.session.share_accepted(5)
    assert dev.answer(5) == {"id": 5, "result": True, "error": None}
    dev.session.notify(job_factory("a2"))
    dev.read()
    (share,) = dev.send(
        '{"id":6,"method":"mining.submit","params":["bc1qexample.bitaxe1","a2","02000000",'
        '"66000000","12345678","00000000"]}'
    )
    assert isinstance(share, SubmitShare) and share.difficulty == 1000


def test_esp_miner_v2_4_1_sequence_suggest_right_behind_authorize(
    device_factory: Callable[..., Any], job_factory: Any
) -> None:
    """v2.4.1 - v2.8.x: configure, subscribe, authorize, suggest all written at once."""
    dev = device_factory()
    events = dev.send(
        '{"id": 1, "method": "mining.configure", "params": [["version-rolling"], '
        '{"version-rolling.mask": "ffffffff"}]}',
        '{"id": 2, "method": "mining.subscribe", "params": ["bitaxe/BM1368/v2.5.0"]}',
        '{"id": 3, "method": "mining.authorize", "params": ["user.w", "x"]}',
        '{"id": 4, "method": "mining.suggest_difficulty", "params": [1000]}',
    )
    assert [type(e) for e in events] == [Configure, Subscribe, Authorize, SuggestDifficulty]
    dev.session.accept_authorize(3)
    dev.session.notify(job_factory("j1", clean=True))
    assert _difficulties(dev.read()) == [1000]


def test_esp_miner_up_to_v2_4_0_suggest_before_authorize(
    device_factory: Callable[..., Any], job_factory: Any
) -> None:
    """<= v2.4.0: subscribe(1), configure(2), suggest(3), authorize(4); the suggestion counts."""
    dev = device_factory()
    events = dev.send(
        '{"id": 1, "method": "mining.subscribe", "params": ["bitaxe/BM1366/v2.4.0"]}',
        '{"id": 2, "method": "mining.configure", "params": [["version-rolling"], '
        '{"version-rolling.mask": "ffffffff"}]}',
        '{"id": 3, "method": "mining.suggest_difficulty", "params": [1000]}',
        '{"id": 4, "method": "mining.authorize", "params": ["user.w", "x"]}',
    )
    assert [type(e) for e in events] == [Subscribe, Configure, SuggestDifficulty, Authorize]
    dev.session.accept_authorize(4)
    dev.session.notify(job_factory("j1", clean=True))
    out = dev.read()
    assert _difficulties(out) == [1000]
    assert {m["id"] for m in out if "result" in m} == {1, 2, 3, 4}
    # and shares from this order validate as usual
    (share,) = dev.send(
        '{"id": 5, "method": "mining.submit", "params": ["user.w", "j1", "00000000", '
        '"66000000", "0000abcd", "1fffe000"]}'
    )
    assert isinstance(share, SubmitShare) and share.difficulty == 1000


def test_cpuminer_sequence_five_params_and_repeated_id(
    device_factory: Callable[..., Any], job_factory: Any
) -> None:
    dev = device_factory(SessionConfig(start_difficulty=0.25))
    events = dev.send(
        '{"id": 1, "method": "mining.subscribe", "params": ["cpuminer/2.5.1"]}',
        '{"id": 2, "method": "mining.authorize", "params": ["user", "pass"]}',
    )
    assert [type(e) for e in events] == [Subscribe, Authorize]
    assert events[1] == Authorize(2, "user", "user", "", "pass")
    dev.session.accept_authorize(2)
    dev.session.notify(job_factory("c1", version=0x20000000, clean=True))
    assert _difficulties(dev.read())[0] == 0.25
    shares = []
    for nonce in ("00000001", "00000002"):
        shares += dev.send(
            '{"method": "mining.submit", "params": ["user", "c1", "00000000", "66000000", "'
            + nonce
            + '"], "id":4}'
        )
    assert [s.request_id for s in shares] == [4, 4]
    assert all(isinstance(s, SubmitShare) and s.version == 0x20000000 for s in shares)
    assert all(s.version_bits is None for s in shares)


def test_cgminer_sequence_min_bit_count_and_rolled_bits(
    device_factory: Callable[..., Any], job_factory: Any
) -> None:
    dev = device_factory()
    events = dev.send(
        '{"id": 1, "method": "mining.configure", "params": [["version-rolling"], '
        '{"version-rolling.mask": "1fffe000", "version-rolling.min-bit-count": 2}]}',
        '{"id": 2, "method": "mining.subscribe", "params": ["cgminer/4.11.1"]}',
        '{"id": 3, "method": "mining.authorize", "params": ["user.ant", "x"]}',
    )
    assert events[0] == Configure(1, ("version-rolling",), 0x1FFFE000, None)
    dev.session.accept_authorize(3)
    dev.session.notify(job_factory("g1", version=0x30000000, clean=True))
    dev.read()
    # cgminer hashes job_version | candidate and submits the candidate bits
    (share,) = dev.send(
        '{"id": 4, "method": "mining.submit", "params": ["user.ant", "g1", "00000000", '
        '"66000000", "00000000", "10004000"]}'
    )
    assert isinstance(share, SubmitShare) and share.version == 0x30000000 | 0x10004000


def test_configure_without_version_rolling_then_bits_checked_against_server_mask(
    device_factory: Callable[..., Any], ready_device: Any
) -> None:
    """No configure at all (ckpool checks the global mask): bits inside it are accepted."""
    (share,) = ready_device.send(
        '{"id":9,"method":"mining.submit","params":["user.w1","1","00000000","66000000",'
        '"00000000","00ffe000"]}'
    )
    assert isinstance(share, SubmitShare) and share.version == 0x20FFE000


def _esp_miner_version_bits(job_version: int, counter: int) -> tuple[int, int]:
    """What a BM1366/68/70 Bitaxe hashes and submits (bm1370.c, asic_result_task.c)."""
    rolled = job_version | (counter << 13)
    return rolled, rolled ^ job_version


def test_esp_miner_shares_rebuild_the_hashed_version_when_the_job_has_a_bit_in_the_mask(
    device_factory: Callable[..., Any], job_factory: Callable[..., MiningNotify]
) -> None:
    """Regtest heights 144-431: job version 0x30000000 has bit 28 inside 0x1fffe000."""
    dev = device_factory()
    dev.send(
        ESP_CONFIGURE,
        '{"id":2,"method":"mining.subscribe","params":["bitaxe/BM1370/v2.15.0"]}',
        '{"id":3,"method":"mining.authorize","params":["u.w","x"]}',
    )
    dev.session.accept_authorize(3)
    job_version = 0x30000000
    dev.session.notify(job_factory("v1", version=job_version, clean=True))
    dev.read()
    mask = 0x1FFFE000
    for n, counter in enumerate((0x0001, 0x8000, 0xFFFF, 0x1935, 0x4242)):
        rolled, submitted = _esp_miner_version_bits(job_version, counter)
        (share,) = dev.send(
            f'{{"id":{10 + n},"method":"mining.submit","params":["u.w","v1","00000000",'
            f'"66000000","00000001","{submitted:08x}"]}}'
        )
        assert isinstance(share, SubmitShare)
        assert share.version == rolled
        # BIP310's formula drops the job's bit 28 (the XOR form never carries it back)
        assert (job_version & ~mask) | (submitted & mask) != rolled


def test_bm1397_midstate_walk_over_four_versions(
    device_factory: Callable[..., Any], job_factory: Callable[..., MiningNotify]
) -> None:
    """BM1397 (increment_bitmask over 4 midstates): same XOR submit form, same rebuild."""
    dev = device_factory()
    dev.send(
        ESP_CONFIGURE,
        '{"id":2,"method":"mining.subscribe","params":["bitaxe/BM1397/v2.3.0"]}',
        '{"id":3,"method":"mining.authorize","params":["u.w","x"]}',
    )
    dev.session.accept_authorize(3)
    dev.session.notify(job_factory("m", version=0x20000004, clean=True))
    dev.read()
    for i, rolled in enumerate((0x20000004, 0x20002004, 0x20004004, 0x20006004)):
        (share,) = dev.send(
            f'{{"id":{10 + i},"method":"mining.submit","params":["u.w","m","00000000",'
            f'"66000000","00000001","{rolled ^ 0x20000004:08x}"]}}'
        )
        assert isinstance(share, SubmitShare) and share.version == rolled


def test_server_rebuilds_the_exact_header_an_esp_miner_hashed(
    device_factory: Callable[..., Any], job_factory: Callable[..., MiningNotify]
) -> None:
    """Device side as in sv1-devices.md §3 (strings in, header out) vs `share_header`."""
    dev = device_factory()
    dev.send(
        ESP_CONFIGURE,
        '{"id":2,"method":"mining.subscribe","params":["bitaxe/BM1370/v2.15.0"]}',
        '{"id":3,"method":"mining.authorize","params":["u.w","x"]}',
    )
    dev.session.accept_authorize(3)
    dev.session.notify(job_factory("r1", version=0x30000000, clean=True))
    params = dev.read()[-1]["params"]
    en1, en2, nonce = "f000000d", "01000000", 0x0BADCAFE
    coinbase_hash = sha256d(bytes.fromhex(params[2] + en1 + en2 + params[3]))
    root = coinbase_hash
    for h in params[4]:
        root = sha256d(root + bytes.fromhex(h))
    prev = bytes.fromhex(params[1])
    rolled, submitted = _esp_miner_version_bits(int(params[5], 16), 0x0123)
    device_header = (
        rolled.to_bytes(4, "little")
        + b"".join(prev[i : i + 4][::-1] for i in range(0, 32, 4))
        + root
        + int(params[7], 16).to_bytes(4, "little")
        + int(params[6], 16).to_bytes(4, "little")
        + nonce.to_bytes(4, "little")
    )
    (share,) = dev.send(
        f'{{"id":5,"method":"mining.submit","params":["u.w","r1","{en2}","{params[7]}",'
        f'"{nonce:08x}","{submitted:08x}"]}}'
    )
    assert isinstance(share, SubmitShare)
    assert share_header(share) == device_header


def test_submit_before_any_difficulty_or_job_is_answered(
    device_factory: Callable[..., Any], job_factory: Callable[..., MiningNotify]
) -> None:
    """A share before the first set_difficulty (hence before any job) gets code 21, no crash;
    the first job then carries the start difficulty ahead of it."""
    dev = device_factory(SessionConfig(start_difficulty=8))
    dev.send(
        '{"id":1,"method":"mining.subscribe","params":[]}',
        '{"id":2,"method":"mining.authorize","params":["u.w","x"]}',
    )
    dev.session.accept_authorize(2)
    dev.read()
    assert dev.session.difficulty is None
    (event,) = dev.send(
        '{"id":3,"method":"mining.submit","params":["u.w","1","00000000","66000000","00000001"]}'
    )
    assert isinstance(event, InvalidRequest) and event.code == 21
    dev.session.notify(job_factory("1", clean=True))
    out = dev.read()
    assert [m.get("method") for m in out][-2:] == ["mining.set_difficulty", "mining.notify"]
    (share,) = dev.send(
        '{"id":4,"method":"mining.submit","params":["u.w","1","00000000","66000000","00000001"]}'
    )
    assert isinstance(share, SubmitShare) and share.difficulty == 8
