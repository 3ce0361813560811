"""An SV2 server: accept loop, per-connection handshake, limits, and a handler per peer.

::

    async def handler(conn: Sv2Connection) -> None:
        async for message in conn:
            ...
            await conn.send(reply)

    server = Sv2Server(handler, authority_keypair, Limits(max_connections_per_address=16))
    await server.start("0.0.0.0", 34254)
    await server.serve_forever()

The handler runs only after the Noise handshake completed; when it returns the connection
is closed. The certificate is issued from the authority key at start-up and re-issued
before it expires (:class:`~stratumv2.noise.ResponderIdentity`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from stratumv2.connection import Connection
from stratumv2.net.limits import Limits
from stratumv2.net.listener import Listener
from stratumv2.net.pump import ConnectionClosed, Sv2Connection, memory_pipe, new_secret
from stratumv2.noise import Keypair, ResponderIdentity, encode_authority_public_key

__all__ = ["Handler", "Sv2Server"]

log = logging.getLogger("stratumv2.net")

Handler = Callable[[Sv2Connection], Awaitable[None]]


class Sv2Server(Listener[Sv2Connection]):
    """Serve SV2 over Noise: one ``handler(conn)`` task per connection after its handshake.

    ``authority`` is the authority keypair (a static key is generated per process) or a
    ready :class:`ResponderIdentity`. ``certificate_validity`` is in seconds.
    """

    def __init__(
        self,
        handler: Handler,
        authority: Keypair | ResponderIdentity,
        limits: Limits | None = None,
        *,
        certificate_validity: int = 3600,
        name: str = "sv2",
    ) -> None:
        self.handler = handler
        if isinstance(authority, ResponderIdentity):
            self.identity = authority
        else:
            self.identity = ResponderIdentity(
                authority,
                new_secret(),
                validity=certificate_validity,
                aux_rand=lambda: os.urandom(32),
            )
        super().__init__(limits, name)

    @property
    def authority_public_key(self) -> str:
        """The authority public key in SRI's base58check text (what clients configure)."""
        return encode_authority_public_key(self.identity.authority.public_key.data)

    async def start(self, host: str | None = "127.0.0.1", port: int = 0, **kwargs: Any) -> None:
        """Start listening; extra keyword arguments go to ``loop.create_server``."""
        loop = asyncio.get_running_loop()
        self.identity.certificate(time.time())  # sign the first certificate now
        self._server = await loop.create_server(
            self._new_connection,
            host,
            port,
            reuse_address=True,
            **kwargs,
        )
        log.info(
            "%s listening on %s, authority public key %s",
            self.name,
            ", ".join(f"{h}:{p}" for h, p in self.sockets),
            self.authority_public_key,
        )

    async def serve_forever(self) -> None:
        """Serve until cancelled or closed."""
        if self._server is None:
            raise RuntimeError("call start() first")
        try:
            await self._server.serve_forever()
        except asyncio.CancelledError:
            await self.close()
            raise

    async def connect_in_memory(self, timeout: float = 10.0) -> Sv2Connection:
        """A client connection to this server inside the process (no socket, same frames).

        The server side goes through the same limits, handshake and handler as TCP peers;
        the peer address is ``("memory", n)``. Used by bundles such as ``sv2 solo``.
        """
        limits = self.limits
        authority = self.identity.authority.public_key

        def client() -> Sv2Connection:
            core = Connection.initiator(
                authority, new_secret(), time.time(), max_payload_size=limits.max_payload_size
            )
            return Sv2Connection(core, limits)

        conn, _ = memory_pipe(client, self._new_connection)
        assert isinstance(conn, Sv2Connection)
        async with asyncio.timeout(timeout):
            await conn.wait_handshake()
        return conn

    async def __aenter__(self) -> Sv2Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- internals ----------------------------------------------------------------------

    def _new_connection(self) -> Sv2Connection:
        core = Connection.responder(
            self.identity, new_secret(), time.time(), max_payload_size=self.limits.max_payload_size
        )
        return Sv2Connection(
            core, self.limits, on_made=self._made, on_open=self._open, on_lost=self._lost
        )

    def _made(self, conn: Sv2Connection) -> str | None:
        refusal = self.counter.acquire(conn.peer[0])
        if refusal is None:
            self.connections.add(conn)
        return refusal

    def _open(self, conn: Sv2Connection) -> None:
        task = asyncio.get_running_loop().create_task(self._run(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _lost(self, conn: Sv2Connection) -> None:
        if conn in self.connections:
            self.connections.discard(conn)
            self.counter.release(conn.peer[0])

    async def _run(self, conn: Sv2Connection) -> None:
        try:
            await self.handler(conn)
        except ConnectionClosed:
            pass
        except asyncio.CancelledError:
            conn.close("server shutting down")
            raise
        except Exception:
            log.exception("%s: handler for %s failed", self.name, conn.peer_text)
        conn.close("handler finished" if conn.close_reason is None else conn.close_reason)
        await conn.wait_closed()
