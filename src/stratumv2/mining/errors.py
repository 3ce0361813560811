"""Errors of the mining core, and the SV2 error-code strings it replies with.

A :class:`MiningError` raised by a channel or allocator is the remote's fault (a request
that cannot be served); it carries the ``error_code`` to put in the protocol's error
message (``OpenMiningChannel.Error``, ``UpdateChannel.Error``...). Share rejections are not
exceptions: they are results (see :mod:`stratumv2.mining.shares`).
"""

from __future__ import annotations

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

# SubmitShares.Error codes (spec 5.3.14 / SRI channels-sv2).
INVALID_CHANNEL_ID = "invalid-channel-id"
INVALID_SHARE = "invalid-share"
STALE_SHARE = "stale-share"
INVALID_JOB_ID = "invalid-job-id"
DIFFICULTY_TOO_LOW = "difficulty-too-low"
DUPLICATE_SHARE = "duplicate-share"
BAD_EXTRANONCE_SIZE = "bad-extranonce-size"
VERSION_ROLLING_NOT_ALLOWED = "version-rolling-not-allowed"
INVALID_NON_ROLLABLE_VERSION_BIT = "invalid-non-rollable-version-bit"

# OpenMiningChannel.Error / UpdateChannel.Error codes.
INVALID_USER_IDENTITY = "invalid-user-identity"
INVALID_NOMINAL_HASHRATE = "invalid-nominal-hashrate"
MIN_EXTRANONCE_SIZE_TOO_LARGE = "min-extranonce-size-too-large"
MAX_TARGET_OUT_OF_RANGE = "max-target-out-of-range"
CHANNEL_CAPACITY_EXHAUSTED = "channel-capacity-exhausted"


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
