"""Fuzz: random and mutated lines into LineDecoder and a live session.

Only typed messages, `Sv1ProtocolError` values and session events may come out; any other
exception is a bug.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stratumv2.sv1 import (
    Authorize,
    LineDecoder,
    MiningNotify,
    SessionConfig,
    SubmitShare,
    Subscribe,
    Sv1Notification,
    Sv1ProtocolError,
    Sv1Request,
    Sv1Response,
    Sv1ServerSession,
)
from stratumv2.sv1.session import (
    Configure,
    Disconnect,
    ExtranonceSubscribe,
    InvalidRequest,
    SuggestDifficulty,
)

SEEDS = [
    '{"id":1,"method":"mining.configure","params":[["version-rolling"],'
    '{"version-rolling.mask":"ffffffff"}]}',
    '{"id":2,"method":"mining.subscribe","params":["bitaxe/BM1370/v2.15.0"]}',
    '{"id":3,"method":"mining.authorize","params":["user.w1","x"]}',
    '{"id":4,"method":"mining.suggest_difficulty","params":[1000]}',
    '{"id":5,"method":"mining.extranonce.subscribe","params":[]}',
    '{"id":6,"method":"mining.submit","params":["user.w1","j1","01000000","66000000",'
    '"12345678","00002000"]}',
    '{"method": "mining.submit", "params": ["user.w1", "j1", "00000000", "66000000", '
    '"00000001"], "id":4}',
    '{"id": 1, "method": "mining.configure", "params": [["version-rolling", "minimum-difficulty",'
    ' "subscribe-extranonce"], {"version-rolling.mask": "1fffe000", '
    '"version-rolling.min-bit-count": 2, "minimum-difficulty.value": 64}]}',
    '{"id":7,"result":"pong","error":null}',
]

EVENT_TYPES = (
    Configure,
    Subscribe,
    Authorize,
    SuggestDifficulty,
    ExtranonceSubscribe,
    SubmitShare,
    InvalidRequest,
    Disconnect,
)
MESSAGE_TYPES = (Sv1Request, Sv1Notification, Sv1Response, Sv1ProtocolError)


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(10 if depth < 3 else 7)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 2**31, 2**64, 10**30, rng.randrange(-(10**6), 10**6)])
    if kind == 3:
        return rng.choice([0.5, -0.0, 1e-300, 1e300, 1.5, rng.random()])
    if kind in (4, 5, 6):
        return rng.choice(
            [
                "",
                "user.w1",
                "j1",
                "00000000",
                "66000000",
                "1fffe000",
                "ffffffffff",
                "zz",
                "é",
                "\x00",
            ]
        )
    if kind in (7, 8):
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(8))]
    return {
        rng.choice(["id", "method", "params", "result", "error", "x"]): _random_json(rng, depth + 1)
        for _ in range(rng.randrange(4))
    }


def _mutate(rng: random.Random, line: str) -> bytes:
    choice = rng.randrange(7)
    if choice == 0:  # structured: replace one field or one param
        obj = json.loads(line)
        if rng.random() < 0.5 and obj.get("params"):
            params = obj["params"]
            params[rng.randrange(len(params))] = _random_json(rng)
        else:
            obj[rng.choice(["id", "method", "params", "result", "error"])] = _random_json(rng)
        return json.dumps(obj).encode()
    if choice == 1:  # wholly random JSON
        return json.dumps(_random_json(rng)).encode()
    data = bytearray(line.encode())
    if choice == 2:  # flip bytes
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif choice == 3:  # cut
        a = rng.randrange(len(data))
        del data[a : a + rng.randrange(1, 20)]
    elif choice == 4:  # insert random bytes
        a = rng.randrange(len(data))
        data[a:a] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 10)))
    elif choice == 5:  # duplicate a span
        a = rng.randrange(len(data))
        data[a:a] = data[a : a + rng.randrange(1, 30)]
    else:  # the seed itself
        pass
    return bytes(data).replace(b"\n", b" ")


def _job(job_id: str) -> MiningNotify:
    return MiningNotify(
        job_id, bytes(32), b"\x01", b"\x02", (), 0x20000000, 0x207FFFFF, 0x66000000, False
    )


def _new_session(rng: random.Random) -> Sv1ServerSession:
    config = SessionConfig(max_line_length=rng.choice([64, 512, 4096]), max_protocol_errors=50)
    return Sv1ServerSession(config, extranonce1=b"\xf0\x0d", extranonce2_size=4)


def _drive(
    session: Sv1ServerSession, job_counter: list[int], seen: Counter[str] | None = None
) -> None:
    while (event := session.next_event()) is not None:
        assert isinstance(event, EVENT_TYPES), event
        if seen is not None:
            seen[type(event).__name__] += 1
        if isinstance(event, Authorize):
            session.accept_authorize(event.request_id)
            job_counter[0] += 1
            session.notify(_job("j1" if job_counter[0] == 1 else f"j{job_counter[0]}"))
        elif isinstance(event, SubmitShare):
            session.share_accepted(event.request_id)
    out = session.data_to_send()
    for line in out.splitlines():
        json.loads(line)  # everything we write is valid JSON


def test_fuzz_lines_into_decoder_and_session() -> None:
    rng = random.Random(20261124)
    decoder = LineDecoder(max_line_length=512)
    session = _new_session(rng)
    jobs = [0]
    seen: Counter[str] = Counter()
    lines = 0
    while lines < 24_000:
        batch = b"".join(_mutate(rng, rng.choice(SEEDS)) + b"\n" for _ in range(8))
        lines += 8
        for item in decoder.feed(batch):
            assert isinstance(item, MESSAGE_TYPES), item
        # feed the session in random chunks, replies interleaved
        pos = 0
        while pos < len(batch):
            step = rng.randrange(1, 200)
            session.receive_data(batch[pos : pos + step])
            pos += step
            _drive(session, jobs, seen)
        if session.closed:
            session = _new_session(rng)
            jobs = [0]
    assert lines >= 20_000
    # the mutations reach every path, not just the JSON parser
    assert all(seen[t.__name__] > 20 for t in EVENT_TYPES), seen


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(min_value=1, max_value=300))
def test_arbitrary_bytes_never_raise(data: bytes, max_line: int) -> None:
    for item in LineDecoder(max_line_length=max_line).feed(data):
        assert isinstance(item, MESSAGE_TYPES)
    session = Sv1ServerSession(extranonce1=b"\x00", extranonce2_size=2)
    session.receive_data(data + b"\n")
    _drive(session, [0])
