"""SV2 clients: connect to a server whose authority key we know; reconnect with backoff.

::

    async with open_sv2_connection("pool.example", 34254, "9auqWEzQ...") as conn:
        await conn.send(SetupConnection(...))
        reply = await conn.recv()

A responder whose certificate the authority key did not sign is refused
(:class:`~stratumv2.noise.BadCertificate` is raised).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

from stratumv2.connection import Connection
from stratumv2.net.limits import Limits
from stratumv2.net.pump import ConnectionClosed, Sv2Connection, new_secret
from stratumv2.noise import NoiseError, XOnlyPublicKey, decode_authority_public_key

__all__ = [
    "AuthorityKey",
    "Backoff",
    "Endpoint",
    "connect_with_backoff",
    "open_sv2_connection",
    "run_client",
]

log = logging.getLogger("stratumv2.net")

AuthorityKey = XOnlyPublicKey | str | bytes | None
"""An authority public key: parsed, SRI base58check text, 32 x-only bytes, or None (no check)."""


def _authority(key: AuthorityKey) -> XOnlyPublicKey | None:
    if key is None or isinstance(key, XOnlyPublicKey):
        return key
    if isinstance(key, str):
        return decode_authority_public_key(key)
    return XOnlyPublicKey(key)


async def _connect(
    host: str, port: int, authority: AuthorityKey, limits: Limits, timeout: float
) -> Sv2Connection:
    loop = asyncio.get_running_loop()
    key = _authority(authority)

    def factory() -> Sv2Connection:
        core = Connection.initiator(
            key, new_secret(), time.time(), max_payload_size=limits.max_payload_size
        )
        return Sv2Connection(core, limits)

    async with asyncio.timeout(timeout):
        _, conn = await loop.create_connection(factory, host, port)
        try:
            await conn.wait_handshake()
        except BaseException:
            conn.abort("handshake failed")
            raise
    return conn


class open_sv2_connection:
    """Connect and complete the handshake: ``await`` it, or use it with ``async with``.

    ``timeout`` bounds the TCP connect and the handshake together.
    """

    def __init__(
        self,
        host: str,
        port: int,
        authority: AuthorityKey,
        *,
        limits: Limits | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._args = (host, port, authority, limits or Limits(), timeout)
        self._conn: Sv2Connection | None = None

    def __await__(self) -> Generator[Any, None, Sv2Connection]:
        return _connect(*self._args).__await__()

    async def __aenter__(self) -> Sv2Connection:
        self._conn = await _connect(*self._args)
        return self._conn

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.close()
            await self._conn.wait_closed()


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One upstream server and the authority key its certificate must be signed with."""

    host: str
    port: int
    authority: AuthorityKey = None

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class Backoff:
    """Exponential backoff with jitter: ``initial * factor**k`` capped at ``maximum``."""

    def __init__(
        self,
        initial: float = 1.0,
        maximum: float = 60.0,
        factor: float = 2.0,
        jitter: float = 0.1,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self._rng = rng
        self._current = initial

    def next_delay(self) -> float:
        """The delay before the next attempt (and grow the following one)."""
        delay = self._current
        self._current = min(self.maximum, self._current * self.factor)
        return delay * (1 + self.jitter * (2 * self._rng() - 1))

    def reset(self) -> None:
        """Back to ``initial`` (after a connection that worked)."""
        self._current = self.initial


async def connect_with_backoff(
    endpoints: Sequence[Endpoint],
    *,
    backoff: Backoff | None = None,
    limits: Limits | None = None,
    timeout: float = 10.0,
    attempts: int | None = None,
) -> Sv2Connection:
    """Try ``endpoints`` in order, again and again with backoff, until one connects.

    ``attempts`` bounds the rounds over all endpoints (None: forever); then the last error
    is raised.
    """
    if not endpoints:
        raise ValueError("no endpoints to connect to")
    backoff = backoff or Backoff()
    limits = limits or Limits()
    rounds = 0
    while True:
        last: BaseException | None = None
        for endpoint in endpoints:
            try:
                conn = await _connect(
                    endpoint.host, endpoint.port, endpoint.authority, limits, timeout
                )
            except (OSError, TimeoutError, NoiseError, ConnectionClosed) as exc:
                last = exc
                log.warning("connect to %s failed: %s: %s", endpoint, type(exc).__name__, exc)
                continue
            log.info("connected to %s", endpoint)
            return conn
        rounds += 1
        if attempts is not None and rounds >= attempts:
            assert last is not None
            raise last
        delay = backoff.next_delay()
        log.info("retrying in %.1f s", delay)
        await asyncio.sleep(delay)


async def run_client(
    endpoints: Sequence[Endpoint],
    session: Callable[[Sv2Connection], Awaitable[None]],
    *,
    backoff: Backoff | None = None,
    limits: Limits | None = None,
    timeout: float = 10.0,
    stable_after: float = 30.0,
) -> None:
    """Keep a session with the first reachable endpoint, reconnecting forever.

    ``session(conn)`` runs per connection; when it returns or the connection drops, the
    client waits (backoff, reset if the session lasted ``stable_after`` seconds) and
    reconnects. Cancel the task to stop.
    """
    backoff = backoff or Backoff()
    loop = asyncio.get_running_loop()
    while True:
        conn = await connect_with_backoff(
            endpoints, backoff=backoff, limits=limits, timeout=timeout
        )
        started = loop.time()
        try:
            await session(conn)
        except ConnectionClosed as exc:
            log.warning("upstream %s closed: %s", conn.peer_text, exc.reason)
        finally:
            conn.close("session ended")
        if loop.time() - started >= stable_after:
            backoff.reset()
        await asyncio.sleep(backoff.next_delay())
