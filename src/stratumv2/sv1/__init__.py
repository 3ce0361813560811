"""Stratum V1 for real devices: the JSON line protocol (`wire`) and a sans-IO server session.

`Sv1ServerSession` serves one device connection (ESP-Miner/Bitaxe, cgminer, cpuminer,
NerdMiner); `translate` maps SV2 extended-channel jobs to `mining.notify` and submits back.
"""

from stratumv2.sv1.errors import (
    Sv1Error,
    Sv1ErrorCode,
    Sv1LineTooLong,
    Sv1LocalError,
    Sv1ProtocolError,
)
from stratumv2.sv1.session import (
    Authorize,
    Configure,
    Disconnect,
    ExtranonceSubscribe,
    InvalidRequest,
    SessionConfig,
    SubmitShare,
    Subscribe,
    SuggestDifficulty,
    Sv1Event,
    Sv1ServerSession,
)
from stratumv2.sv1.wire import (
    LineDecoder,
    MiningNotify,
    Sv1Message,
    Sv1Notification,
    Sv1Request,
    Sv1Response,
)

__all__ = [
    "Authorize",
    "Configure",
    "Disconnect",
    "ExtranonceSubscribe",
    "InvalidRequest",
    "LineDecoder",
    "MiningNotify",
    "SessionConfig",
    "SubmitShare",
    "Subscribe",
    "SuggestDifficulty",
    "Sv1Error",
    "Sv1ErrorCode",
    "Sv1Event",
    "Sv1LineTooLong",
    "Sv1LocalError",
    "Sv1Message",
    "Sv1Notification",
    "Sv1ProtocolError",
    "Sv1Request",
    "Sv1Response",
    "Sv1ServerSession",
]
