"""Errors of the Stratum V1 layer and the customary SV1 error codes."""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "DEFAULT_MESSAGES",
    "Sv1Error",
    "Sv1ErrorCode",
    "Sv1LineTooLong",
    "Sv1LocalError",
    "Sv1ProtocolError",
]


class Sv1ErrorCode(IntEnum):
    """The customary SV1 error codes (the first item of `[code, "message", null]`)."""

    OTHER = 20
    JOB_NOT_FOUND = 21
    DUPLICATE_SHARE = 22
    LOW_DIFFICULTY = 23
    UNAUTHORIZED = 24
    NOT_SUBSCRIBED = 25


DEFAULT_MESSAGES: dict[int, str] = {
    Sv1ErrorCode.OTHER: "Other/Unknown",
    Sv1ErrorCode.JOB_NOT_FOUND: "Invalid JobID",
    Sv1ErrorCode.DUPLICATE_SHARE: "Duplicate",
    Sv1ErrorCode.LOW_DIFFICULTY: "Above target",
    Sv1ErrorCode.UNAUTHORIZED: "Unauthorized worker",
    Sv1ErrorCode.NOT_SUBSCRIBED: "Not subscribed",
}
"""Default texts: ckpool's where it has one (a Bitaxe shows them as the reject reason)."""


class Sv1Error(Exception):
    """Base class of every error raised by `stratumv2.sv1`."""


class Sv1ProtocolError(Sv1Error):
    """The remote sent something invalid; `code` is the SV1 code to answer with.

    `request_id` is the id of the offending request when it could be read, else None.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int = Sv1ErrorCode.OTHER,
        request_id: int | str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = int(code)
        self.request_id = request_id

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Sv1ProtocolError)
            and type(other) is type(self)
            and (self.message, self.code, self.request_id)
            == (other.message, other.code, other.request_id)
        )

    def __hash__(self) -> int:
        return hash((type(self), self.message, self.code, self.request_id))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code}, id={self.request_id!r})"


class Sv1LineTooLong(Sv1ProtocolError):
    """A line exceeded the decoder's `max_line_length`; the connection should be closed."""


class Sv1LocalError(Sv1Error):
    """Our own misuse of the API (e.g. answering a request that is not pending)."""
