"""Limits and timeouts for SV2 servers, and the bookkeeping that enforces connection counts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from stratumv2.noise.transport import MAX_PAYLOAD_SIZE

__all__ = ["ConnectionCounter", "Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """What a server tolerates from its peers (all times in seconds; None disables)."""

    handshake_timeout: float = 10.0
    """The Noise handshake must finish this soon after the TCP connection is accepted."""
    idle_timeout: float | None = None
    """Close a connection that sent nothing for this long. SV2 has no keepalive: a Template
    Distribution client may stay silent between blocks, so only roles whose peers talk
    regularly (a pool's miners submit shares) should set this."""
    max_payload_size: int = MAX_PAYLOAD_SIZE
    """Largest frame payload a peer may announce (the SV2 maximum is 2**24 - 1)."""
    max_connections: int = 10_000
    """Open connections in total; further ones are refused at accept."""
    max_connections_per_address: int = 256
    """Open connections from one source IP address."""
    max_queued_messages: int = 1024
    """Received messages not yet consumed before reading from the socket pauses."""
    write_buffer_high: int = 1 << 20
    """Bytes waiting in the socket's send buffer before ``send`` waits for the peer."""
    close_timeout: float = 5.0
    """How long an orderly close waits for queued bytes to drain before aborting."""


class ConnectionCounter:
    """Counts open connections in total and per source address (sans-IO)."""

    __slots__ = ("_per_address", "limits", "total")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0
        self._per_address: Counter[str] = Counter()

    def acquire(self, address: str) -> str | None:
        """Count a new connection from ``address``; return why it is refused, or None."""
        if self.total >= self.limits.max_connections:
            return f"server full ({self.total} connections)"
        if self._per_address[address] >= self.limits.max_connections_per_address:
            return f"too many connections from {address} ({self._per_address[address]})"
        self.total += 1
        self._per_address[address] += 1
        return None

    def release(self, address: str) -> None:
        """Forget one connection from ``address``."""
        self.total -= 1
        self._per_address[address] -= 1
        if self._per_address[address] <= 0:
            del self._per_address[address]

    def count(self, address: str) -> int:
        """Open connections from ``address``."""
        return self._per_address.get(address, 0)
