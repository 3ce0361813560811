"""The asyncio template provider: node loops, solution submission, client sessions.

A thin pump around :class:`~stratumv2.roles.template_provider.core.TemplateProviderCore`:

* **templates** — ``getblocktemplate {"rules":["segwit"]}`` whenever the tip changes
  (ZMQ ``hashblock`` when configured, else a long poll with ``longpollid``) and every
  ``refresh_interval`` seconds for fee rises; replies are applied in the order the requests
  were made, so a slow old reply never replaces a newer tip;
* **the node** — unreachable, in initial block download, or answering garbage: say so once
  in the log, retry with backoff, never crash;
* **solutions** — each block is written to ``DIR/blocks/<hash>.hex`` *before* the first
  ``submitblock``, which is retried until the node gives a definite answer (``null`` =
  accepted, a reason string = rejected); blocks still pending at start are resubmitted;
* **clients** — any number of :class:`TdPeer` connections (Noise over TCP, or in memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from stratumv2.net.limits import Limits
from stratumv2.net.rpc import BitcoinRpc, RpcAuthError, RpcClientError, RpcError
from stratumv2.protocol import (
    CoinbaseOutputConstraints,
    RequestTransactionData,
    SetupConnection,
    SetupConnectionError,
    SetupConnectionSuccess,
    SubmitSolution,
)
from stratumv2.roles.template_provider.core import (
    BlockTemplate,
    MalformedTemplate,
    Send,
    SolvedBlock,
    TemplateError,
    TemplateProviderCore,
    parse_gbt,
)

__all__ = [
    "TD_SERVER_LIMITS",
    "BlockStore",
    "NodeState",
    "NodeSyncing",
    "TdPeer",
    "TemplatePolicyFn",
    "TemplateProviderService",
    "TpOptions",
]

log = logging.getLogger("stratumv2.tp")

TEMPLATE_DISTRIBUTION_PROTOCOL = 2
#: Core's RPC codes that mean "not ready yet" rather than "broken".
RPC_CLIENT_NOT_CONNECTED = -9
RPC_CLIENT_IN_INITIAL_DOWNLOAD = -10
RPC_IN_WARMUP = -28

#: Server limits for TD: a client may stay silent between blocks for as long as blocks take,
#: so there is no idle timeout.
TD_SERVER_LIMITS = Limits(idle_timeout=None, max_connections=1000)

#: A transaction policy applied to each GBT result before it becomes a template.
TemplatePolicyFn = Callable[[Mapping[str, Any]], Mapping[str, Any]]


class TdPeer(Protocol):
    """One client connection carrying decoded SV2 messages (Noise TCP or in-memory pipe)."""

    async def recv(self) -> Any:
        """The next message; raises (EOFError, ConnectionError...) when the peer is gone."""
        ...

    async def send(self, message: Any) -> None:
        """Send one message."""
        ...

    def close(self) -> None:
        """Close the connection (no more sends)."""
        ...


@dataclass(slots=True)
class TpOptions:
    """How the service talks to the node and paces templates."""

    zmq_hashblock: str | None = None
    refresh_interval: float = 5.0
    longpoll_timeout: float = 1800.0
    """A long poll is re-issued after this long. Keep it long: bitcoind keeps serving a long
    poll whose client gave up (holding one of its RPC threads) until a block or a mempool
    change (bitcoind answers after a mempool change plus one minute anyway)."""
    backoff_initial: float = 0.25
    backoff_max: float = 10.0
    submit_backoff_max: float = 5.0
    expected_chain: str | None = None
    """The network the user asked for (main, testnet4, signet, regtest); a node on another
    chain is reported once in the log."""


class BlockStore:
    """Found blocks on disk: ``<hash>.hex`` is the block, ``<hash>.result`` the node's answer.

    A block without a result file is pending: it is resubmitted until the node answers.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def save(self, hash_hex: str, block_hex: str) -> Path:
        """Write the block durably (temp file, fsync, rename) and return its path."""
        path = self.directory / f"{hash_hex}.hex"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(block_hex)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        with contextlib.suppress(OSError):  # make the rename itself durable (POSIX)
            fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return path

    def record_result(self, hash_hex: str, result: str | None) -> None:
        """Remember the node's definite answer (``None`` = accepted)."""
        path = self.directory / f"{hash_hex}.result"
        path.write_text("accepted\n" if result is None else f"rejected: {result}\n")

    def result(self, hash_hex: str) -> str | None:
        """The recorded answer text, or None while pending."""
        path = self.directory / f"{hash_hex}.result"
        return path.read_text().strip() if path.exists() else None

    def pending(self) -> list[tuple[str, str]]:
        """``(hash_hex, block_hex)`` of every saved block the node has not answered yet."""
        out = []
        for path in sorted(self.directory.glob("*.hex")):
            if not path.with_suffix(".result").exists():
                out.append((path.stem, path.read_text(encoding="ascii").strip()))
        return out


class NodeState:
    """Logs node reachability once per change instead of once per retry."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ok: bool | None = None
        self.reason = ""

    def up(self) -> None:
        """The node answered."""
        if self.ok is not True:
            if self.ok is False:
                log.info("node at %s is reachable again", self.url)
            self.ok = True
            self.reason = ""

    def down(self, reason: str, retry_in: float) -> None:
        """The node did not answer usefully; log when the reason changes."""
        if self.ok is not False or reason != self.reason:
            log.warning("%s; retrying with backoff (up to %.1fs)", reason, retry_in)
        self.ok = False
        self.reason = reason


class NodeSyncing(TemplateError):
    """The node is still in initial block download: its tip is not worth mining on."""


#: ``--network`` names -> the ``chain`` bitcoind reports in getblockchaininfo.
_CHAIN_NAMES = {"main": "main", "testnet4": "testnet4", "signet": "signet", "regtest": "regtest"}


def _describe_failure(url: str, exc: Exception) -> str:
    if isinstance(exc, NodeSyncing):
        return str(exc)
    if isinstance(exc, RpcError):
        if exc.code == RPC_CLIENT_IN_INITIAL_DOWNLOAD:
            return f"node at {url} is in initial block download, waiting for it to finish"
        if exc.code == RPC_CLIENT_NOT_CONNECTED:
            return f"node at {url} has no peers, waiting"
        if exc.code == RPC_IN_WARMUP:
            return f"node at {url} is starting up ({exc.message}), waiting"
        return f"node at {url} refused getblocktemplate: {exc}"
    if isinstance(exc, RpcAuthError):
        return (
            f"cannot authenticate to the node at {url}: {exc} (is it running? give "
            "--rpccookiefile, or --rpcuser and --rpcpassword)"
        )
    if isinstance(exc, MalformedTemplate):
        return f"node at {url} sent an unusable template: {exc}"
    text = str(exc)
    if "not JSON" in text or "JSON-RPC" in text:
        return f"node at {url} answered something that is not JSON-RPC: {text}"
    return f"node at {url} is unreachable: {text}"


class TemplateProviderService:
    """Runs the TP: ``await service.run()``; hand each client connection to ``serve_peer``."""

    def __init__(
        self,
        rpc: BitcoinRpc,
        core: TemplateProviderCore | None = None,
        *,
        options: TpOptions | None = None,
        block_store: BlockStore | None = None,
        policy: TemplatePolicyFn | None = None,
    ) -> None:
        self.rpc = rpc
        self.core = core or TemplateProviderCore()
        self.options = options or TpOptions()
        self.store = block_store
        self.policy = policy
        self.node = NodeState(rpc.url)
        self._peers: dict[int, _PeerLink] = {}
        self._next_client = 1
        self._issued = 0
        self._applied = 0
        self._refresh_now = asyncio.Event()
        self._timer_changed = asyncio.Event()
        self._submit_queue: asyncio.PriorityQueue[tuple[int, int, str, str]] = (
            asyncio.PriorityQueue()
        )
        self._submit_seq = 0
        self._submit_task: asyncio.Task[None] | None = None
        self.first_template = asyncio.Event()
        #: (block hash, node's answer) of the latest submissions, for tests and dashboards.
        self.submitted: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue(maxsize=1000)
        self.templates_applied = 0
        self._tips_by_poll = 0
        self._synced = False
        self._chain_warned = False

    # ---- node side -------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled: resubmit saved blocks, then follow the node."""
        if self.store is not None:
            for hash_hex, block_hex in self.store.pending():
                log.info("resubmitting saved block %s (not yet answered by the node)", hash_hex)
                self._enqueue_submit(0, hash_hex, block_hex)
        tasks = [self._refresh_loop(), self._timer_loop()]
        if self.options.zmq_hashblock:
            tasks.append(self._zmq_loop(self.options.zmq_hashblock))
        else:
            tasks.append(self._longpoll_loop())
        try:
            await asyncio.gather(*tasks)
        finally:
            await self.stop_submissions()

    async def stop_submissions(self) -> None:
        """Stop submitting (blocks not yet answered stay on disk for the next start)."""
        task, self._submit_task = self._submit_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _fetch(self, longpollid: str | None = None, trigger: str = "poll") -> None:
        """One getblocktemplate; apply the reply if no newer request was applied already."""
        self._issued += 1
        seq = self._issued
        if not self._synced:
            await self._check_node()
        # A long poll is cut by the caller at longpoll_timeout; the HTTP timeout is a backstop.
        timeout = self.options.longpoll_timeout + 30 if longpollid else None
        gbt = await self.rpc.getblocktemplate(longpollid, timeout=timeout)
        current = self.core.current
        if (
            current is not None
            and current.longpollid is not None
            and isinstance(gbt, dict)
            and gbt.get("longpollid") == current.longpollid
        ):
            # Same tip, same mempool state (bitcoind's longpollid): nothing to parse.
            self.node.up()
            return
        if self.policy is not None:
            try:
                gbt = dict(self.policy(gbt))
            except (KeyError, TypeError, ValueError) as exc:
                raise MalformedTemplate(f"policy cannot read the template: {exc!r}") from None
        template = parse_gbt(gbt, tx_cache=self.core.tx_cache())
        self.node.up()
        if longpollid:
            # A long poll returns late by design; only a lower height means it is stale.
            if current is not None and template.height < current.height:
                return
        elif seq <= self._applied:
            return  # a newer request's reply was applied already
        self._applied = max(self._applied, seq)
        self._apply(template, trigger)

    async def _check_node(self) -> None:
        """Before the first template (and after the node was lost): which chain, and is the
        node still in initial block download? (bitcoind's getblocktemplate refuses during IBD
        on mainnet only; on test networks it would serve templates on an old tip.)"""
        info = await self.rpc.getblockchaininfo()
        if not isinstance(info, dict):
            raise MalformedTemplate(f"getblockchaininfo reply is not an object: {info!r:.80}")
        chain = str(info.get("chain", "?"))
        expected = _CHAIN_NAMES.get(self.options.expected_chain or "")
        if expected is not None and chain != expected and not self._chain_warned:
            self._chain_warned = True
            log.warning(
                "node at %s is on %s but the network setting is %s; following the node",
                self.rpc.url,
                chain,
                self.options.expected_chain,
            )
        if info.get("initialblockdownload") is True and chain != "regtest":
            progress = info.get("verificationprogress")
            raise NodeSyncing(
                f"node at {self.rpc.url} is in initial block download (block "
                f"{info.get('blocks', '?')} of {info.get('headers', '?')}"
                + (f", {progress * 100:.1f}%" if isinstance(progress, int | float) else "")
                + "), waiting for it to finish"
            )
        self._synced = True

    def _apply(self, template: BlockTemplate, trigger: str = "poll") -> None:
        now = asyncio.get_running_loop().time()
        previous = self.core.current
        sends = self.core.update_template(template, now)
        self.templates_applied += 1
        if previous is None or previous.prev_hash != template.prev_hash:
            log.info(
                "new tip: template for height %d on %s, %d txs, fees %d sat",
                template.height,
                template.prev_hash_hex,
                len(template.transactions),
                template.total_fees,
            )
            self._check_zmq(previous is not None, trigger)
        self._dispatch(sends)
        self._timer_changed.set()
        self.first_template.set()

    def _check_zmq(self, had_tip: bool, trigger: str) -> None:
        """Warn when ZMQ is configured but new blocks keep being found by polling instead."""
        if not self.options.zmq_hashblock or not had_tip:
            return
        self._tips_by_poll = self._tips_by_poll + 1 if trigger == "poll" else 0
        if self._tips_by_poll == 2:
            log.warning(
                "new blocks are found by polling, not announced on ZMQ %s: is bitcoind "
                "running with -zmqpubhashblock=%s?",
                self.options.zmq_hashblock,
                self.options.zmq_hashblock,
            )

    async def _guarded(self, op: Callable[[], Awaitable[None]]) -> None:
        """Run ``op`` until it succeeds once, logging and backing off on node trouble."""
        delay = self.options.backoff_initial
        while True:
            try:
                await op()
                return
            except (RpcClientError, MalformedTemplate, TemplateError) as exc:
                if not isinstance(exc, RpcError | NodeSyncing):
                    self._synced = False  # the node may come back in another state
                self.node.down(_describe_failure(self.rpc.url, exc), self.options.backoff_max)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.options.backoff_max)

    async def _refresh_loop(self) -> None:
        while True:
            await self._guarded(self._fetch)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._refresh_now.wait(), self.options.refresh_interval)
            self._refresh_now.clear()

    async def _longpoll_loop(self) -> None:
        await self.first_template.wait()

        async def poll() -> None:
            current = self.core.current
            longpollid = current.longpollid if current is not None else None
            if longpollid is None:  # a node without long polling: the refresh loop does it
                await asyncio.sleep(self.options.refresh_interval)
                return
            try:
                async with asyncio.timeout(self.options.longpoll_timeout):
                    await self._fetch(longpollid, trigger="longpoll")
            except TimeoutError:
                return  # nothing changed for a while (a quiet node): poll again

        while True:
            await self._guarded(poll)

    async def _zmq_loop(self, endpoint: str) -> None:
        import zmq
        import zmq.asyncio

        ctx = zmq.asyncio.Context.instance()
        sock = ctx.socket(zmq.SUB)
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.setsockopt(zmq.SUBSCRIBE, b"hashblock")
        sock.connect(endpoint)
        log.info("listening for new blocks on ZMQ %s", endpoint)
        try:
            while True:
                parts = await sock.recv_multipart()
                if len(parts) >= 2 and parts[0] == b"hashblock":
                    log.debug("ZMQ hashblock %s", parts[1].hex())
                    # Fetch at once (not via the refresh loop's wait) for the lowest latency.
                    await self._guarded(lambda: self._fetch(trigger="zmq"))
        finally:
            sock.close(linger=0)

    async def _timer_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = self.core.next_timer()
            self._timer_changed.clear()
            timeout = None if due is None else max(0.0, due - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer_changed.wait(), timeout)
            self._dispatch(self.core.tick(loop.time()))

    # ---- solutions ---------------------------------------------------------------------------

    def submit_block(self, block: SolvedBlock) -> None:
        """Save ``block`` to disk, then queue it for ``submitblock`` until the node answers."""
        block_hex = block.raw.hex()
        if self.store is not None:
            path = self.store.save(block.hash_hex, block_hex)
            log.info("block %s at height %d saved to %s", block.hash_hex, block.height, path)
        if not block.meets_target:
            log.warning("block %s does not meet the target; submitting anyway", block.hash_hex)
        self._enqueue_submit(block.height, block.hash_hex, block_hex)

    def _enqueue_submit(self, height: int, hash_hex: str, block_hex: str) -> None:
        """One submission at a time (a flood of regtest blocks must not swamp the node),
        highest block first, then in the order found."""
        self._submit_seq += 1
        self._submit_queue.put_nowait((-height, self._submit_seq, hash_hex, block_hex))
        if self._submit_task is None or self._submit_task.done():
            self._submit_task = asyncio.create_task(self._submit_worker(), name="tp-submit")

    async def _submit_worker(self) -> None:
        while True:
            _, _, hash_hex, block_hex = await self._submit_queue.get()
            await self._submit(hash_hex, block_hex)

    def pending_submissions(self) -> int:
        """Blocks waiting for the node's answer."""
        return self._submit_queue.qsize()

    async def _submit(self, hash_hex: str, block_hex: str) -> None:
        delay = self.options.backoff_initial
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await self.rpc.submitblock(block_hex)
                break
            except RpcError as exc:
                # An error object (not a reason string): the node could not judge it yet.
                log.warning("submitblock %s: %s (attempt %d); retrying", hash_hex, exc, attempt)
            except RpcClientError as exc:
                log.warning(
                    "submitblock %s: node unreachable (%s), attempt %d; retrying in %.1fs",
                    hash_hex,
                    exc,
                    attempt,
                    delay,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.options.submit_backoff_max)
        if result is None:
            log.info("block %s accepted by the node", hash_hex)
        elif result == "duplicate":
            log.info("block %s already known to the node (duplicate)", hash_hex)
        elif result == "inconclusive":
            log.warning("block %s is valid but not on the node's best chain", hash_hex)
        else:
            log.error("block %s rejected by the node: %s", hash_hex, result)
        if self.store is not None:
            self.store.record_result(hash_hex, None if result == "duplicate" else result)
        self._refresh_now.set()
        if self.submitted.full():
            self.submitted.get_nowait()
        self.submitted.put_nowait((hash_hex, result))

    # ---- client side -------------------------------------------------------------------------

    async def serve_peer(self, peer: TdPeer, name: str = "client") -> None:
        """Serve one client connection until it closes (SetupConnection first)."""
        try:
            first = await peer.recv()
        except Exception as exc:
            log.info("%s left before SetupConnection: %s", name, exc)
            return
        if not isinstance(first, SetupConnection):
            log.warning("%s: first message is %s, not SetupConnection", name, type(first).__name__)
            peer.close()
            return
        if first.protocol != TEMPLATE_DISTRIBUTION_PROTOCOL:
            await peer.send(SetupConnectionError(flags=0, error_code="unsupported-protocol"))
            peer.close()
            return
        if not first.min_version <= 2 <= first.max_version:
            await peer.send(SetupConnectionError(flags=0, error_code="protocol-version-mismatch"))
            peer.close()
            return
        await peer.send(SetupConnectionSuccess(used_version=2, flags=0))
        client_id = self._next_client
        self._next_client += 1
        link = _PeerLink(peer, name)
        self._peers[client_id] = link
        self.core.add_client(client_id)
        log.info("%s connected as TD client %d", name, client_id)
        try:
            while True:
                message = await peer.recv()
                self._on_message(client_id, message)
        except Exception as exc:  # ConnectionClosed, EOFError...: the peer is gone
            log.info("TD client %d (%s) disconnected: %s", client_id, name, exc or "closed")
        finally:
            self.core.remove_client(client_id)
            self._peers.pop(client_id, None)
            await link.stop()

    def _on_message(self, client_id: int, message: Any) -> None:
        now = asyncio.get_running_loop().time()
        if isinstance(message, CoinbaseOutputConstraints | RequestTransactionData):
            self._dispatch(self.core.handle_message(client_id, message, now))
        elif isinstance(message, SubmitSolution):
            try:
                block = self.core.solve(message)
            except TemplateError as exc:
                log.error(
                    "TD client %d: solution for template %d unusable: %s",
                    client_id,
                    message.template_id,
                    exc,
                )
                return
            log.info(
                "TD client %d found block %s (template %d)",
                client_id,
                block.hash_hex,
                block.template_id,
            )
            self.submit_block(block)
        else:
            log.warning(
                "TD client %d sent unexpected %s; ignored", client_id, type(message).__name__
            )

    def _dispatch(self, sends: list[Send]) -> None:
        for send in sends:
            link = self._peers.get(send.client_id)
            if link is not None:
                link.push(send.message)

    @property
    def client_count(self) -> int:
        """Connected clients."""
        return len(self._peers)


class _PeerLink:
    """A client's outgoing queue and writer task, so one slow client never delays others."""

    def __init__(self, peer: TdPeer, name: str) -> None:
        self.peer = peer
        self.name = name
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.task = asyncio.create_task(self._write(), name=f"td-writer-{name}")

    def push(self, message: Any) -> None:
        self.queue.put_nowait(message)

    async def _write(self) -> None:
        try:
            while True:
                message = await self.queue.get()
                await self.peer.send(message)
        except Exception as exc:  # the connection closed under us
            log.info("%s: write failed: %s", self.name, exc)
            with contextlib.suppress(Exception):
                self.peer.close()

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task
        with contextlib.suppress(Exception):
            self.peer.close()
