"""Stratum V1 wire format: JSON lines <-> typed messages, and the server's encoders.

Every line is one JSON object ended by `\\n`. `LineDecoder` turns a byte stream into typed
messages; anything invalid comes out as a `Sv1ProtocolError` value in the result list, never as
another exception. Encoders write compact JSON in the forms that ESP-Miner, cgminer and
cpuminer parse (see shared/sv1-devices.md §2).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from stratumv2.sv1.errors import DEFAULT_MESSAGES, Sv1LineTooLong, Sv1ProtocolError

__all__ = [
    "DEFAULT_MAX_LINE_LENGTH",
    "LineDecoder",
    "MiningNotify",
    "Sv1Message",
    "Sv1Notification",
    "Sv1Request",
    "Sv1Response",
    "difficulty_json_number",
    "encode_error",
    "encode_message",
    "encode_notify",
    "encode_reconnect",
    "encode_result",
    "encode_set_difficulty",
    "encode_set_extranonce",
    "encode_set_version_mask",
    "parse_line",
    "parse_notify",
    "swap_prev_hash_words",
]

DEFAULT_MAX_LINE_LENGTH = 16384
"""Longest line (bytes, without the newline) a device may send; ours are far shorter."""

RequestId = int | str | None


@dataclass(frozen=True, slots=True)
class Sv1Request:
    """A method call that expects an answer with the same `id`."""

    id: int | str
    method: str
    params: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class Sv1Notification:
    """A method call without an id (`"id": null` or no id), e.g. `mining.notify`."""

    method: str
    params: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class Sv1Response:
    """An answer: `result` on success, `error` (any JSON value) on failure."""

    id: int | str | None
    result: object
    error: object


Sv1Message = Sv1Request | Sv1Notification | Sv1Response


def _json_constant(name: str) -> object:
    raise ValueError(f"non-standard JSON constant {name}")


def _read_id(obj: dict[str, object]) -> RequestId:
    value = obj.get("id")
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    raise Sv1ProtocolError(f"bad id type: {type(value).__name__}")


def parse_line(line: bytes) -> Sv1Message:
    """Parse one line (without its newline) into a typed message or raise `Sv1ProtocolError`."""
    try:
        text = line.decode("utf-8")
        obj = json.loads(text, parse_constant=_json_constant)
    except (ValueError, RecursionError) as exc:
        raise Sv1ProtocolError(f"invalid JSON: {exc.__class__.__name__}") from None
    if not isinstance(obj, dict):
        raise Sv1ProtocolError(f"not a JSON object: {type(obj).__name__}")
    request_id = _read_id(obj)
    if "method" in obj:
        method = obj["method"]
        if not isinstance(method, str):
            raise Sv1ProtocolError("method is not a string", request_id=request_id)
        raw_params = obj.get("params", [])
        if raw_params is None:
            raw_params = []
        if not isinstance(raw_params, list):
            raise Sv1ProtocolError("params is not an array", request_id=request_id)
        params = tuple(raw_params)
        if request_id is None:
            return Sv1Notification(method, params)
        return Sv1Request(request_id, method, params)
    if "result" in obj or "error" in obj:
        return Sv1Response(request_id, obj.get("result"), obj.get("error"))
    raise Sv1ProtocolError("neither a method call nor an answer", request_id=request_id)


class LineDecoder:
    """Incremental splitter and parser: `feed(bytes)` -> parsed messages and errors.

    A line longer than `max_line_length` yields one `Sv1LineTooLong` and is discarded up to
    its newline; the caller decides to close. Blank lines and a trailing `\\r` are ignored.
    """

    def __init__(self, max_line_length: int = DEFAULT_MAX_LINE_LENGTH) -> None:
        if max_line_length <= 0:
            raise ValueError("max_line_length must be positive")
        self.max_line_length = max_line_length
        self._buffer = bytearray()
        self._discarding = False

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete line held so far."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Sv1Message | Sv1ProtocolError]:
        """Add bytes; return every message (or error) completed by them, in order."""
        out: list[Sv1Message | Sv1ProtocolError] = []
        start = 0
        while start <= len(data):
            newline = data.find(b"\n", start)
            chunk = data[start:] if newline < 0 else data[start:newline]
            if self._discarding:
                if newline >= 0:
                    self._discarding = False
            else:
                self._buffer += chunk
                if len(self._buffer) > self.max_line_length:
                    self._buffer.clear()
                    self._discarding = newline < 0
                    out.append(Sv1LineTooLong(f"line longer than {self.max_line_length} bytes"))
                elif newline >= 0:
                    line = bytes(self._buffer).strip()
                    self._buffer.clear()
                    if line:
                        try:
                            out.append(parse_line(line))
                        except Sv1ProtocolError as exc:
                            out.append(exc)
            if newline < 0:
                break
            start = newline + 1
        return out


# --- encoders --------------------------------------------------------------------------------


def _line(obj: dict[str, object]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def encode_message(message: Sv1Message) -> bytes:
    """Encode any typed message as one line (used by tests and SV1 clients)."""
    if isinstance(message, Sv1Request):
        return _line({"id": message.id, "method": message.method, "params": list(message.params)})
    if isinstance(message, Sv1Notification):
        return _line({"id": None, "method": message.method, "params": list(message.params)})
    return _line({"id": message.id, "result": message.result, "error": message.error})


def encode_result(request_id: RequestId, result: object) -> bytes:
    """A success answer: `{"id":N,"result":...,"error":null}`."""
    return _line({"id": request_id, "result": result, "error": None})


def encode_error(
    request_id: RequestId, code: int, message: str | None = None, *, result: object = None
) -> bytes:
    """A failure answer with the error as `[code, "message", null]`.

    `result=False` is the form for rejected shares (ckpool and most pools); ESP-Miner, cgminer
    and cpuminer all read the text at `error[1]`.
    """
    text = message if message is not None else DEFAULT_MESSAGES.get(code, "Other/Unknown")
    return _line({"id": request_id, "result": result, "error": [int(code), text, None]})


def difficulty_json_number(difficulty: float) -> int | float:
    """The JSON number to send for a share difficulty.

    Difficulty >= 1 is floored to an integer (ckpool's form: old ESP-Miner read it with
    `valueint`, and `1024` rather than `1024.0`); below 1 it stays a float (ESP-Miner >= v2.14,
    cpuminer and cgminer read fractions).
    """
    if not math.isfinite(difficulty) or difficulty <= 0:
        raise ValueError(f"difficulty must be finite and positive, got {difficulty!r}")
    if difficulty >= 1:
        return math.floor(difficulty)
    return float(difficulty)


def encode_set_difficulty(difficulty: float) -> bytes:
    """`mining.set_difficulty` with the difficulty as `difficulty_json_number` writes it."""
    return _line(
        {
            "id": None,
            "method": "mining.set_difficulty",
            "params": [difficulty_json_number(difficulty)],
        }
    )


def encode_set_extranonce(extranonce1: bytes, extranonce2_size: int) -> bytes:
    """`mining.set_extranonce` `[extranonce1 hex, extranonce2_size]`."""
    return _line(
        {
            "id": None,
            "method": "mining.set_extranonce",
            "params": [extranonce1.hex(), int(extranonce2_size)],
        }
    )


def encode_set_version_mask(mask: int) -> bytes:
    """`mining.set_version_mask` `["%08x"]`."""
    return _line({"id": None, "method": "mining.set_version_mask", "params": [f"{mask:08x}"]})


def encode_reconnect(host: str | None = None, port: int | None = None, wait: int = 0) -> bytes:
    """`client.reconnect`; with no host it means "reconnect to where you are"."""
    params: list[object] = []
    if host is not None:
        params = [host, port if port is not None else 0, wait]
    return _line({"id": None, "method": "client.reconnect", "params": params})


def swap_prev_hash_words(data: bytes) -> bytes:
    """Byte-reverse each 4-byte word of 32 bytes (the SV1 `prevhash` quirk; an involution).

    The header's prev hash (internal byte order) is written in `mining.notify` with every
    32-bit word reversed; cgminer and ESP-Miner reverse each word back.
    """
    if len(data) != 32:
        raise ValueError("prev hash must be 32 bytes")
    return b"".join(data[i : i + 4][::-1] for i in range(0, 32, 4))


@dataclass(frozen=True, slots=True)
class MiningNotify:
    """The typed parameters of `mining.notify` (one SV1 job).

    `prev_hash` is in the header's own (internal) byte order; `encode_notify` applies the
    per-word swap. `merkle_branch` items are sha256 output order, as hashed. `version`,
    `nbits` and `ntime` are the header's integers.
    """

    job_id: str
    prev_hash: bytes
    coinb1: bytes
    coinb2: bytes
    merkle_branch: tuple[bytes, ...]
    version: int
    nbits: int
    ntime: int
    clean_jobs: bool

    def params(self) -> list[object]:
        """The JSON params list, in order."""
        return [
            self.job_id,
            swap_prev_hash_words(self.prev_hash).hex(),
            self.coinb1.hex(),
            self.coinb2.hex(),
            [h.hex() for h in self.merkle_branch],
            f"{self.version:08x}",
            f"{self.nbits:08x}",
            f"{self.ntime:08x}",
            self.clean_jobs,
        ]


def encode_notify(job: MiningNotify) -> bytes:
    """`mining.notify` with `clean_jobs` last, as ESP-Miner reads it."""
    return _line({"id": None, "method": "mining.notify", "params": job.params()})


_HEX32 = re.compile(r"[0-9a-fA-F]{1,8}")


def _hex_u32(value: object, what: str) -> int:
    if not isinstance(value, str) or not _HEX32.fullmatch(value):
        raise Sv1ProtocolError(f"{what} is not a hex u32")
    return int(value, 16)


def _hex_bytes(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise Sv1ProtocolError(f"{what} is not a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise Sv1ProtocolError(f"{what} is not valid hex") from None


def parse_notify(params: Sequence[object]) -> MiningNotify:
    """Parse `mining.notify` params (a client's view; used by tests and the SV1 CPU miner)."""
    if len(params) < 9:
        raise Sv1ProtocolError("mining.notify needs 9 params")
    job_id = params[0]
    if not isinstance(job_id, str):
        raise Sv1ProtocolError("job_id is not a string")
    prev = _hex_bytes(params[1], "prevhash")
    if len(prev) != 32:
        raise Sv1ProtocolError("prevhash is not 32 bytes")
    branch_raw = params[4]
    if not isinstance(branch_raw, list):
        raise Sv1ProtocolError("merkle_branch is not an array")
    branch = tuple(_hex_bytes(h, "merkle branch") for h in branch_raw)
    if any(len(h) != 32 for h in branch):
        raise Sv1ProtocolError("merkle branch item is not 32 bytes")
    clean = params[-1]
    if not isinstance(clean, bool):
        raise Sv1ProtocolError("clean_jobs is not a boolean")
    return MiningNotify(
        job_id=job_id,
        prev_hash=swap_prev_hash_words(prev),
        coinb1=_hex_bytes(params[2], "coinb1"),
        coinb2=_hex_bytes(params[3], "coinb2"),
        merkle_branch=branch,
        version=_hex_u32(params[5], "version"),
        nbits=_hex_u32(params[6], "nbits"),
        ntime=_hex_u32(params[7], "ntime"),
        clean_jobs=clean,
    )
