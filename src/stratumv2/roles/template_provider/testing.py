"""Our Template Provider running in-process for tests and benchmarks: the service over a
node's JSON-RPC plus its Noise server on 127.0.0.1:0 (pairs with
:func:`stratumv2.roles.regtest_node.testing.running_node`). ::

    async with running_node(tmp / "node") as node, running_tp(
        node.url, node.cookie_path, tmp / "tp"
    ) as tp:
        client = TemplateDistributionClient(tp.address, tp.authority_key)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratumv2.net.limits import Limits
from stratumv2.net.pump import new_secret
from stratumv2.net.rpc import BitcoinRpc
from stratumv2.net.server import Sv2Server
from stratumv2.noise import Keypair
from stratumv2.roles.template_provider.core import TemplateProviderCore
from stratumv2.roles.template_provider.service import (
    TD_SERVER_LIMITS,
    BlockStore,
    TemplatePolicyFn,
    TemplateProviderService,
    TpOptions,
)

__all__ = ["TpHandle", "running_tp"]


@dataclass
class TpHandle:
    """A running TP: where it listens and the authority key its clients check."""

    service: TemplateProviderService
    server: Sv2Server
    address: tuple[str, int]
    authority_key: str
    datadir: Path

    @property
    def port(self) -> int:
        """The TP's listening port."""
        return self.address[1]


@asynccontextmanager
async def running_tp(
    url: str,
    cookie: Path,
    datadir: Path,
    *,
    zmq: str | None = None,
    policy: TemplatePolicyFn | None = None,
    rpc_timeout: float = 5.0,
    longpoll_timeout: float = 1800.0,
    refresh_interval: float = 0.5,
    server_limits: Limits = TD_SERVER_LIMITS,
    **core_args: Any,
) -> AsyncIterator[TpHandle]:
    """Run a TP on the node at ``url`` (cookie auth) until the block exits; blocks go to
    ``datadir/blocks``; ``core_args`` go to :class:`TemplateProviderCore`."""
    rpc = BitcoinRpc(url, cookie_file=cookie, timeout=rpc_timeout)
    service = TemplateProviderService(
        rpc,
        TemplateProviderCore(**core_args),
        options=TpOptions(
            zmq_hashblock=zmq,
            refresh_interval=refresh_interval,
            backoff_max=0.5,
            longpoll_timeout=longpoll_timeout,
        ),
        block_store=BlockStore(datadir / "blocks"),
        policy=policy,
    )
    server = Sv2Server(
        lambda conn: service.serve_peer(conn, conn.peer_text),
        Keypair(new_secret()),
        server_limits,
        name="tp",
    )
    await server.start("127.0.0.1", 0)
    task = asyncio.create_task(service.run())
    try:
        yield TpHandle(
            service, server, ("127.0.0.1", server.port), server.authority_public_key, datadir
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.close()
        await rpc.close()
