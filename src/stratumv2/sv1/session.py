"""Sans-IO Stratum V1 server session: one device connection as a state machine.

h11-style: the role feeds bytes with `receive_data`, pops events with `next_event`, answers
with the methods below, and writes out `data_to_send()`. The session does the protocol-level
checks (order, formats, known jobs, extranonce2 size, ntime, version bits, duplicates); hash
validation belongs to the role. It accepts every message order real devices use
(shared/sv1-devices.md §1, §6): ESP-Miner's three generations, cpuminer and cgminer.

Version rolling: the full header version of a share is `job_version | version_bits` (ckpool's
rule). ESP-Miner submits `rolled XOR job_version` where `rolled = job_version | counter`, and
cgminer submits the rolled bits it ORed into the job version; OR rebuilds both headers exactly,
including when the job version has bits inside the mask (BIP310's formula does not).
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace

from stratumv2.sv1.errors import (
    DEFAULT_MESSAGES,
    Sv1ErrorCode,
    Sv1LineTooLong,
    Sv1LocalError,
    Sv1ProtocolError,
)
from stratumv2.sv1.wire import (
    DEFAULT_MAX_LINE_LENGTH,
    LineDecoder,
    MiningNotify,
    Sv1Notification,
    Sv1Request,
    Sv1Response,
    difficulty_json_number,
    encode_error,
    encode_notify,
    encode_reconnect,
    encode_result,
    encode_set_difficulty,
    encode_set_extranonce,
    encode_set_version_mask,
)

__all__ = [
    "Authorize",
    "Configure",
    "Disconnect",
    "ExtranonceSubscribe",
    "InvalidRequest",
    "SessionConfig",
    "SubmitShare",
    "Subscribe",
    "SuggestDifficulty",
    "Sv1Event",
    "Sv1ServerSession",
]

RequestId = int | str | None

BIP310_DEFAULT_MASK = 0x1FFFE000
"""The mask ckpool and ESP-Miner use; ESP-Miner's chips roll only bits 13-28."""


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Per-connection settings (the role builds one from its own config).

    `network_difficulty` caps every difficulty sent (None: no cap); the role updates it with
    `Sv1ServerSession.set_network_difficulty` on each new block.
    """

    version_mask: int = BIP310_DEFAULT_MASK
    start_difficulty: float = 1.0
    min_difficulty: float = 1e-9
    max_difficulty: float = float(1 << 48)
    network_difficulty: float | None = None
    max_line_length: int = DEFAULT_MAX_LINE_LENGTH
    max_jobs: int = 16
    max_stale_jobs: int = 64
    max_ntime_offset: int = 7000
    max_protocol_errors: int = 10
    duplicate_window: int = 65536

    def __post_init__(self) -> None:
        if not 0 < self.min_difficulty <= self.max_difficulty:
            raise ValueError("need 0 < min_difficulty <= max_difficulty")
        if self.max_jobs < 1:
            raise ValueError("max_jobs must be >= 1")


# --- events ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Configure:
    """`mining.configure` was answered by the session; `version_mask` is None if not negotiated."""

    request_id: RequestId
    extensions: tuple[str, ...]
    version_mask: int | None
    minimum_difficulty: float | None


@dataclass(frozen=True, slots=True)
class Subscribe:
    """`mining.subscribe`. If `answered` is False the role must call `accept_subscribe`."""

    request_id: RequestId
    user_agent: str
    answered: bool


@dataclass(frozen=True, slots=True)
class Authorize:
    """`mining.authorize`; the role answers with `accept_authorize` or `reject`.

    `username` is the full string; `user`/`worker` are split at the first '.'.
    """

    request_id: RequestId
    username: str
    user: str
    worker: str
    password: str


@dataclass(frozen=True, slots=True)
class SuggestDifficulty:
    """`mining.suggest_difficulty`; `difficulty` is the clamped value the session adopted."""

    request_id: RequestId
    requested: float
    difficulty: float


@dataclass(frozen=True, slots=True)
class ExtranonceSubscribe:
    """`mining.extranonce.subscribe` (answered true by the session)."""

    request_id: RequestId


@dataclass(frozen=True, slots=True)
class SubmitShare:
    """A `mining.submit` that passed the protocol checks; the role validates the hash.

    `version` is the full header version (`job.version | version_bits`); `difficulty` is the
    difficulty the share must meet (the lower of the job's and the current one).
    """

    request_id: RequestId
    username: str
    worker: str
    job_id: str
    job: MiningNotify
    extranonce1: bytes
    extranonce2: bytes
    ntime: int
    nonce: int
    version: int
    version_bits: int | None
    difficulty: float


@dataclass(frozen=True, slots=True)
class InvalidRequest:
    """The session itself answered a request with an error (for logs and metrics)."""

    request_id: RequestId
    method: str
    code: int
    message: str


@dataclass(frozen=True, slots=True)
class Disconnect:
    """The session is closed; the role should flush `data_to_send()` and close the socket."""

    reason: str


Sv1Event = (
    Configure
    | Subscribe
    | Authorize
    | SuggestDifficulty
    | ExtranonceSubscribe
    | SubmitShare
    | InvalidRequest
    | Disconnect
)


@dataclass(slots=True)
class _Job:
    notify: MiningNotify
    extranonce1: bytes
    extranonce2_size: int
    difficulty: float
    # recent submissions, oldest first (an insertion-ordered set bounded by duplicate_window)
    submitted: dict[tuple[bytes, int, int, int], None] = field(default_factory=dict)


_HEX_U32 = re.compile(r"[0-9a-fA-F]{8}")
_HEX_VERSION = re.compile(r"[0-9a-fA-F]{1,8}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    if not math.isfinite(number) or number <= 0:
        return None
    return number


class Sv1ServerSession:
    """The server side of one SV1 device connection (sans-IO)."""

    def __init__(
        self,
        config: SessionConfig | None = None,
        *,
        extranonce1: bytes | None = None,
        extranonce2_size: int | None = None,
        subscription_id: str = "00000000",
    ) -> None:
        self.config = config or SessionConfig()
        if (extranonce1 is None) != (extranonce2_size is None):
            raise ValueError("give both extranonce1 and extranonce2_size, or neither")
        if extranonce2_size is not None:
            _check_extranonce2_size(extranonce2_size)
        self._decoder = LineDecoder(self.config.max_line_length)
        self._events: deque[Sv1Event] = deque()
        self._out = bytearray()
        self.subscription_id = subscription_id
        self.extranonce1 = extranonce1
        self.extranonce2_size = extranonce2_size
        self.network_difficulty = self.config.network_difficulty
        self.subscribed = False
        self.user_agent = ""
        self.version_mask: int | None = None
        self.extranonce_subscribed = False
        self.difficulty: float | None = None
        self.suggested_difficulty: float | None = None
        self.minimum_difficulty: float | None = None
        self.authorized: set[str] = set()
        self.closed = False
        self.protocol_errors = 0
        # answers may be pending twice under one id (a device may reuse ids): FIFO per id
        self._pending_subscribe: dict[RequestId, int] = {}
        self._pending_authorize: dict[RequestId, deque[str]] = {}
        self._jobs: OrderedDict[str, _Job] = OrderedDict()
        self._stale: OrderedDict[str, None] = OrderedDict()

    # --- input ----------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the device; events become available from `next_event`."""
        if self.closed:
            return
        for item in self._decoder.feed(data):
            if self.closed:
                return
            if isinstance(item, Sv1LineTooLong):
                self._close(item.message)
            elif isinstance(item, Sv1ProtocolError):
                self._protocol_error(item)
            elif isinstance(item, Sv1Response):
                continue  # answers to our (unused) requests, e.g. client.get_version
            else:
                self._handle_call(item)

    def next_event(self) -> Sv1Event | None:
        """Pop the next event, or None when there is none."""
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """Take the bytes queued for the device."""
        out = bytes(self._out)
        self._out.clear()
        return out

    # --- role's answers -------------------------------------------------------------------

    def accept_subscribe(self, request_id: RequestId, extranonce1: bytes, size: int) -> None:
        """Answer a pending subscribe with the extranonce the role allocated."""
        _check_extranonce2_size(size)
        if not self._take_pending_subscribe(request_id):
            raise Sv1LocalError(f"no pending subscribe with id {request_id!r}")
        self.extranonce1 = extranonce1
        self.extranonce2_size = size
        self._answer_subscribe(request_id)

    def accept_authorize(self, request_id: RequestId) -> None:
        """Authorize the pending user; its shares are accepted from now on."""
        username = self._take_pending_authorize(request_id)
        if username is None:
            raise Sv1LocalError(f"no pending authorize with id {request_id!r}")
        self.authorized.add(username)
        self._send(encode_result(request_id, True))

    def reject(self, request_id: RequestId, code: int, message: str | None = None) -> None:
        """Refuse a pending subscribe or authorize with an SV1 error code."""
        if self._take_pending_authorize(request_id) is None:
            self._take_pending_subscribe(request_id)
        self._send(encode_error(request_id, code, message, result=False))

    def share_accepted(self, request_id: RequestId) -> None:
        """Answer a `SubmitShare` with `result: true`."""
        self._send(encode_result(request_id, True))

    def share_rejected(self, request_id: RequestId, code: int, message: str | None = None) -> None:
        """Answer a `SubmitShare` with `result: false` and `[code, message, null]`."""
        self._send(encode_error(request_id, code, message, result=False))

    # --- server messages ------------------------------------------------------------------

    def notify(self, job: MiningNotify) -> None:
        """Send a job. The first difficulty goes out before the first job.

        Jobs need fresh ids (ESP-Miner ignores a repeated id); a clean job makes every earlier
        job stale.
        """
        if self.extranonce1 is None or self.extranonce2_size is None:
            raise Sv1LocalError("notify before the extranonce is set")
        if job.job_id in self._jobs or job.job_id in self._stale:
            raise Sv1LocalError(f"job id {job.job_id!r} was already used")
        if self.difficulty is None:
            self.set_difficulty(self.initial_difficulty())
        assert self.difficulty is not None
        if job.clean_jobs:
            for old in self._jobs:
                self._mark_stale(old)
            self._jobs.clear()
        self._jobs[job.job_id] = _Job(job, self.extranonce1, self.extranonce2_size, self.difficulty)
        while len(self._jobs) > self.config.max_jobs:
            old, _ = self._jobs.popitem(last=False)
            self._mark_stale(old)
        self._send(encode_notify(job))

    def initial_difficulty(self) -> float:
        """The suggested difficulty if any, else the configured start, clamped and capped."""
        if self.suggested_difficulty is not None:
            return self.suggested_difficulty
        return self.clamp_difficulty(self.config.start_difficulty)

    def clamp_difficulty(self, difficulty: float) -> float:
        """Clamp to [min, max] (and the device's minimum), cap at the network's, normalize."""
        low = self.config.min_difficulty
        if self.minimum_difficulty is not None:
            low = max(low, min(self.minimum_difficulty, self.config.max_difficulty))
        value = min(max(difficulty, low), self.config.max_difficulty)
        if self.network_difficulty is not None:
            value = min(value, self.network_difficulty)
        return difficulty_json_number(value)

    def set_difficulty(self, difficulty: float) -> float:
        """Send `mining.set_difficulty` (capped at the network's); returns the value sent.

        It applies to jobs notified after it; earlier jobs keep their (lower) requirement.
        """
        if self.network_difficulty is not None:
            difficulty = min(difficulty, self.network_difficulty)
        value = difficulty_json_number(difficulty)
        self.difficulty = value
        self._send(encode_set_difficulty(value))
        return value

    def set_network_difficulty(self, difficulty: float) -> None:
        """Update the cap; lowers the device's difficulty at once if it is now above it."""
        if not math.isfinite(difficulty) or difficulty <= 0:
            raise ValueError("network difficulty must be finite and positive")
        self.network_difficulty = difficulty
        if self.difficulty is not None and self.difficulty > difficulty:
            self.set_difficulty(difficulty)

    def set_extranonce(self, extranonce1: bytes, extranonce2_size: int) -> None:
        """Send `mining.set_extranonce`; it applies to jobs notified after it."""
        _check_extranonce2_size(extranonce2_size)
        self.extranonce1 = extranonce1
        self.extranonce2_size = extranonce2_size
        self._send(encode_set_extranonce(extranonce1, extranonce2_size))

    def set_version_mask(self, mask: int) -> None:
        """Change the server mask; sends `mining.set_version_mask` if rolling was negotiated."""
        self.config = _replace_mask(self.config, mask)
        if self.version_mask is not None:
            self.version_mask &= mask
            self._send(encode_set_version_mask(self.version_mask))

    def reconnect(self, host: str | None = None, port: int | None = None, wait: int = 0) -> None:
        """Send `client.reconnect`."""
        self._send(encode_reconnect(host, port, wait))

    def close(self, reason: str) -> None:
        """Close from our side (emits `Disconnect`)."""
        self._close(reason)

    # --- internals ------------------------------------------------------------------------

    def _take_pending_subscribe(self, request_id: RequestId) -> bool:
        count = self._pending_subscribe.get(request_id, 0)
        if count <= 1:
            self._pending_subscribe.pop(request_id, None)
        else:
            self._pending_subscribe[request_id] = count - 1
        return count > 0

    def _take_pending_authorize(self, request_id: RequestId) -> str | None:
        queue = self._pending_authorize.get(request_id)
        if not queue:
            return None
        username = queue.popleft()
        if not queue:
            del self._pending_authorize[request_id]
        return username

    def _send(self, data: bytes) -> None:
        if not self.closed:
            self._out += data

    def _close(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self._events.append(Disconnect(reason))

    def _mark_stale(self, job_id: str) -> None:
        self._stale[job_id] = None
        while len(self._stale) > self.config.max_stale_jobs:
            self._stale.popitem(last=False)

    def _protocol_error(self, error: Sv1ProtocolError) -> None:
        self.protocol_errors += 1
        self._send(encode_error(error.request_id, error.code, error.message))
        self._events.append(InvalidRequest(error.request_id, "", error.code, error.message))
        if self.protocol_errors >= self.config.max_protocol_errors:
            self._close(f"too many protocol errors (last: {error.message})")

    def _refuse(
        self,
        request_id: RequestId,
        method: str,
        code: int,
        message: str | None = None,
        *,
        result: object = None,
    ) -> None:
        text = message if message is not None else DEFAULT_MESSAGES[code]
        self._send(encode_error(request_id, code, text, result=result))
        self._events.append(InvalidRequest(request_id, method, code, text))

    def _handle_call(self, call: Sv1Request | Sv1Notification) -> None:
        request_id = call.id if isinstance(call, Sv1Request) else None
        handler = _HANDLERS.get(call.method)
        if handler is None:
            self._refuse(request_id, call.method, Sv1ErrorCode.OTHER, "Method not found")
            return
        try:
            handler(self, request_id, call.params)
        except _Refusal as exc:
            self._refuse(request_id, call.method, exc.code, exc.message, result=exc.result)

    def _on_configure(self, request_id: RequestId, params: tuple[object, ...]) -> None:
        if len(params) < 1 or not isinstance(params[0], list):
            raise _Refusal("configure needs a list of extensions")
        extensions = tuple(e for e in params[0] if isinstance(e, str))
        options = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
        result: dict[str, object] = {}
        for ext in extensions:
            if ext == "version-rolling":
                requested = _hex_mask(options.get("version-rolling.mask", "ffffffff"))
                mask = requested & self.config.version_mask
                min_bits = options.get("version-rolling.min-bit-count")
                ok = not (isinstance(min_bits, int) and bin(mask).count("1") < min_bits)
                self.version_mask = mask if ok else None
                result["version-rolling"] = ok
                result["version-rolling.mask"] = f"{mask:08x}"
            elif ext == "minimum-difficulty":
                value = _number(options.get("minimum-difficulty.value"))
                self.minimum_difficulty = value
                result["minimum-difficulty"] = value is not None
            elif ext == "subscribe-extranonce":
                self.extranonce_subscribed = True
                result["subscribe-extranonce"] = True
            else:
                result[ext] = False
        self._send(encode_result(request_id, result))
        self._events.append(
            Configure(request_id, extensions, self.version_mask, self.minimum_difficulty)
        )

    def _on_subscribe(self, request_id: RequestId, params: tuple[object, ...]) -> None:
        agent = params[0] if params and isinstance(params[0], str) else ""
        self.user_agent = agent
        answered = self.extranonce1 is not None
        if answered:
            self._answer_subscribe(request_id)
        else:
            self._pending_subscribe[request_id] = self._pending_subscribe.get(request_id, 0) + 1
        self._events.append(Subscribe(request_id, agent, answered))

    def _answer_subscribe(self, request_id: RequestId) -> None:
        assert self.extranonce1 is not None and self.extranonce2_size is not None
        self.subscribed = True
        sid = self.subscription_id
        subscriptions = [["mining.set_difficulty", sid], ["mining.notify", sid]]
        self._send(
            encode_result(
                request_id, [subscriptions, self.extranonce1.hex(), self.extranonce2_size]
            )
        )

    def _on_authorize(self, request_id: RequestId, params: tuple[object, ...]) -> None:
        if not params or not isinstance(params[0], str) or not params[0]:
            raise _Refusal("No username", code=Sv1ErrorCode.UNAUTHORIZED, result=False)
        username = params[0]
        password = params[1] if len(params) > 1 and isinstance(params[1], str) else ""
        user, _, worker = username.partition(".")
        self._pending_authorize.setdefault(request_id, deque()).append(username)
        self._events.append(Authorize(request_id, username, user, worker, password))

    def _on_suggest_difficulty(self, request_id: RequestId, params: tuple[object, ...]) -> None:
        requested = _number(params[0]) if params else None
        if requested is None:
            raise _Refusal("suggest_difficulty needs a positive number")
        value = self.clamp_difficulty(requested)
        self.suggested_difficulty = value
        if self.difficulty is not None and value != self.difficulty:
            self.set_difficulty(value)
        if request_id is not None:
            self._send(encode_result(request_id, True))
        self._events.append(SuggestDifficulty(request_id, requested, value))

    def _on_extranonce_subscribe(self, request_id: RequestId, params: tuple[object, ...]) -> None:
        self.extranonce_subscribed = True
        self._send(encode_result(request_id, True))
        self._events.append(ExtranonceSubscribe(request_id))

    def _on_submit(self, request_id: RequestId, params: tuple[object, ...]) -> None:
        if not self.subscribed:
            raise _Refusal(code=Sv1ErrorCode.NOT_SUBSCRIBED, result=False)
        if len(params) < 5:
            raise _Refusal("Invalid array size", result=False)
        if not all(isinstance(p, str) for p in params[:6]):
            raise _Refusal("Params must be strings", result=False)
        username, job_id, en2_hex, ntime_hex, nonce_hex = (str(p) for p in params[:5])
        if not self.authorized:
            raise _Refusal(code=Sv1ErrorCode.UNAUTHORIZED, result=False)
        if username not in self.authorized:
            raise _Refusal("Worker mismatch", code=Sv1ErrorCode.UNAUTHORIZED, result=False)
        job = self._jobs.get(job_id)
        if job is None:
            text = "Stale" if job_id in self._stale else "Invalid JobID"
            raise _Refusal(text, code=Sv1ErrorCode.JOB_NOT_FOUND, result=False)
        if not _HEX.fullmatch(en2_hex) or len(en2_hex) != 2 * job.extranonce2_size:
            raise _Refusal("Invalid extranonce2 size", result=False)
        if not _HEX_U32.fullmatch(ntime_hex):
            raise _Refusal("No ntime", result=False)
        if not _HEX_U32.fullmatch(nonce_hex):
            raise _Refusal("No nonce", result=False)
        ntime = int(ntime_hex, 16)
        if not job.notify.ntime <= ntime <= job.notify.ntime + self.config.max_ntime_offset:
            raise _Refusal("Ntime out of range", result=False)
        version_bits: int | None = None
        version = job.notify.version
        if len(params) > 5:
            bits_hex = str(params[5])
            if not _HEX_VERSION.fullmatch(bits_hex):
                raise _Refusal("Invalid version mask", result=False)
            version_bits = int(bits_hex, 16)
            mask = self.version_mask if self.version_mask is not None else self.config.version_mask
            if version_bits & ~mask:
                raise _Refusal("Invalid version mask", result=False)
            version |= version_bits
        extranonce2 = bytes.fromhex(en2_hex)
        nonce = int(nonce_hex, 16)
        key = (extranonce2, ntime, nonce, version)
        if key in job.submitted:
            raise _Refusal(code=Sv1ErrorCode.DUPLICATE_SHARE, result=False)
        job.submitted[key] = None
        if len(job.submitted) > self.config.duplicate_window:
            del job.submitted[next(iter(job.submitted))]
        difficulty = job.difficulty
        if self.difficulty is not None:
            difficulty = min(difficulty, self.difficulty)
        _, _, worker = username.partition(".")
        self._events.append(
            SubmitShare(
                request_id=request_id,
                username=username,
                worker=worker,
                job_id=job_id,
                job=job.notify,
                extranonce1=job.extranonce1,
                extranonce2=extranonce2,
                ntime=ntime,
                nonce=nonce,
                version=version,
                version_bits=version_bits,
                difficulty=difficulty,
            )
        )


class _Refusal(Sv1ProtocolError):
    """A request the session answers with an error (internal)."""

    def __init__(
        self, message: str | None = None, *, code: int = Sv1ErrorCode.OTHER, result: object = None
    ) -> None:
        super().__init__(message if message is not None else DEFAULT_MESSAGES[code], code=code)
        self.result = result


def _check_extranonce2_size(size: int) -> None:
    if not 0 <= size <= 32:  # ESP-Miner clamps anything larger to 32
        raise ValueError(f"extranonce2_size must be in 0..32, got {size}")


def _hex_mask(value: object) -> int:
    if not isinstance(value, str) or not _HEX_VERSION.fullmatch(value):
        raise _Refusal("version-rolling.mask is not a hex u32")
    return int(value, 16)


def _replace_mask(config: SessionConfig, mask: int) -> SessionConfig:
    return replace(config, version_mask=mask)


_HANDLERS = {
    "mining.configure": Sv1ServerSession._on_configure,
    "mining.subscribe": Sv1ServerSession._on_subscribe,
    "mining.authorize": Sv1ServerSession._on_authorize,
    "mining.suggest_difficulty": Sv1ServerSession._on_suggest_difficulty,
    "mining.extranonce.subscribe": Sv1ServerSession._on_extranonce_subscribe,
    "mining.submit": Sv1ServerSession._on_submit,
}
