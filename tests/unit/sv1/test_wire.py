"""The SV1 line codec: parsing, framing, limits and the server's encoders."""

from __future__ import annotations

import json

import pytest

from stratumv2.sv1.errors import Sv1LineTooLong, Sv1ProtocolError
from stratumv2.sv1.wire import (
    LineDecoder,
    MiningNotify,
    Sv1Notification,
    Sv1Request,
    Sv1Response,
    difficulty_json_number,
    encode_error,
    encode_message,
    encode_notify,
    encode_reconnect,
    encode_result,
    encode_set_difficulty,
    encode_set_extranonce,
    encode_set_version_mask,
    parse_line,
    parse_notify,
    swap_prev_hash_words,
)


def test_parse_compact_request() -> None:
    msg = parse_line(b'{"id":2,"method":"mining.subscribe","params":["bitaxe/BM1370/v2.15.0"]}')
    assert msg == Sv1Request(2, "mining.subscribe", ("bitaxe/BM1370/v2.15.0",))


def test_parse_spaced_request_of_old_esp_miner() -> None:
    msg = parse_line(b'{"id": 1, "method": "mining.subscribe", "params": ["bitaxe/BM1366/v2.4.0"]}')
    assert msg == Sv1Request(1, "mining.subscribe", ("bitaxe/BM1366/v2.4.0",))


def test_parse_string_id_and_cpuminer_key_order() -> None:
    line = b'{"method": "mining.submit", "params": ["u", "j", "00", "1", "2"], "id":"a4"}'
    assert parse_line(line) == Sv1Request("a4", "mining.submit", ("u", "j", "00", "1", "2"))


def test_parse_notification_and_missing_params() -> None:
    assert parse_line(b'{"id":null,"method":"mining.notify","params":[1]}') == Sv1Notification(
        "mining.notify", (1,)
    )
    assert parse_line(b'{"method":"x"}') == Sv1Notification("x", ())
    assert parse_line(b'{"id":3,"method":"x","params":null}') == Sv1Request(3, "x", ())


def test_parse_responses() -> None:
    assert parse_line(b'{"id":4,"result":true,"error":null}') == Sv1Response(4, True, None)
    assert parse_line(b'{"id":5,"error":[21,"Stale",null]}') == Sv1Response(
        5, None, [21, "Stale", None]
    )
    assert parse_line(b'{"result":"pong"}') == Sv1Response(None, "pong", None)


def test_integral_float_id_is_read_as_int() -> None:
    assert parse_line(b'{"id":7.0,"method":"m","params":[]}') == Sv1Request(7, "m", ())


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        (b"{not json", "invalid JSON"),
        (b'{"id":1,"method":"m"', "invalid JSON"),
        (b"\xff\xfe{}", "invalid JSON"),
        (b'{"id":1,"method":"m","params":[NaN]}', "invalid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid JSON"),
        (b"[1,2]", "not a JSON object"),
        (b'"mining.submit"', "not a JSON object"),
        (b"42", "not a JSON object"),
        (b'{"id":true,"method":"m","params":[]}', "bad id type"),
        (b'{"id":[1],"method":"m","params":[]}', "bad id type"),
        (b'{"id":{},"method":"m","params":[]}', "bad id type"),
        (b'{"id":1.5,"method":"m","params":[]}', "bad id type"),
        (b'{"id":1,"method":5,"params":[]}', "method is not a string"),
        (b'{"id":1,"method":"m","params":{"a":1}}', "params is not an array"),
        (b'{"id":1}', "neither a method call nor an answer"),
        (b'{"id":1,"method":"m","params":[' + b"9" * 5000 + b"]}", "invalid JSON"),
    ],
)
def test_malformed_lines_raise_the_typed_error(line: bytes, fragment: str) -> None:
    with pytest.raises(Sv1ProtocolError) as info:
        parse_line(line)
    assert fragment in info.value.message


def test_error_keeps_the_request_id_when_readable() -> None:
    with pytest.raises(Sv1ProtocolError) as info:
        parse_line(b'{"id":9,"method":"m","params":"x"}')
    assert info.value.request_id == 9


STREAM = (
    b'{"id":1,"method":"mining.configure","params":[["version-rolling"],'
    b'{"version-rolling.mask":"ffffffff"}]}\n'
    b'{"id":2,"method":"mining.subscribe","params":["bitaxe/BM1370/v2.15.0"]}\r\n'
    b"\n"
    b"   \n"
    b'{"id":3,"method":"mining.authorize","params":["u.w","x"]}\n'
)


def test_decoder_whole_stream() -> None:
    out = LineDecoder().feed(STREAM)
    assert [m.id for m in out if isinstance(m, Sv1Request)] == [1, 2, 3]
    assert len(out) == 3


def test_decoder_one_byte_at_a_time_gives_the_same_messages() -> None:
    whole = LineDecoder().feed(STREAM)
    decoder = LineDecoder()
    pieces = [decoder.feed(STREAM[i : i + 1]) for i in range(len(STREAM))]
    assert [m for p in pieces for m in p] == whole


def test_decoder_keeps_trailing_partial_line() -> None:
    decoder = LineDecoder()
    assert len(decoder.feed(STREAM + b'{"id":4,"meth')) == 3
    assert decoder.buffered == len(b'{"id":4,"meth')
    assert decoder.feed(b'od":"x","params":[]}\n') == [Sv1Request(4, "x", ())]
    assert decoder.buffered == 0


def test_decoder_reports_errors_in_line_and_continues() -> None:
    out = LineDecoder().feed(b'garbage\n{"id":1,"method":"m","params":[]}\n')
    assert isinstance(out[0], Sv1ProtocolError)
    assert out[1] == Sv1Request(1, "m", ())


def test_decoder_line_over_the_limit_with_newline() -> None:
    decoder = LineDecoder(max_line_length=64)
    out = decoder.feed(
        b'{"id":1,"method":"m","params":["' + b"a" * 100 + b'"]}\n{"id":2,"method":"n"}\n'
    )
    assert isinstance(out[0], Sv1LineTooLong)
    assert out[1] == Sv1Notification("n", ()) or out[1] == Sv1Request(2, "n", ())


def test_decoder_line_over_the_limit_without_newline_is_reported_once_and_skipped() -> None:
    decoder = LineDecoder(max_line_length=64)
    out = decoder.feed(b"x" * 65)
    assert len(out) == 1 and isinstance(out[0], Sv1LineTooLong)
    assert decoder.buffered == 0
    assert decoder.feed(b"y" * 1000) == []
    assert decoder.buffered == 0
    assert decoder.feed(b'zz\n{"id":2,"method":"n","params":[]}\n') == [Sv1Request(2, "n", ())]


def test_decoder_line_exactly_at_the_limit_is_accepted() -> None:
    line = b'{"id":1,"method":"m","params":[]}'
    assert LineDecoder(max_line_length=len(line)).feed(line + b"\n") == [Sv1Request(1, "m", ())]


# --- encoders -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("difficulty", "text"),
    [
        (1024, "[1024]"),
        (1024.0, "[1024]"),
        (1000.9, "[1000]"),
        (1, "[1]"),
        (0.5, "[0.5]"),
        (0.001, "[0.001]"),
        (4.6565423739069247e-10, "[4.6565423739069247e-10]"),
    ],
)
def test_set_difficulty_number_forms(difficulty: float, text: str) -> None:
    line = encode_set_difficulty(difficulty)
    assert line == (
        b'{"id":null,"method":"mining.set_difficulty","params":' + text.encode() + b"}\n"
    )


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_difficulty_must_be_finite_positive(bad: float) -> None:
    with pytest.raises(ValueError):
        difficulty_json_number(bad)


def test_error_and_result_forms() -> None:
    assert encode_error(5, 21, "Stale", result=False) == (
        b'{"id":5,"result":false,"error":[21,"Stale",null]}\n'
    )
    assert (
        encode_error(None, 20) == b'{"id":null,"result":null,"error":[20,"Other/Unknown",null]}\n'
    )
    assert encode_result(3, True) == b'{"id":3,"result":true,"error":null}\n'


def test_small_server_messages() -> None:
    assert encode_set_extranonce(bytes.fromhex("0a0b"), 6) == (
        b'{"id":null,"method":"mining.set_extranonce","params":["0a0b",6]}\n'
    )
    assert encode_set_version_mask(0x1FFFE000) == (
        b'{"id":null,"method":"mining.set_version_mask","params":["1fffe000"]}\n'
    )
    assert encode_reconnect("127.0.0.1", 3333) == (
        b'{"id":null,"method":"client.reconnect","params":["127.0.0.1",3333,0]}\n'
    )
    assert encode_reconnect() == b'{"id":null,"method":"client.reconnect","params":[]}\n'


def test_notify_form_and_round_trip() -> None:
    job = MiningNotify(
        job_id="1a",
        prev_hash=bytes(range(32)),
        coinb1=b"\x01\x02",
        coinb2=b"\x03",
        merkle_branch=(b"\xaa" * 32,),
        version=0x20000000,
        nbits=0x1D00FFFF,
        ntime=0x5F5E1000,
        clean_jobs=True,
    )
    line = encode_notify(job)
    obj = json.loads(line)
    assert obj["id"] is None and obj["method"] == "mining.notify"
    params = obj["params"]
    # prev hash: every 4-byte word reversed; clean_jobs last; hex numbers big-endian, 8 digits
    assert params[1] == "03020100070605040b0a09080f0e0d0c13121110171615141b1a19181f1e1d1c"
    assert params[5:] == ["20000000", "1d00ffff", "5f5e1000", True]
    assert parse_notify(params) == job
    assert parse_line(line.rstrip(b"\n")) == Sv1Notification("mining.notify", tuple(params))


def test_swap_prev_hash_words_is_an_involution() -> None:
    data = bytes(range(100, 132))
    assert swap_prev_hash_words(swap_prev_hash_words(data)) == data
    with pytest.raises(ValueError):
        swap_prev_hash_words(b"\x00" * 31)


def test_encode_message_round_trips() -> None:
    for msg in (
        Sv1Request(1, "mining.subscribe", ("a",)),
        Sv1Notification("mining.set_difficulty", (2,)),
        Sv1Response(3, True, None),
    ):
        assert parse_line(encode_message(msg).rstrip(b"\n")) == msg
