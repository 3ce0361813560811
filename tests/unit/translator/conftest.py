"""The translator core wired in memory to the real pool core, and scripted SV1 devices.

The devices here are written from shared/sv1-devices.md (ESP-Miner's three generations,
cpuminer): they parse the server's lines, build the header the way the device does
(coinb1 ‖ extranonce1 ‖ extranonce2 ‖ coinb2, per-word swapped prevhash, OR version rolling)
and grind a nonce for the difficulty they were given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from stratumv2.bitcoin.block import witness_commitment, witness_commitment_script
from stratumv2.bitcoin.coinbase import bip34_height_push
from stratumv2.bitcoin.hashes import merkle_root_from_branch, sha256d
from stratumv2.bitcoin.target import bits_to_target, difficulty_to_target
from stratumv2.bitcoin.tx import TxOut
from stratumv2.mining.shares import solve_header
from stratumv2.mining.vardiff import VardiffConfig
from stratumv2.protocol import NewTemplate, SetNewPrevHashTd, decode_header, decode_payload
from stratumv2.roles.pool.core import (
    Disconnect,
    PoolConfig,
    PoolCore,
    StoreShares,
    SubmitBlock,
)
from stratumv2.roles.translator.core import (
    CloseDevice,
    DeviceData,
    SendUpstream,
    TranslatorConfig,
    TranslatorCore,
)
from stratumv2.sv1.wire import MiningNotify, parse_notify

REGTEST_BITS = 0x207FFFFF
HARD_BITS = 0x1703A30C
HEIGHT = 321
NOW = 1_700_000_000.0
POOL_SCRIPT = bytes.fromhex("0014751e76e8199196d454941c45d1b3a323f1433bd6")
UPSTREAM = 1  # the translator's connection id on the pool


def template(template_id: int, version: int = 0x20000000, future: bool = True) -> NewTemplate:
    out = TxOut(0, witness_commitment_script(witness_commitment([]))).serialize()
    return NewTemplate(
        template_id=template_id,
        future_template=future,
        version=version,
        coinbase_tx_version=2,
        coinbase_prefix=bip34_height_push(HEIGHT),
        coinbase_tx_input_sequence=0xFFFFFFFE,
        coinbase_tx_value_remaining=5_000_000_000,
        coinbase_tx_outputs_count=1,
        coinbase_tx_outputs=out,
        coinbase_tx_locktime=HEIGHT - 1,
        merkle_path=(),
    )


def prev_hash(template_id: int, bits: int, prev: bytes = bytes(range(32))) -> SetNewPrevHashTd:
    return SetNewPrevHashTd(
        template_id=template_id,
        prev_hash=prev,
        header_timestamp=int(NOW) - 10,
        n_bits=bits,
        target=bits_to_target(bits).to_bytes(32, "little"),
    )


@dataclass
class Device:
    """A scripted SV1 device: its sent lines and everything the translator answered."""

    harness: Harness
    id: int
    lines: list[dict[str, Any]] = field(default_factory=list)
    closed: str | None = None
    extranonce1: bytes = b""
    extranonce2_size: int = 0
    difficulty: float | None = None
    jobs: dict[str, MiningNotify] = field(default_factory=dict)
    last_job: str | None = None
    mask: int | None = None

    def send(self, *lines: str | dict[str, Any]) -> None:
        data = b"".join(
            (x if isinstance(x, str) else json.dumps(x)).encode() + b"\n" for x in lines
        )
        self.harness.device_data(self.id, data)

    def send_raw(self, data: bytes) -> None:
        self.harness.device_data(self.id, data)

    def receive(self, data: bytes) -> None:
        for raw in data.splitlines():
            msg = json.loads(raw)
            self.lines.append(msg)
            method = msg.get("method")
            if method == "mining.notify":
                job = parse_notify(msg["params"])
                if job.clean_jobs:
                    self.jobs.clear()
                self.jobs[job.job_id] = job
                self.last_job = job.job_id
            elif method == "mining.set_difficulty":
                self.difficulty = float(msg["params"][0])
            elif method == "mining.set_extranonce":
                self.extranonce1 = bytes.fromhex(msg["params"][0])
                self.extranonce2_size = msg["params"][1]
            elif method is None and isinstance(msg.get("result"), list):
                self.extranonce1 = bytes.fromhex(msg["result"][1])
                self.extranonce2_size = msg["result"][2]
            elif method is None and isinstance(msg.get("result"), dict):
                result = msg["result"]
                if result.get("version-rolling"):
                    self.mask = int(result["version-rolling.mask"], 16)

    def answer(self, request_id: int) -> dict[str, Any]:
        found = [m for m in self.lines if m.get("id") == request_id and "method" not in m]
        assert found, f"no answer to {request_id}: {self.lines}"
        return found[-1]

    def solve(
        self,
        extranonce2: bytes | None = None,
        rolled_bits: int | None = None,
        job_id: str | None = None,
        difficulty: float | None = None,
        start: int = 0,
    ) -> tuple[str, str, str, int, int]:
        """(job id, extranonce2 hex, ntime hex, nonce, full version) meeting the difficulty."""
        job = self.jobs[job_id or self.last_job or ""]
        en2 = extranonce2 if extranonce2 is not None else bytes(self.extranonce2_size)
        coinbase = job.coinb1 + self.extranonce1 + en2 + job.coinb2
        root = merkle_root_from_branch(sha256d(coinbase), job.merkle_branch)
        version = job.version | (rolled_bits or 0)
        diff = difficulty if difficulty is not None else self.difficulty
        assert diff is not None
        nonce = solve_header(
            version, job.prev_hash, root, job.ntime, job.nbits, difficulty_to_target(diff), start
        )
        assert nonce is not None
        return job.job_id, en2.hex(), f"{job.ntime:08x}", nonce, version

    def low_share(self, job_id: str | None = None) -> tuple[str, str, str, int]:
        """A nonce whose hash misses the device difficulty (and the network's)."""
        job = self.jobs[job_id or self.last_job or ""]
        en2 = bytes(self.extranonce2_size)
        coinbase = job.coinb1 + self.extranonce1 + en2 + job.coinb2
        root = merkle_root_from_branch(sha256d(coinbase), job.merkle_branch)
        assert self.difficulty is not None
        target = difficulty_to_target(self.difficulty)
        from stratumv2.bitcoin.header import serialize_header

        for nonce in range(100_000):
            header = serialize_header(job.version, job.prev_hash, root, job.ntime, job.nbits, nonce)
            if int.from_bytes(sha256d(header), "little") > target:
                return job.job_id, en2.hex(), f"{job.ntime:08x}", nonce
        raise AssertionError("no low share found")


class Harness:
    """TranslatorCore <-> PoolCore in memory; devices are scripted."""

    def __init__(self, bits: int = REGTEST_BITS, version: int = 0x20000000, **config: Any) -> None:
        pool_config = config.pop("pool_config", {})
        # tiny hashrates allowed: CPU-ground shares in tests stay at a few thousand hashes
        pool_config.setdefault("vardiff", VardiffConfig(min_hashrate=1.0))
        config.setdefault("vardiff", VardiffConfig(min_hashrate=1.0))
        self.pool = PoolCore(
            PoolConfig(payout_script=POOL_SCRIPT, network="regtest", share_batch_size=1,
                       **pool_config)
        )  # fmt: skip
        self.core = TranslatorCore(TranslatorConfig(**config))
        self.now = NOW
        self.devices: dict[int, Device] = {}
        self.blocks: list[SubmitBlock] = []
        self.upstream_log: list[Any] = []
        self.pool_disconnects: list[Disconnect] = []
        self.connected = False
        self._next_device = 1
        self.pool.on_new_template(template(1, version), self.now)
        self.pool.on_set_new_prev_hash(prev_hash(1, bits), self.now)

    def connect_upstream(self) -> None:
        self.pool.connection_made(UPSTREAM, "memory", self.now)
        self.connected = True
        self.run(self.core.upstream_connected(self.now))

    def drop_upstream(self, reconnect_devices: bool = True) -> None:
        self.connected = False
        self.pool.connection_lost(UPSTREAM, self.now)
        self.run(self.core.upstream_lost(self.now, reconnect_devices=reconnect_devices))

    def new_device(self) -> Device:
        device = Device(self, self._next_device)
        self._next_device += 1
        self.devices[device.id] = device
        self.core.device_connected(device.id, f"127.0.0.1:{50000 + device.id}", self.now)
        return device

    def device_data(self, device_id: int, data: bytes) -> None:
        self.run(self.core.on_device_data(device_id, data, self.now))

    def tick(self, seconds: float) -> None:
        self.now += seconds
        self.run(self.core.on_tick(self.now))
        self.pool_actions(self.pool.on_tick(self.now))

    def run(self, actions: list[Any]) -> None:
        for action in actions:
            if isinstance(action, DeviceData):
                self.devices[action.device_id].receive(action.data)
            elif isinstance(action, CloseDevice):
                self.devices[action.device_id].closed = action.reason
            elif isinstance(action, SendUpstream):
                self.upstream_log.append(action.message)
                if self.connected:
                    self.pool_actions(
                        self.pool.on_connection_message(UPSTREAM, action.message, self.now)
                    )

    def pool_actions(self, actions: list[Any]) -> None:
        for action in actions:
            if isinstance(action, tuple):
                conn_id, message = action[0], action[1]
                if len(action) == 3:  # a pre-encoded frame (header, payload) fanned out
                    message = decode_payload(decode_header(action[1]), action[2])
                if conn_id == UPSTREAM and self.connected:
                    self.run(self.core.on_upstream_message(message, self.now))
            elif isinstance(action, SubmitBlock):
                self.blocks.append(action)
            elif isinstance(action, StoreShares):
                for conn_id, ack in action.acks:
                    if conn_id == UPSTREAM and self.connected:
                        self.run(self.core.on_upstream_message(ack, self.now))
            elif isinstance(action, Disconnect):
                self.pool_disconnects.append(action)

    def new_block(self, template_id: int, bits: int, prev: bytes) -> None:
        self.pool_actions(self.pool.on_new_template(template(template_id), self.now))
        self.pool_actions(
            self.pool.on_set_new_prev_hash(prev_hash(template_id, bits, prev), self.now)
        )


ESP_MINER_V2_9 = (
    '{"id":1,"method":"mining.configure","params":[["version-rolling"],'
    '{"version-rolling.mask":"ffffffff"}]}',
    '{"id":2,"method":"mining.subscribe","params":["bitaxe/BM1370/v2.15.0"]}',
    '{"id":3,"method":"mining.authorize","params":["alice.bitaxe","x"]}',
)


@pytest.fixture
def harness_factory() -> Any:
    return Harness


@pytest.fixture
def esp_lines() -> tuple[str, ...]:
    return ESP_MINER_V2_9


@pytest.fixture
def bits() -> dict[str, int]:
    return {"regtest": REGTEST_BITS, "hard": HARD_BITS}
