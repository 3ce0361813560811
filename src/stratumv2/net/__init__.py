"""asyncio glue: encrypted SV2 connections, servers and reconnecting clients."""

from __future__ import annotations

from stratumv2.net.client import (
    Backoff,
    Endpoint,
    connect_with_backoff,
    open_sv2_connection,
    run_client,
)
from stratumv2.net.limits import Limits
from stratumv2.net.pump import ConnectionClosed, Sv2Connection, memory_pipe
from stratumv2.net.server import Sv2Server

__all__ = [
    "Backoff",
    "ConnectionClosed",
    "Endpoint",
    "Limits",
    "Sv2Connection",
    "Sv2Server",
    "connect_with_backoff",
    "memory_pipe",
    "open_sv2_connection",
    "run_client",
]
