"""What the SV2 and SV1 servers share: the listening socket, the live connections and their
handler tasks, the connection limits, and an orderly close."""

from __future__ import annotations

import asyncio
from typing import Generic, Protocol, TypeVar

from stratumv2.net.limits import ConnectionCounter, Limits

__all__ = ["Listener"]


class _Closable(Protocol):
    def close(self, reason: str = ...) -> None: ...


C = TypeVar("C", bound=_Closable)


class Listener(Generic[C]):
    """Base of the SV2 (:mod:`stratumv2.net.server`) and SV1 (:mod:`stratumv2.net.sv1`) servers."""

    def __init__(self, limits: Limits | None, name: str) -> None:
        self.limits = limits or Limits()
        self.name = name
        self.counter = ConnectionCounter(self.limits)
        self.connections: set[C] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def sockets(self) -> list[tuple[str, int]]:
        """Listening addresses (host, port)."""
        if self._server is None:
            return []
        return [tuple(s.getsockname()[:2]) for s in self._server.sockets]

    @property
    def port(self) -> int:
        """The first listening port (useful with port 0)."""
        return self.sockets[0][1]

    async def close(self) -> None:
        """Stop accepting, close every connection, wait for the handlers."""
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.close("server shutting down")
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        self._server = None
