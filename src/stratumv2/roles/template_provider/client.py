"""A Template Distribution client: what a pool or JD client uses to follow a Template Provider.

Works with ``sv2 tp`` and with Bitcoin Core's sv2-tp (shared/sv2-spec/06-observed-sv2-tp.md)::

    client = TemplateDistributionClient(
        ("127.0.0.1", 8442), authority_key="9auqWEz...",   # TP's key; None = not verified
        constraints=ClientConstraints(max_additional_size=34, max_additional_sigops=4),
    )
    async with client:                       # connects in the background, reconnects
        async for event in client.events():
            match event:
                case NewTemplate(): ...                 # future or not
                case SetNewPrevHashTd(): ...            # activates a future template
                case TdConnected() | TdDisconnected(): ...  # ids may restart: drop old jobs
        data = await client.request_transaction_data(template_id)   # JD client
        await client.submit_solution(SubmitSolution(...))           # found a block

Events are the TD messages themselves plus :class:`TdConnected` / :class:`TdDisconnected`.
``client.active_template`` / ``client.prev_hash`` always hold the work to mine now (the
template the last SetNewPrevHash activated, or a later non-future one), ``client.templates``
the recent templates by id.
After a reconnection the TP starts over (sv2-tp restarts template ids at 1), so a consumer
forgets templates from before a :class:`TdConnected`. Solutions submitted while
disconnected are kept and sent as soon as the connection is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TypeAlias

from stratumv2.net.client import AuthorityKey, open_sv2_connection
from stratumv2.net.limits import Limits
from stratumv2.protocol import (
    CoinbaseOutputConstraints,
    NewTemplate,
    RequestTransactionData,
    RequestTransactionDataError,
    RequestTransactionDataSuccess,
    SetNewPrevHashTd,
    SetupConnection,
    SetupConnectionError,
    SetupConnectionSuccess,
    SubmitSolution,
)
from stratumv2.roles.template_provider.core import ClientConstraints
from stratumv2.roles.template_provider.service import TdPeer

__all__ = [
    "ConnectFn",
    "TdConnected",
    "TdDisconnected",
    "TdEvent",
    "TemplateDistributionClient",
    "TransactionDataError",
]

log = logging.getLogger("stratumv2.tp.client")

#: Opens one connection to the TP (Noise over TCP by default; in-memory in tests).
ConnectFn: TypeAlias = Callable[[], Awaitable[TdPeer]]


@dataclass(frozen=True, slots=True)
class TdConnected:
    """Connected and set up; templates follow. Templates from before are void."""

    address: str


@dataclass(frozen=True, slots=True)
class TdDisconnected:
    """The connection dropped (or could not be made); the client keeps retrying."""

    reason: str


TdEvent: TypeAlias = NewTemplate | SetNewPrevHashTd | TdConnected | TdDisconnected


class TransactionDataError(Exception):
    """``RequestTransactionData.Error`` from the TP (or the connection dropped)."""

    def __init__(self, template_id: int, error_code: str) -> None:
        super().__init__(f"transaction data for template {template_id}: {error_code}")
        self.template_id = template_id
        self.error_code = error_code


class TemplateDistributionClient:
    """Follows one Template Provider; see the module docstring for an example.

    ``address`` is ``(host, port)``; ``authority_key`` the TP's authority public key (SRI's
    base58check text, 32 x-only bytes or an XOnlyPublicKey), or None to accept any (as SRI
    does without ``public_key``). ``connect`` replaces the Noise/TCP connection (in-memory
    pipes, tests).
    """

    def __init__(
        self,
        address: tuple[str, int] | None = None,
        authority_key: AuthorityKey = None,
        *,
        constraints: ClientConstraints | None = None,
        connect: ConnectFn | None = None,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        setup_timeout: float = 10.0,
        vendor: str = "stratumv2",
    ) -> None:
        if connect is None and address is None:
            raise ValueError("give the TP's address (or a connect function)")
        self.address = address
        self.authority_key = authority_key
        self.constraints = constraints or ClientConstraints(0, 0)
        self._connect = connect or self._connect_noise
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.setup_timeout = setup_timeout
        self.vendor = vendor
        self._events: asyncio.Queue[TdEvent] = asyncio.Queue()
        self._peer: TdPeer | None = None
        self._connected = asyncio.Event()
        self._pending_data: dict[int, list[asyncio.Future[RequestTransactionDataSuccess]]] = {}
        self._unsent_solutions: list[SubmitSolution] = []
        self._task: asyncio.Task[None] | None = None
        self.templates: dict[int, NewTemplate] = {}
        self.prev_hash: SetNewPrevHashTd | None = None
        self.active_template: NewTemplate | None = None

    @property
    def name(self) -> str:
        """``host:port`` of the TP (or ``in-memory``)."""
        return f"{self.address[0]}:{self.address[1]}" if self.address else "in-memory"

    # ---- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> TemplateDistributionClient:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def start(self) -> None:
        """Start connecting (and reconnecting) in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"td-client-{self.name}")

    async def close(self) -> None:
        """Stop and close the connection."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._drop("closed")

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until the connection is set up."""
        await asyncio.wait_for(self._connected.wait(), timeout)

    @property
    def connected(self) -> bool:
        """True while set up with the TP."""
        return self._connected.is_set()

    # ---- API -----------------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[TdEvent]:
        """Templates, prev-hashes and connection changes, in order, forever."""
        while True:
            yield await self._events.get()

    async def next_event(self, timeout: float | None = None) -> TdEvent:
        """The next event (``asyncio.TimeoutError`` after ``timeout`` seconds)."""
        return await asyncio.wait_for(self._events.get(), timeout)

    async def set_constraints(self, constraints: ClientConstraints) -> None:
        """Send new CoinbaseOutputConstraints (the TP answers with a fresh template)."""
        self.constraints = constraints
        if self._peer is not None and self.connected:
            await self._peer.send(self._constraints_message())

    async def request_transaction_data(
        self, template_id: int, timeout: float = 10.0
    ) -> RequestTransactionDataSuccess:
        """The template's transactions; raises :class:`TransactionDataError` (also when not
        connected, on disconnection, or after ``timeout`` seconds: ``error_code`` says which)."""
        if self._peer is None or not self.connected:
            raise TransactionDataError(template_id, "not-connected")
        future: asyncio.Future[RequestTransactionDataSuccess] = (
            asyncio.get_running_loop().create_future()
        )
        self._pending_data.setdefault(template_id, []).append(future)
        try:
            await self._peer.send(RequestTransactionData(template_id=template_id))
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            raise TransactionDataError(template_id, "timeout") from None
        finally:
            waiting = self._pending_data.get(template_id)
            if waiting and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del self._pending_data[template_id]

    async def submit_solution(self, solution: SubmitSolution) -> None:
        """Send a block solution; kept and re-sent after a reconnection if the link is down."""
        peer = self._peer
        if peer is not None and self.connected:
            try:
                await peer.send(solution)
                log.info("solution for template %d sent to %s", solution.template_id, self.name)
                return
            except Exception as exc:  # ConnectionClosed, OSError...
                log.warning("sending solution failed (%s); will retry after reconnect", exc)
        self._unsent_solutions.append(solution)

    # ---- connection loop -------------------------------------------------------------------------

    def _constraints_message(self) -> CoinbaseOutputConstraints:
        return CoinbaseOutputConstraints(
            coinbase_output_max_additional_size=self.constraints.max_additional_size,
            coinbase_output_max_additional_sigops=self.constraints.max_additional_sigops,
        )

    def _setup_message(self) -> SetupConnection:
        host, port = self.address if self.address else ("0.0.0.0", 0)
        return SetupConnection(
            protocol=2,
            min_version=2,
            max_version=2,
            flags=0,
            endpoint_host=host[:252],
            endpoint_port=port,
            vendor=self.vendor[:252],
            hardware_version="",
            firmware="",
            device_id="",
        )

    async def _connect_noise(self) -> TdPeer:
        assert self.address is not None
        host, port = self.address
        # The TP may send nothing for as long as a block takes: no idle timeout here.
        return await open_sv2_connection(
            host, port, self.authority_key, limits=Limits(idle_timeout=None)
        )

    async def _run(self) -> None:
        delay = self.backoff_initial
        while True:
            reason = "closed by the TP"
            try:
                peer = await self._connect()
                self._peer = peer
                await asyncio.wait_for(self._setup(peer), self.setup_timeout)
                delay = self.backoff_initial
                await self._receive(peer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            was_connected = self.connected
            await self._drop(reason)
            if was_connected:
                log.warning("lost Template Provider %s: %s", self.name, reason)
            else:
                log.warning(
                    "cannot reach Template Provider %s: %s; retry in %.1fs",
                    self.name,
                    reason,
                    delay,
                )
            self._events.put_nowait(TdDisconnected(reason))
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max)

    async def _setup(self, peer: TdPeer) -> None:
        await peer.send(self._setup_message())
        reply = await peer.recv()
        if isinstance(reply, SetupConnectionError):
            raise ConnectionError(f"SetupConnection refused: {reply.error_code}")
        if not isinstance(reply, SetupConnectionSuccess):
            raise ConnectionError(f"expected SetupConnection.Success, got {type(reply).__name__}")
        await peer.send(self._constraints_message())
        self.templates.clear()
        self.prev_hash = None
        self.active_template = None
        self._connected.set()
        log.info("connected to Template Provider %s", self.name)
        self._events.put_nowait(TdConnected(self.name))
        unsent, self._unsent_solutions = self._unsent_solutions, []
        for solution in unsent:
            await peer.send(solution)
            log.info("queued solution for template %d sent", solution.template_id)

    async def _receive(self, peer: TdPeer) -> None:
        while True:
            message = await peer.recv()
            if isinstance(message, NewTemplate):
                self.templates[message.template_id] = message
                while len(self.templates) > 64:
                    del self.templates[next(iter(self.templates))]
                if not message.future_template and self.prev_hash is not None:
                    self.active_template = message
                self._events.put_nowait(message)
            elif isinstance(message, SetNewPrevHashTd):
                self.prev_hash = message
                self.active_template = self.templates.get(message.template_id)
                self._events.put_nowait(message)
            elif isinstance(message, RequestTransactionDataSuccess | RequestTransactionDataError):
                self._resolve(message)
            else:
                log.debug("ignoring %s from the TP", type(message).__name__)

    def _resolve(
        self, message: RequestTransactionDataSuccess | RequestTransactionDataError
    ) -> None:
        waiting = self._pending_data.pop(message.template_id, [])
        for future in waiting:
            if future.done():
                continue
            if isinstance(message, RequestTransactionDataSuccess):
                future.set_result(message)
            else:
                future.set_exception(TransactionDataError(message.template_id, message.error_code))

    async def _drop(self, reason: str) -> None:
        self._connected.clear()
        peer, self._peer = self._peer, None
        for template_id, waiting in self._pending_data.items():
            for future in waiting:
                if not future.done():
                    future.set_exception(
                        TransactionDataError(template_id, f"disconnected: {reason}")
                    )
        self._pending_data.clear()
        if peer is not None:
            with contextlib.suppress(Exception):
                peer.close()
