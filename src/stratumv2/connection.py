"""One sans-IO SV2 connection: Noise handshake, encrypted framing and the message codec.

Both sides use the same class (h11/aioquic style)::

    conn = Connection.initiator(authority_key, ephemeral_secret=os.urandom(32), now=time.time())
    sock.sendall(conn.data_to_send())          # act 1
    conn.receive_data(sock.recv(65536))        # act 2 -> HandshakeComplete
    conn.send(SetupConnection(...))
    sock.sendall(conn.data_to_send())
    while (event := conn.next_event()) is not None: ...

Errors are exceptions raised by :meth:`Connection.receive_data` (or :meth:`receive_eof`):
:class:`~stratumv2.noise.NoiseError` subclasses for the handshake and decryption, and
:class:`~stratumv2.protocol.ProtocolError` for undecodable messages. Either way the peer is
at fault and the connection is dead: further calls raise :class:`ConnectionStateError`.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from typing import Final, TypeAlias

from stratumv2.noise import (
    ACT1_SIZE,
    ACT2_SIZE,
    Certificate,
    HandshakeError,
    InitiatorHandshake,
    NoiseTransport,
    ResponderHandshake,
    ResponderIdentity,
    XOnlyPublicKey,
)
from stratumv2.noise.transport import MAX_PAYLOAD_SIZE
from stratumv2.protocol import (
    HEADER_SIZE,
    FrameHeader,
    Message,
    ProtocolError,
    decode_frame,
    decode_header,
    decode_payload,
    encode_frame,
)
from stratumv2.protocol.errors import UnknownMessageError

__all__ = [
    "Connection",
    "ConnectionStateError",
    "Event",
    "HandshakeComplete",
    "MessageReceived",
    "Role",
    "UnknownMessageReceived",
]

DEFAULT_MAX_PAYLOAD_SIZE: Final = MAX_PAYLOAD_SIZE
_SMALL_FRAME: Final = 4096


class Role(enum.Enum):
    """Which side of the Noise handshake we are."""

    INITIATOR = "initiator"
    RESPONDER = "responder"


class ConnectionStateError(Exception):
    """Our own misuse: sending before the handshake completed, or using a failed connection."""


@dataclass(frozen=True, slots=True)
class HandshakeComplete:
    """The Noise handshake finished; messages may now flow both ways."""

    handshake_hash: bytes
    responder_static_xonly: bytes
    certificate: Certificate


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A decoded SV2 message from the peer."""

    message: Message


@dataclass(frozen=True, slots=True)
class UnknownMessageReceived:
    """A well-formed frame whose message type we do not know (e.g. an unsupported extension)."""

    header: FrameHeader
    payload: bytes


Event: TypeAlias = HandshakeComplete | MessageReceived | UnknownMessageReceived


class _State(enum.Enum):
    HANDSHAKE = 1
    OPEN = 2
    FAILED = 3


class Connection:
    """Sans-IO SV2 connection for either side; see the module docstring for the verbs."""

    __slots__ = (
        "_events",
        "_handshake",
        "_inbound",
        "_now",
        "_outbound",
        "_state",
        "_transport",
        "bytes_received",
        "bytes_sent",
        "handshake",
        "max_payload_size",
        "role",
    )

    def __init__(
        self,
        handshake: InitiatorHandshake | ResponderHandshake,
        now: float,
        max_payload_size: int = DEFAULT_MAX_PAYLOAD_SIZE,
    ) -> None:
        self._handshake: InitiatorHandshake | ResponderHandshake | None = handshake
        self.role = Role.INITIATOR if isinstance(handshake, InitiatorHandshake) else Role.RESPONDER
        self.max_payload_size = max_payload_size
        self._now = now
        self._state = _State.HANDSHAKE
        self._inbound = bytearray()
        self._outbound: list[bytes] = []
        self._events: deque[Event] = deque()
        self._transport: NoiseTransport | None = None
        self.handshake: HandshakeComplete | None = None
        self.bytes_received = 0
        self.bytes_sent = 0
        if isinstance(handshake, InitiatorHandshake):
            self._outbound.append(handshake.write_act1())

    @classmethod
    def initiator(
        cls,
        authority: XOnlyPublicKey | None,
        ephemeral_secret: bytes,
        now: float,
        *,
        max_payload_size: int = DEFAULT_MAX_PAYLOAD_SIZE,
        ellswift_rnd: bytes = bytes(32),
    ) -> Connection:
        """A client connection; act 1 is ready in :meth:`data_to_send` at once."""
        handshake = InitiatorHandshake(authority, ephemeral_secret, ellswift_rnd)
        return cls(handshake, now, max_payload_size)

    @classmethod
    def responder(
        cls,
        identity: ResponderIdentity,
        ephemeral_secret: bytes,
        now: float,
        *,
        max_payload_size: int = DEFAULT_MAX_PAYLOAD_SIZE,
        ellswift_rnd: bytes = bytes(32),
    ) -> Connection:
        """A server connection; it waits for the initiator's act 1."""
        handshake = ResponderHandshake(identity, ephemeral_secret, ellswift_rnd)
        return cls(handshake, now, max_payload_size)

    # --- state ------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """True once the handshake completed and nothing failed."""
        return self._state is _State.OPEN

    @property
    def failed(self) -> bool:
        """True after an error: the connection must be closed."""
        return self._state is _State.FAILED

    def handshake_bytes_expected(self) -> int:
        """Bytes still needed to finish the handshake (0 once open)."""
        if self._state is not _State.HANDSHAKE:
            return 0
        size = ACT1_SIZE if self.role is Role.RESPONDER else ACT2_SIZE
        return max(0, size - len(self._inbound))

    # --- input ------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview, now: float | None = None) -> None:
        """Feed bytes from the peer; queue events; raise on the peer's errors."""
        if self._state is _State.FAILED:
            raise ConnectionStateError("connection already failed")
        if now is not None:
            self._now = now
        self.bytes_received += len(data)
        try:
            if self._state is _State.HANDSHAKE:
                data = self._receive_handshake(data)
                if not data:
                    return
            transport = self._transport
            assert transport is not None
            frames = transport.feed(data)
            if frames:
                self._decode(frames)
        except Exception:
            self._state = _State.FAILED
            raise

    def receive_eof(self) -> None:
        """The peer closed its side; raise if that cut a handshake or frame short."""
        if self._state is _State.HANDSHAKE:
            self._state = _State.FAILED
            raise HandshakeError(
                f"connection closed during the handshake ({len(self._inbound)} bytes received)"
            )
        if self._transport is not None and self._transport.buffered():
            self._state = _State.FAILED
            raise ProtocolError(
                f"connection closed inside a frame ({self._transport.buffered()} bytes pending)"
            )

    def next_event(self) -> Event | None:
        """The next queued event, or None."""
        events = self._events
        return events.popleft() if events else None

    def events(self) -> list[Event]:
        """All queued events at once (and clear the queue)."""
        events = list(self._events)
        self._events.clear()
        return events

    def _receive_handshake(self, data: bytes | bytearray | memoryview) -> bytes:
        inbound = self._inbound
        inbound += data
        handshake = self._handshake
        if isinstance(handshake, ResponderHandshake):
            if len(inbound) < ACT1_SIZE:
                return b""
            act2, result = handshake.read_act1(bytes(inbound[:ACT1_SIZE]), self._now)
            self._outbound.append(act2)
            rest = bytes(inbound[ACT1_SIZE:])
        else:
            assert handshake is not None
            if len(inbound) < ACT2_SIZE:
                return b""
            result = handshake.read_act2(bytes(inbound[:ACT2_SIZE]), self._now)
            rest = bytes(inbound[ACT2_SIZE:])
        inbound.clear()
        self._handshake = None
        self._transport = NoiseTransport(result.send, result.recv, self.max_payload_size)
        self._state = _State.OPEN
        complete = HandshakeComplete(
            result.handshake_hash, result.responder_static_xonly, result.certificate
        )
        self.handshake = complete
        self._events.append(complete)
        return rest

    def _decode(self, frames: list[tuple[bytes, bytes]]) -> None:
        append = self._events.append
        for header, payload in frames:
            try:
                if len(payload) < _SMALL_FRAME:  # one fast call; the copy is cheap
                    message = decode_frame(header + payload)
                else:
                    message = decode_payload(decode_header(header), payload)
            except UnknownMessageError:
                append(UnknownMessageReceived(decode_header(header), payload))
                continue
            append(MessageReceived(message))

    # --- output -----------------------------------------------------------------------

    def send(self, message: Message) -> None:
        """Encode, encrypt and queue one message."""
        frame = encode_frame(message)
        self.send_frame(frame[:HEADER_SIZE], memoryview(frame)[HEADER_SIZE:])

    def send_frame(self, header: bytes, payload: bytes | bytearray | memoryview) -> None:
        """Encrypt and queue one frame given as its 6-byte header and payload (for relays)."""
        transport = self._transport
        if transport is None or self._state is not _State.OPEN:
            raise ConnectionStateError(f"cannot send: connection is {self._state.name.lower()}")
        self._outbound.append(transport.encrypt_frame(header, payload))

    def data_to_send(self) -> bytes:
        """Everything queued for the peer since the last call."""
        out = self._outbound
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        self.bytes_sent += len(data)
        return data
