"""Helpers for the SV1 tests: a scripted device talking to a `Sv1ServerSession`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from stratumv2.sv1 import MiningNotify, SessionConfig, Sv1Event, Sv1ServerSession

EXTRANONCE1 = bytes.fromhex("f000000d")
PREV_HASH = bytes(range(32))


class Device:
    """Drives a session like a device: send lines, read the JSON lines and events back."""

    def __init__(self, session: Sv1ServerSession) -> None:
        self.session = session

    def send(self, *lines: str | bytes) -> list[Sv1Event]:
        data = b"".join((x.encode() if isinstance(x, str) else x) + b"\n" for x in lines)
        self.session.receive_data(data)
        return self.events()

    def events(self) -> list[Sv1Event]:
        out = []
        while (event := self.session.next_event()) is not None:
            out.append(event)
        return out

    def read(self) -> list[dict[str, Any]]:
        raw = self.session.data_to_send()
        assert raw == b"" or raw.endswith(b"\n")
        return [json.loads(line) for line in raw.splitlines()]

    def answer(self, request_id: int) -> dict[str, Any]:
        answers = [m for m in self.read() if m.get("id") == request_id and "method" not in m]
        assert len(answers) == 1, answers
        return answers[0]


def make_job(
    job_id: str, *, version: int = 0x20000000, ntime: int = 0x66000000, clean: bool = False
) -> MiningNotify:
    return MiningNotify(
        job_id=job_id,
        prev_hash=PREV_HASH,
        coinb1=bytes.fromhex("01000000010000"),
        coinb2=bytes.fromhex("ffffffff0100"),
        merkle_branch=(bytes(32), bytes([1]) * 32),
        version=version,
        nbits=0x207FFFFF,
        ntime=ntime,
        clean_jobs=clean,
    )


@pytest.fixture
def device_factory() -> Callable[..., Device]:
    def factory(config: SessionConfig | None = None, **kwargs: Any) -> Device:
        kwargs.setdefault("extranonce1", EXTRANONCE1)
        kwargs.setdefault("extranonce2_size", 4)
        return Device(Sv1ServerSession(config, **kwargs))

    return factory


@pytest.fixture
def job_factory() -> Callable[..., MiningNotify]:
    return make_job


@pytest.fixture
def ready_device(device_factory: Callable[..., Device]) -> Device:
    """Subscribed and authorized as `user.w1`, with job "1" notified at difficulty 1."""
    dev = device_factory()
    dev.send(
        '{"id":1,"method":"mining.subscribe","params":["test/1.0"]}',
        '{"id":2,"method":"mining.authorize","params":["user.w1","x"]}',
    )
    dev.session.accept_authorize(2)
    dev.session.notify(make_job("1", clean=True))
    dev.read()
    return dev
