"""``sv2 miner --sv1``: a cpuminer-like SV1 client (for the translator and the pool's SV1 port).

:class:`Sv1Client` is sans-IO (h11 style: ``receive_data``, ``next_event``,
``data_to_send``): ``mining.configure`` (version rolling, optional), ``mining.subscribe``,
``mining.authorize``; it follows ``mining.notify``, ``mining.set_difficulty``,
``mining.set_extranonce`` and ``mining.set_version_mask``, turns the newest job into a
:class:`~stratumv2.roles.miner.core.WorkUnit` and a worker's solution into ``mining.submit``
(with the rolled version bits when rolling was negotiated). It emits the same events as the
SV2 core, so :class:`~stratumv2.roles.miner.service.MinerService` drives both.
:func:`run_sv1_client` is the asyncio loop over plain TCP with reconnect and backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

from stratumv2.bitcoin.hashes import merkle_root_from_branch, sha256d
from stratumv2.bitcoin.target import bits_to_target, difficulty_to_target
from stratumv2.net.client import Backoff
from stratumv2.roles.miner.core import (
    DEFAULT_VERSION_ROLLING_MASK,
    ChannelOpened,
    MinerEvent,
    SetupFailed,
    ShareRejected,
    SharesAccepted,
    Solution,
    TargetChanged,
    WorkChanged,
    WorkUnit,
)
from stratumv2.sv1.errors import Sv1ProtocolError
from stratumv2.sv1.wire import (
    LineDecoder,
    MiningNotify,
    Sv1Notification,
    Sv1Request,
    Sv1Response,
    encode_message,
    parse_notify,
)

__all__ = ["Sv1Client", "Sv1ClientConfig", "run_sv1_client"]

log = logging.getLogger("stratumv2.miner.sv1")


@dataclass(frozen=True, slots=True)
class Sv1ClientConfig:
    """What the SV1 device says about itself."""

    username: str = "sv2-miner"
    password: str = "x"
    user_agent: str = "sv2-miner/0.1"
    version_rolling: bool = True
    version_mask: int = DEFAULT_VERSION_ROLLING_MASK
    suggest_difficulty: float | None = None


@dataclass(slots=True)
class _Job:
    notify: MiningNotify
    extranonce1: bytes
    extranonce2_size: int


def _error_text(error: object) -> str:
    if isinstance(error, list) and len(error) >= 2:
        return str(error[1])
    return str(error)


class Sv1Client:
    """The client side of one SV1 connection (sans-IO)."""

    def __init__(self, config: Sv1ClientConfig | None = None) -> None:
        self.config = config or Sv1ClientConfig()
        self._decoder = LineDecoder()
        self._out = bytearray()
        self._events: deque[MinerEvent] = deque()
        self._next_id = 1
        self._pending: dict[int, tuple[str, int]] = {}  # request id -> (method, share seq)
        self.version_mask = 0
        self.extranonce1: bytes | None = None
        self.extranonce2_size = 0
        self.difficulty = 1.0
        self.target = difficulty_to_target(1.0)
        self.subscribed = False
        self.authorized = False
        self.jobs: dict[str, _Job] = {}
        self.work: WorkUnit | None = None
        self._work_ids = 0
        self._work_jobs: dict[int, str] = {}
        self.sequence_number = 0
        self.submitted = 0
        self.accepted = 0
        self.rejected = 0
        self.blocks_found = 0
        self.reconnect_to: tuple[str, int] | None = None  # client.reconnect (empty/0: same)

    # ---- h11-style I/O -----------------------------------------------------------------

    def start(self) -> None:
        """Queue configure (if rolling), subscribe and authorize (cpuminer/ESP-Miner order)."""
        cfg = self.config
        if cfg.version_rolling:
            self._request(
                "mining.configure",
                [
                    ["version-rolling"],
                    {
                        "version-rolling.mask": f"{cfg.version_mask:08x}",
                        "version-rolling.min-bit-count": 2,
                    },
                ],
            )
        self._request("mining.subscribe", [cfg.user_agent])
        self._request("mining.authorize", [cfg.username, cfg.password])
        if cfg.suggest_difficulty is not None:
            self._request("mining.suggest_difficulty", [cfg.suggest_difficulty])

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the server; events become available from ``next_event``."""
        for item in self._decoder.feed(data):
            if isinstance(item, Sv1ProtocolError):
                log.warning("bad line from the server: %s", item.message)
            elif isinstance(item, Sv1Response):
                self._on_response(item)
            else:
                self._on_call(item)

    def next_event(self) -> MinerEvent | None:
        """Pop the next event (None when there is none)."""
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """Take the bytes queued for the server."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def _request(self, method: str, params: list[object], share_seq: int = 0) -> int:
        request_id = self._next_id
        self._next_id += 1
        self._pending[request_id] = (method, share_seq)
        self._out += encode_message(Sv1Request(request_id, method, tuple(params)))
        return request_id

    # ---- server input ------------------------------------------------------------------

    def _on_response(self, response: Sv1Response) -> None:
        if not isinstance(response.id, int) or response.id not in self._pending:
            return
        method, seq = self._pending.pop(response.id)
        ok = response.error is None and response.result not in (False, None)
        if method == "mining.configure":
            result = response.result if isinstance(response.result, dict) else {}
            if result.get("version-rolling") is True:
                try:
                    self.version_mask = int(str(result.get("version-rolling.mask", "0")), 16)
                except ValueError:
                    self.version_mask = 0
        elif method == "mining.subscribe":
            answer = response.result
            if not ok or not isinstance(answer, list) or len(answer) < 3:
                self._events.append(SetupFailed(f"subscribe refused: {response.error}"))
                return
            try:
                self.extranonce1 = bytes.fromhex(str(answer[1]))
                self.extranonce2_size = int(answer[2])
            except (ValueError, TypeError):
                self._events.append(SetupFailed("subscribe answer is malformed"))
                return
            self.subscribed = True
            self._opened()
        elif method == "mining.authorize":
            if not ok:
                self._events.append(SetupFailed(f"authorize refused: {response.error}"))
                return
            self.authorized = True
            self._opened()
        elif method == "mining.submit":
            if ok:
                self.accepted += 1
                self._events.append(SharesAccepted(1, int(self.difficulty), seq))
            else:
                self.rejected += 1
                self._events.append(ShareRejected(seq, _error_text(response.error)))

    def _opened(self) -> None:
        if self.subscribed and self.authorized and self.extranonce1 is not None:
            self._events.append(
                ChannelOpened(0, self.target, self.extranonce1, self.extranonce2_size, 0)
            )

    def _on_call(self, call: Sv1Request | Sv1Notification) -> None:
        params = call.params
        try:
            if call.method == "mining.notify":
                self._on_notify(parse_notify(params))
            elif call.method == "mining.set_difficulty" and params:
                difficulty = float(params[0])  # type: ignore[arg-type]
                if difficulty > 0:
                    self.difficulty = difficulty
                    self.target = difficulty_to_target(difficulty)
                    self._events.append(TargetChanged(self.target))
            elif call.method == "mining.set_extranonce" and len(params) >= 2:
                self.extranonce1 = bytes.fromhex(str(params[0]))
                self.extranonce2_size = int(params[1])  # type: ignore[call-overload]
            elif call.method == "client.reconnect":
                host = str(params[0]) if params else ""
                port = int(params[1]) if len(params) > 1 else 0  # type: ignore[call-overload]
                self.reconnect_to = (host, port)
            elif call.method == "mining.set_version_mask" and params:
                self.version_mask = int(str(params[0]), 16) & self.config.version_mask
        except (Sv1ProtocolError, ValueError, TypeError) as exc:
            log.warning("ignored %s: %s", call.method, exc)
        if isinstance(call, Sv1Request):  # e.g. client.get_version: answer something
            self._out += encode_message(Sv1Response(call.id, self.config.user_agent, None))

    def _on_notify(self, notify: MiningNotify) -> None:
        if self.extranonce1 is None:
            return
        if notify.clean_jobs:
            self.jobs.clear()
        self.jobs[notify.job_id] = _Job(notify, self.extranonce1, self.extranonce2_size)
        while len(self.jobs) > 32:
            del self.jobs[next(iter(self.jobs))]
        self._work_ids += 1
        mask = self.version_mask & ~notify.version & 0xFFFFFFFF
        head = notify.coinb1 + self.extranonce1
        size = self.extranonce2_size
        root = b""
        if size == 0:
            root = merkle_root_from_branch(sha256d(head + notify.coinb2), notify.merkle_branch)
        work = WorkUnit(
            work_id=self._work_ids,
            job_id=notify.job_id,
            version=notify.version,
            prev_hash=notify.prev_hash,
            nbits=notify.nbits,
            ntime=notify.ntime,
            target=self.target,
            network_target=bits_to_target(notify.nbits),
            version_mask=mask,
            merkle_root=root,
            coinbase_head=head,
            coinbase_tail=notify.coinb2,
            merkle_path=notify.merkle_branch,
            extranonce_size=size,
        )
        self.work = work
        self._work_jobs[work.work_id] = notify.job_id
        while len(self._work_jobs) > 64:
            del self._work_jobs[next(iter(self._work_jobs))]
        self._events.append(WorkChanged(work, notify.clean_jobs))

    # ---- shares ------------------------------------------------------------------------

    def is_current(self, work_id: int) -> bool:
        """True if the job behind ``work_id`` may still be submitted."""
        job_id = self._work_jobs.get(work_id)
        return job_id is not None and job_id in self.jobs

    def submit(self, solution: Solution) -> int | None:
        """Queue ``mining.submit`` for a solution; its sequence number, or None if stale/weak."""
        if not self.is_current(solution.work_id):
            return None
        job = self.jobs[self._work_jobs[solution.work_id]]
        value = solution.value
        network = bits_to_target(job.notify.nbits)
        if value > self.target and value > network:
            return None
        if value <= network:
            self.blocks_found += 1
        params: list[object] = [
            self.config.username,
            job.notify.job_id,
            solution.extranonce.hex(),
            f"{solution.ntime:08x}",
            f"{solution.nonce:08x}",
        ]
        if self.version_mask:
            # The version's bits inside the negotiated mask: the server's header is the same
            # under BIP310's (job & ~mask) | (bits & mask) and under job | bits.
            params.append(f"{solution.version & self.version_mask:08x}")
        self.sequence_number += 1
        self.submitted += 1
        self._request("mining.submit", params, self.sequence_number)
        return self.sequence_number


async def run_sv1_client(
    service: object,
    host: str,
    port: int,
    config: Sv1ClientConfig,
    *,
    backoff: Backoff | None = None,
) -> None:
    """Keep an SV1 session with ``host:port`` for ``service`` (a MinerService), reconnecting."""
    from stratumv2.roles.miner.service import MinerService

    assert isinstance(service, MinerService)
    backoff = backoff or Backoff()
    while True:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        except (OSError, TimeoutError) as exc:
            delay = backoff.next_delay()
            log.warning("connect to %s:%d failed: %s; retrying in %.1f s", host, port, exc, delay)
            await asyncio.sleep(delay)
            continue
        peer = f"{host}:{port}"
        log.info("connected to %s (SV1)", peer)
        started = time.monotonic()
        client = Sv1Client(config)
        client.start()

        def flush(client: Sv1Client = client, writer: asyncio.StreamWriter = writer) -> None:
            data = client.data_to_send()
            if data and not writer.is_closing():
                writer.write(data)

        service.attach_sv1(client, flush)
        try:
            flush()
            while True:
                data = await reader.read(65536)
                if not data:
                    log.warning("%s closed the connection", peer)
                    break
                client.receive_data(data)
                flush()
                if not service.handle_events(client, peer):
                    break
                if client.reconnect_to is not None:
                    host = client.reconnect_to[0] or host
                    port = client.reconnect_to[1] or port
                    log.info("%s asks us to reconnect to %s:%d", peer, host, port)
                    backoff.reset()
                    break
        except OSError as exc:
            log.warning("%s: %s", peer, exc)
        finally:
            service.detach_sv1()
            writer.close()
        if time.monotonic() - started >= 30:
            backoff.reset()
        await asyncio.sleep(backoff.next_delay())
