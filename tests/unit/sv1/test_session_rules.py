"""Session rules: every error code, malformed input, limits, difficulty, jobs, extranonce."""

from __future__ import annotations

from typing import Any

import pytest

from stratumv2.sv1 import (
    Disconnect,
    ExtranonceSubscribe,
    InvalidRequest,
    SessionConfig,
    SubmitShare,
    Subscribe,
    SuggestDifficulty,
    Sv1ErrorCode,
    Sv1LocalError,
    Sv1ServerSession,
)


def _submit(request_id: int, *params: str) -> str:
    quoted = ",".join(f'"{p}"' for p in params)
    return f'{{"id":{request_id},"method":"mining.submit","params":[{quoted}]}}'


GOOD = ("user.w1", "1", "00000000", "66000000", "00000001")


def _refused(dev: Any, line: str, code: int, text: str | None = None) -> dict[str, Any]:
    (event,) = dev.send(line)
    assert isinstance(event, InvalidRequest) and event.code == code
    answer: dict[str, Any] = dev.answer(event.request_id)
    assert answer["error"][0] == code and answer["error"][2] is None
    assert answer["result"] in (False, None)
    if text is not None:
        assert answer["error"][1] == text
    return answer


# --- one test per error code --------------------------------------------------------------


def test_code_20_other_bad_nonce(ready_device: Any) -> None:
    answer = _refused(ready_device, _submit(5, *GOOD[:4], "xyz"), Sv1ErrorCode.OTHER, "No nonce")
    assert answer["result"] is False


def test_code_21_unknown_job(ready_device: Any) -> None:
    _refused(ready_device, _submit(5, "user.w1", "nope", *GOOD[2:]), 21, "Invalid JobID")


def test_code_21_stale_job_after_clean(ready_device: Any, job_factory: Any) -> None:
    ready_device.session.notify(job_factory("2", clean=True))
    _refused(ready_device, _submit(5, *GOOD), Sv1ErrorCode.JOB_NOT_FOUND, "Stale")
    (share,) = ready_device.send(_submit(6, "user.w1", "2", *GOOD[2:]))
    assert isinstance(share, SubmitShare)


def test_code_22_duplicate(ready_device: Any) -> None:
    (share,) = ready_device.send(_submit(5, *GOOD))
    assert isinstance(share, SubmitShare)
    _refused(ready_device, _submit(6, *GOOD), Sv1ErrorCode.DUPLICATE_SHARE, "Duplicate")
    # a different nonce is not a duplicate
    (share,) = ready_device.send(_submit(7, *GOOD[:4], "00000002"))
    assert isinstance(share, SubmitShare)


def test_code_23_low_difficulty_is_the_roles_answer(ready_device: Any) -> None:
    (share,) = ready_device.send(_submit(5, *GOOD))
    ready_device.session.share_rejected(share.request_id, Sv1ErrorCode.LOW_DIFFICULTY)
    assert ready_device.answer(5) == {"id": 5, "result": False, "error": [23, "Above target", None]}


def test_code_24_submit_before_authorize(device_factory: Any, job_factory: Any) -> None:
    dev = device_factory()
    dev.send('{"id":1,"method":"mining.subscribe","params":[]}')
    dev.session.notify(job_factory("1"))
    dev.read()
    _refused(dev, _submit(5, *GOOD), Sv1ErrorCode.UNAUTHORIZED, "Unauthorized worker")


def test_code_24_worker_mismatch(ready_device: Any) -> None:
    _refused(ready_device, _submit(5, "other.w", *GOOD[1:]), 24, "Worker mismatch")


def test_code_24_role_rejects_authorize(device_factory: Any, job_factory: Any) -> None:
    dev = device_factory()
    dev.send(
        '{"id":1,"method":"mining.subscribe","params":[]}',
        '{"id":2,"method":"mining.authorize","params":["bad","x"]}',
    )
    dev.session.reject(2, Sv1ErrorCode.UNAUTHORIZED)
    assert dev.answer(2)["error"][0] == 24
    with pytest.raises(Sv1LocalError):
        dev.session.accept_authorize(2)
    dev.session.notify(job_factory("1"))
    dev.read()
    _refused(dev, _submit(3, "bad", *GOOD[1:]), 24)


def test_code_25_submit_before_subscribe(device_factory: Any) -> None:
    dev = device_factory()
    _refused(dev, _submit(1, *GOOD), Sv1ErrorCode.NOT_SUBSCRIBED, "Not subscribed")


# --- submit format checks -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "text"),
    [
        (GOOD[:4], "Invalid array size"),
        (("user.w1", "1", "000000", "66000000", "00000001"), "Invalid extranonce2 size"),
        (("user.w1", "1", "0000000000", "66000000", "00000001"), "Invalid extranonce2 size"),
        (("user.w1", "1", "zz000000", "66000000", "00000001"), "Invalid extranonce2 size"),
        (("user.w1", "1", "00000000", "6600000", "00000001"), "No ntime"),
        (("user.w1", "1", "00000000", "0x660000", "00000001"), "No ntime"),
        (("user.w1", "1", "00000000", "66000000", "+0000001"), "No nonce"),
        (("user.w1", "1", "00000000", "65ffffff", "00000001"), "Ntime out of range"),
        (("user.w1", "1", "00000000", "66001b59", "00000001"), "Ntime out of range"),
        ((*GOOD, "20000000"), "Invalid version mask"),
        ((*GOOD, "00001000"), "Invalid version mask"),
        ((*GOOD, "xyz"), "Invalid version mask"),
    ],
)
def test_submit_format_errors(ready_device: Any, params: tuple[str, ...], text: str) -> None:
    _refused(ready_device, _submit(5, *params), Sv1ErrorCode.OTHER, text)


def test_submit_params_must_be_strings(ready_device: Any) -> None:
    _refused(
        ready_device,
        '{"id":5,"method":"mining.submit","params":["user.w1","1",0,"66000000","00000001"]}',
        20,
    )


def test_ntime_inside_the_window_is_accepted(ready_device: Any) -> None:
    (share,) = ready_device.send(_submit(5, *GOOD[:3], "66001b58", GOOD[4]))
    assert isinstance(share, SubmitShare) and share.ntime == 0x66001B58


def test_version_bits_outside_the_negotiated_mask(device_factory: Any, job_factory: Any) -> None:
    dev = device_factory()
    dev.send(
        '{"id":1,"method":"mining.configure","params":[["version-rolling"],'
        '{"version-rolling.mask":"00ffe000"}]}',
        '{"id":2,"method":"mining.subscribe","params":[]}',
        '{"id":3,"method":"mining.authorize","params":["user.w1","x"]}',
    )
    assert dev.answer(1)["result"]["version-rolling.mask"] == "00ffe000"
    dev.session.accept_authorize(3)
    dev.session.notify(job_factory("1"))
    dev.read()
    _refused(dev, _submit(5, *GOOD, "01000000"), 20, "Invalid version mask")
    (share,) = dev.send(_submit(6, *GOOD, "00800000"))
    assert isinstance(share, SubmitShare) and share.version == 0x20800000


# --- input errors and limits ----------------------------------------------------------------


def test_malformed_json_is_answered_and_the_session_continues(ready_device: Any) -> None:
    (event,) = ready_device.send("{this is not json")
    assert isinstance(event, InvalidRequest) and event.code == 20
    (answer,) = ready_device.read()
    assert answer["id"] is None and answer["error"][0] == 20
    (share,) = ready_device.send(_submit(5, *GOOD))
    assert isinstance(share, SubmitShare)


def test_too_many_protocol_errors_disconnect(device_factory: Any) -> None:
    dev = device_factory(SessionConfig(max_protocol_errors=3))
    events = dev.send("x", "[1]", '{"id":true,"method":"m"}', "never seen")
    assert [type(e) for e in events] == [InvalidRequest, InvalidRequest, InvalidRequest, Disconnect]
    assert dev.session.closed


def test_line_over_the_limit_disconnects(device_factory: Any) -> None:
    dev = device_factory(SessionConfig(max_line_length=256))
    events = dev.send('{"id":1,"method":"mining.subscribe","params":["' + "a" * 300 + '"]}')
    assert events == [Disconnect("line longer than 256 bytes")]
    assert dev.send('{"id":2,"method":"mining.subscribe","params":[]}') == []
    assert dev.session.data_to_send() == b""


def test_line_over_the_limit_without_newline_disconnects(device_factory: Any) -> None:
    dev = device_factory(SessionConfig(max_line_length=256))
    dev.session.receive_data(b"{" * 257)
    assert isinstance(dev.session.next_event(), Disconnect)


def test_unknown_method_is_refused_with_its_id(ready_device: Any) -> None:
    answer = _refused(ready_device, '{"id":8,"method":"mining.get_transactions","params":[]}', 20)
    assert answer == {"id": 8, "result": None, "error": [20, "Method not found", None]}


def test_device_answers_are_ignored(ready_device: Any) -> None:
    assert ready_device.send('{"id":1,"result":"bitaxe","error":null}', '{"result":"pong"}') == []
    assert ready_device.read() == []


# --- difficulty -----------------------------------------------------------------------------


def _first_difficulty(dev: Any, job_factory: Any) -> object:
    dev.session.notify(job_factory("first", clean=True))
    out = dev.read()
    diffs = [m["params"][0] for m in out if m.get("method") == "mining.set_difficulty"]
    assert out[-1]["method"] == "mining.notify" and len(diffs) == 1
    return diffs[0]


@pytest.mark.parametrize(
    ("suggested", "expected"), [(1000, 1000), (5, 64), (10**9, 65536), (100.7, 100)]
)
def test_suggest_difficulty_is_clamped(
    device_factory: Any, job_factory: Any, suggested: float, expected: float
) -> None:
    dev = device_factory(SessionConfig(min_difficulty=64, max_difficulty=65536))
    dev.send('{"id":1,"method":"mining.subscribe","params":[]}')
    (event,) = dev.send(f'{{"id":2,"method":"mining.suggest_difficulty","params":[{suggested}]}}')
    assert event == SuggestDifficulty(2, float(suggested), expected)
    assert _first_difficulty(dev, job_factory) == expected


def test_start_difficulty_when_nothing_is_suggested(device_factory: Any, job_factory: Any) -> None:
    dev = device_factory(SessionConfig(start_difficulty=2048))
    dev.send('{"id":1,"method":"mining.subscribe","params":[]}')
    assert _first_difficulty(dev, job_factory) == 2048


def test_network_difficulty_caps_start_and_suggestion(
    device_factory: Any, job_factory: Any
) -> None:
    regtest = 4.6565423739069247e-10
    dev = device_factory(SessionConfig(start_difficulty=1000, network_difficulty=regtest))
    dev.send(
        '{"id":1,"method":"mining.subscribe","params":[]}',
        '{"id":2,"method":"mining.suggest_difficulty","params":[1000]}',
    )
    assert _first_difficulty(dev, job_factory) == regtest
    dev2 = device_factory(SessionConfig(start_difficulty=1000, network_difficulty=300.5))
    dev2.send('{"id":1,"method":"mining.subscribe","params":[]}')
    assert _first_difficulty(dev2, job_factory) == 300


def test_network_difficulty_drop_lowers_the_device(ready_device: Any) -> None:
    ready_device.session.set_difficulty(1000)
    ready_device.read()
    ready_device.session.set_network_difficulty(0.5)
    (msg,) = ready_device.read()
    assert msg["params"] == [0.5] and ready_device.session.difficulty == 0.5
    ready_device.session.set_network_difficulty(2000)
    assert ready_device.read() == []


def test_suggest_difficulty_refuses_nonsense(ready_device: Any) -> None:
    for bad in ('"1000"', "0", "-5", "true", "1" + "0" * 400):
        _refused(
            ready_device, f'{{"id":3,"method":"mining.suggest_difficulty","params":[{bad}]}}', 20
        )


def test_share_difficulty_is_the_lower_of_job_and_current(
    ready_device: Any, job_factory: Any
) -> None:
    ready_device.session.set_difficulty(100)
    ready_device.session.notify(job_factory("2"))
    ready_device.session.set_difficulty(50)
    (share,) = ready_device.send(_submit(5, "user.w1", "2", *GOOD[2:]))
    assert share.difficulty == 50
    ready_device.session.set_difficulty(400)
    (share,) = ready_device.send(_submit(6, "user.w1", "2", *GOOD[2:4], "00000009"))
    assert share.difficulty == 100


def test_minimum_difficulty_extension(device_factory: Any, job_factory: Any) -> None:
    dev = device_factory(SessionConfig(start_difficulty=1))
    dev.send(
        '{"id":1,"method":"mining.configure","params":[["minimum-difficulty","info"],'
        '{"minimum-difficulty.value":256}]}',
        '{"id":2,"method":"mining.subscribe","params":[]}',
    )
    assert dev.answer(1)["result"] == {"minimum-difficulty": True, "info": False}
    assert _first_difficulty(dev, job_factory) == 256


# --- subscribe, extranonce, jobs ------------------------------------------------------------


def test_role_allocates_the_extranonce_at_subscribe() -> None:
    session = Sv1ServerSession(subscription_id="deadbeef")
    session.receive_data(b'{"id":7,"method":"mining.subscribe","params":["nerdminer"]}\n')
    assert session.next_event() == Subscribe(7, "nerdminer", answered=False)
    assert session.data_to_send() == b""
    assert not session.subscribed
    session.accept_subscribe(7, bytes.fromhex("0102"), 8)
    assert session.data_to_send() == (
        b'{"id":7,"result":[[["mining.set_difficulty","deadbeef"],["mining.notify","deadbeef"]],'
        b'"0102",8],"error":null}\n'
    )
    assert session.subscribed
    with pytest.raises(Sv1LocalError):
        session.accept_subscribe(7, b"\x00", 8)


def test_set_extranonce_applies_to_later_jobs(ready_device: Any, job_factory: Any) -> None:
    (event,) = ready_device.send('{"id":3,"method":"mining.extranonce.subscribe","params":[]}')
    assert event == ExtranonceSubscribe(3) and ready_device.answer(3)["result"] is True
    ready_device.session.set_extranonce(bytes.fromhex("aabbccddee"), 3)
    ready_device.session.notify(job_factory("2"))
    out = ready_device.read()
    assert out[0] == {"id": None, "method": "mining.set_extranonce", "params": ["aabbccddee", 3]}
    (old,) = ready_device.send(_submit(5, *GOOD))
    assert old.extranonce1 == bytes.fromhex("f000000d")
    (new,) = ready_device.send(_submit(6, "user.w1", "2", "000000", *GOOD[3:]))
    assert new.extranonce1 == bytes.fromhex("aabbccddee") and new.extranonce2 == b"\x00" * 3


def test_old_jobs_are_forgotten_beyond_max_jobs(device_factory: Any, job_factory: Any) -> None:
    dev = device_factory(SessionConfig(max_jobs=2))
    dev.send(
        '{"id":1,"method":"mining.subscribe","params":[]}',
        '{"id":2,"method":"mining.authorize","params":["user.w1","x"]}',
    )
    dev.session.accept_authorize(2)
    for job_id in ("1", "2", "3"):
        dev.session.notify(job_factory(job_id))
    dev.read()
    _refused(dev, _submit(5, *GOOD), 21, "Stale")
    (share,) = dev.send(_submit(6, "user.w1", "2", *GOOD[2:]))
    assert isinstance(share, SubmitShare)


def test_job_ids_must_be_fresh(ready_device: Any, job_factory: Any) -> None:
    with pytest.raises(Sv1LocalError):
        ready_device.session.notify(job_factory("1"))


def test_set_version_mask_and_reconnect(device_factory: Any) -> None:
    dev = device_factory()
    dev.send(
        '{"id":1,"method":"mining.configure","params":[["version-rolling"],'
        '{"version-rolling.mask":"ffffffff"}]}'
    )
    dev.read()
    dev.session.set_version_mask(0x00FFE000)
    dev.session.reconnect("127.0.0.1", 3334)
    assert dev.read() == [
        {"id": None, "method": "mining.set_version_mask", "params": ["00ffe000"]},
        {"id": None, "method": "client.reconnect", "params": ["127.0.0.1", 3334, 0]},
    ]
    assert dev.session.version_mask == 0x00FFE000


def test_min_bit_count_not_met_refuses_rolling(device_factory: Any) -> None:
    dev = device_factory(SessionConfig(version_mask=0x00006000))
    dev.send(
        '{"id":1,"method":"mining.configure","params":[["version-rolling"],'
        '{"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":4}]}'
    )
    assert dev.answer(1)["result"] == {
        "version-rolling": False,
        "version-rolling.mask": "00006000",
    }
    assert dev.session.version_mask is None


def test_close_emits_disconnect_and_stops_output(ready_device: Any) -> None:
    ready_device.session.close("shutdown")
    assert ready_device.events() == [Disconnect("shutdown")]
    ready_device.session.set_difficulty(5)
    assert ready_device.session.data_to_send() == b""


def test_notify_before_extranonce_is_our_bug(job_factory: Any) -> None:
    with pytest.raises(Sv1LocalError):
        Sv1ServerSession().notify(job_factory("1"))


def test_duplicate_window_is_bounded(device_factory: Any, job_factory: Any) -> None:
    dev = device_factory(SessionConfig(duplicate_window=2))
    dev.send(
        '{"id":1,"method":"mining.subscribe","params":[]}',
        '{"id":2,"method":"mining.authorize","params":["user.w1","x"]}',
    )
    dev.session.accept_authorize(2)
    dev.session.notify(job_factory("1"))
    for nonce in ("00000001", "00000002", "00000003"):
        (share,) = dev.send(_submit(5, *GOOD[:4], nonce))
        assert isinstance(share, SubmitShare)
    _refused(dev, _submit(6, *GOOD[:4], "00000003"), 22)
    (share,) = dev.send(_submit(7, *GOOD[:4], "00000001"))  # fell out of the window
    assert isinstance(share, SubmitShare)


@pytest.mark.parametrize("size", [-1, 33])
def test_extranonce2_size_limits(size: int) -> None:
    with pytest.raises(ValueError):
        Sv1ServerSession(extranonce1=b"\x00", extranonce2_size=size)
