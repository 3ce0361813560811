"""Errors of the SV2 codec: one base class for everything a peer's bytes can cause."""

from __future__ import annotations


class ProtocolError(Exception):
    """Bytes from a peer that are not a valid SV2 frame or message.

    The text names the message type and the field at fault. ``msg_type`` and ``field`` are
    set when known. Decoding never raises anything else for any byte input.
    """

    def __init__(self, text: str, *, msg_type: int | None = None, field: str | None = None):
        super().__init__(text)
        self.msg_type = msg_type
        self.field = field


class FrameTooLargeError(ProtocolError):
    """A frame header announces more bytes than the configured maximum."""


class UnknownMessageError(ProtocolError):
    """A frame whose (extension_type, msg_type) no class is registered for."""


class EncodeError(ProtocolError, ValueError):
    """A message we were asked to send has a field value its wire type cannot carry.

    This is the local side's fault (a bug or bad input to a constructor), not the peer's.
    """
