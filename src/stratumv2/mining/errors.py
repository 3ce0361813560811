"""Errors of the mining core, and the SV2 error-code strings it replies with.

A :class:`MiningError` raised by a channel or allocator is the remote's fault (a request
that cannot be served); it carries the ``error_code`` to put in the protocol's error
message (``OpenMiningChannel.Error``, ``UpdateChannel.Error``...). Share rejections are not
exceptions: they are results (see :mod:`stratumv2.mining.shares`).
"""

from __future__ import annotations

from stratumv2.protocol import mining as _m

__all__ = [
    "BAD_EXTRANONCE_SIZE",
    "CHANNEL_CAPACITY_EXHAUSTED",
    "DIFFICULTY_TOO_LOW",
    "DUPLICATE_SHARE",
    "INVALID_CHANNEL_ID",
    "INVALID_JOB_ID",
    "INVALID_NOMINAL_HASHRATE",
    "INVALID_NON_ROLLABLE_VERSION_BIT",
    "INVALID_SHARE",
    "INVALID_USER_IDENTITY",
    "MAX_TARGET_OUT_OF_RANGE",
    "MIN_EXTRANONCE_SIZE_TOO_LARGE",
    "STALE_SHARE",
    "VERSION_ROLLING_NOT_ALLOWED",
    "ChannelOpenError",
    "ExtranonceExhausted",
    "MiningError",
    "NoTemplateError",
    "UnknownChannelError",
]

# The SV2 error-code strings, under short names (defined once, in stratumv2.protocol.mining).
INVALID_CHANNEL_ID = _m.SUBMIT_SHARES_ERROR_INVALID_CHANNEL_ID
INVALID_SHARE = _m.SUBMIT_SHARES_ERROR_INVALID_SHARE
STALE_SHARE = _m.SUBMIT_SHARES_ERROR_STALE_SHARE
INVALID_JOB_ID = _m.SUBMIT_SHARES_ERROR_INVALID_JOB_ID
DIFFICULTY_TOO_LOW = _m.SUBMIT_SHARES_ERROR_DIFFICULTY_TOO_LOW
DUPLICATE_SHARE = _m.SUBMIT_SHARES_ERROR_DUPLICATE_SHARE
BAD_EXTRANONCE_SIZE = _m.SUBMIT_SHARES_ERROR_BAD_EXTRANONCE_SIZE
VERSION_ROLLING_NOT_ALLOWED = _m.SUBMIT_SHARES_ERROR_VERSION_ROLLING_NOT_ALLOWED
INVALID_NON_ROLLABLE_VERSION_BIT = _m.SUBMIT_SHARES_ERROR_INVALID_NON_ROLLABLE_VERSION_BIT
INVALID_USER_IDENTITY = _m.OPEN_CHANNEL_ERROR_INVALID_USER_IDENTITY
INVALID_NOMINAL_HASHRATE = _m.OPEN_CHANNEL_ERROR_INVALID_NOMINAL_HASHRATE
MIN_EXTRANONCE_SIZE_TOO_LARGE = _m.OPEN_CHANNEL_ERROR_MIN_EXTRANONCE_SIZE_TOO_LARGE
MAX_TARGET_OUT_OF_RANGE = _m.OPEN_CHANNEL_ERROR_MAX_TARGET_OUT_OF_RANGE
CHANNEL_CAPACITY_EXHAUSTED = _m.OPEN_CHANNEL_ERROR_CHANNEL_CAPACITY_EXHAUSTED


class MiningError(Exception):
    """A request the mining core refuses; ``error_code`` is the SV2 string to reply with."""

    error_code: str = INVALID_SHARE

    def __init__(self, message: str, error_code: str | None = None) -> None:
        super().__init__(message)
        if error_code is not None:
            self.error_code = error_code


class ChannelOpenError(MiningError):
    """A channel cannot be opened (reply ``OpenMiningChannel.Error``)."""


class ExtranonceExhausted(ChannelOpenError):
    """Every extranonce prefix of the allocator is in use."""

    error_code = CHANNEL_CAPACITY_EXHAUSTED


class UnknownChannelError(MiningError):
    """A message names a channel id that is not open on this connection."""

    error_code = INVALID_CHANNEL_ID


class NoTemplateError(MiningError):
    """No template / chain tip is known yet, so no job can be made."""
