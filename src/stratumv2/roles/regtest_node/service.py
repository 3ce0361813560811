"""The regtest node as an asyncio service: chainstate, mempool, JSON-RPC, ZMQ, tx generator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratumv2.bitcoin.hashes import hash_to_hex
from stratumv2.bitcoin.tx import Transaction
from stratumv2.roles.regtest_node.chain import (
    UNEXPLAINED_REJECTION,
    Chain,
    ChainUpdate,
    PendingSubmit,
)
from stratumv2.roles.regtest_node.consensus import BlockDecodeError, ParsedBlock, parse_block
from stratumv2.roles.regtest_node.mempool import DEFAULT_MAX_FEE_RATE, Mempool, MempoolEntry
from stratumv2.roles.regtest_node.rpc_server import (
    RPC_IN_WARMUP,
    RpcDispatcher,
    RpcHttpServer,
    RpcMethodError,
)
from stratumv2.roles.regtest_node.template import (
    BlockTemplate,
    block_from_template,
    make_template,
)

log = logging.getLogger(__name__)

COOKIE_USER = "__cookie__"
THREAD_BLOCK_SIZE = 100_000
"""Blocks larger than this (bytes) are validated in a worker thread."""
DEFAULT_RPC_PORT = 18443


@dataclass(slots=True)
class NodeConfig:
    """How to run a node (flag names as bitcoind's)."""

    datadir: Path
    rpcbind: str = "127.0.0.1"
    rpcport: int = DEFAULT_RPC_PORT
    rpcuser: str | None = None
    rpcpassword: str | None = None
    zmqpubhashblock: str | None = None
    tx_rate: float = 0.0
    longpoll_mempool_delay: float = 60.0
    """A long poll returns on a mempool change only after this many seconds (bitcoind: 60)."""


class RegtestNode:
    """A Bitcoin regtest node validating with libbitcoinkernel and speaking bitcoind's RPC.

    Data lives in ``datadir/regtest`` (kernel block files and chainstate, ``.cookie``), as
    bitcoind lays it out.
    """

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.net_dir = Path(config.datadir) / "regtest"
        self.cookie_path = self.net_dir / ".cookie"
        self._chain: Chain | None = None
        self._mempool: Mempool | None = None
        self.dispatcher = RpcDispatcher()
        self._http: RpcHttpServer | None = None
        self._changed = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._zmq: Any = None
        self._zmq_context: Any = None
        self._zmq_sequence = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._chain_lock = asyncio.Lock()
        self.started_at = time.time()
        self.port = 0
        self._cookie_written = False
        self._stopping = False
        self.pending_longpolls = 0
        self.zmq_endpoint: str | None = None
        """The bound ZMQ endpoint (port 0 resolved), when publishing."""
        """Long-poll ``getblocktemplate`` calls waiting now."""

    # ---- properties ------------------------------------------------------------------------

    @property
    def chain(self) -> Chain:
        """The chainstate (after start)."""
        if self._chain is None:
            raise RuntimeError("node not started")
        return self._chain

    @property
    def mempool(self) -> Mempool:
        """The mempool (after start)."""
        if self._mempool is None:
            raise RuntimeError("node not started")
        return self._mempool

    @property
    def url(self) -> str:
        """``http://host:port`` of the JSON-RPC server."""
        host = self.config.rpcbind
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the chainstate, serve RPC, start ZMQ and the generator."""
        from stratumv2.roles.regtest_node.methods import register_methods

        self.net_dir.mkdir(parents=True, exist_ok=True)
        self.started_at = time.time()
        # The chainstate first: it takes the data directory's lock, so a second node on the
        # same directory fails here, before touching the first one's cookie.
        self._chain = await asyncio.to_thread(Chain, self.net_dir)
        try:
            credentials = self._credentials()
            register_methods(self.dispatcher, self)
            self._http = RpcHttpServer(self.dispatcher, credentials)
            self.port = await self._http.start(self.config.rpcbind, self.config.rpcport)
            self._mempool = Mempool(self._chain)
            self._chain.add_listener(self._on_chain_update)
            if self.config.zmqpubhashblock:
                self._start_zmq(self.config.zmqpubhashblock)
        except BaseException:
            await self.stop()
            raise
        self.dispatcher.warmup = None
        log.info(
            "regtest node at height %d (tip %s), data in %s",
            self.chain.height,
            hash_to_hex(self.chain.tip.hash),
            self.net_dir,
        )
        log.info("JSON-RPC listening on %s", self.url)
        if self._cookie_written:
            log.info("RPC cookie: %s", self.cookie_path)
        if self.config.tx_rate > 0:
            from stratumv2.roles.regtest_node.txgen import TxGenerator

            generator = TxGenerator(self, self.config.tx_rate)
            self._tasks.append(asyncio.create_task(generator.run(), name="txgen"))

    def _credentials(self) -> list[tuple[str, str]]:
        if self.config.rpcuser is not None or self.config.rpcpassword is not None:
            return [(self.config.rpcuser or "", self.config.rpcpassword or "")]
        secret = secrets.token_hex(32)
        tmp = self.cookie_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"{COOKIE_USER}:{secret}")
        os.replace(tmp, self.cookie_path)
        self._cookie_written = True
        return [(COOKIE_USER, secret)]

    def _remove_cookie(self) -> None:
        if self._cookie_written:
            with contextlib.suppress(OSError):
                self.cookie_path.unlink()
            self._cookie_written = False

    def _start_zmq(self, address: str) -> None:
        import zmq

        self._zmq_context = zmq.Context()
        self._zmq = self._zmq_context.socket(zmq.PUB)
        self._zmq.setsockopt(zmq.LINGER, 0)
        try:
            self._zmq.bind(address)
        except zmq.ZMQError as exc:
            raise OSError(f"cannot publish ZMQ on {address}: {exc}") from None
        endpoint = self._zmq.getsockopt(zmq.LAST_ENDPOINT)
        self.zmq_endpoint = endpoint.decode() if isinstance(endpoint, bytes) else str(endpoint)
        log.info("ZMQ hashblock publisher on %s", self.zmq_endpoint)

    async def stop(self) -> None:
        """Stop everything and flush the chainstate; safe to call twice."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self.dispatcher.warmup = "Shutting down"
        self._stopping = True
        self._changed.set()
        if self._http is not None:
            await self._http.stop()
            self._http = None
        if self._zmq is not None:
            self._zmq.close(0)
            self._zmq = None
        if self._zmq_context is not None:
            self._zmq_context.term()
            self._zmq_context = None
        if self._chain is not None:
            async with self._chain_lock:  # let a submission in progress finish
                self._chain.close()
                self._chain = None
        self._remove_cookie()
        self._stopped.set()

    def request_stop(self) -> None:
        """Ask the owner of the node (CLI or test) to stop it (the ``stop`` RPC)."""
        self._stop_requested.set()

    async def wait_stop_requested(self) -> None:
        """Return once ``stop`` was called over RPC."""
        await self._stop_requested.wait()

    # ---- events ---------------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _on_chain_update(self, update: ChainUpdate) -> None:
        if self._mempool is not None:
            self._mempool.on_chain_update(update)
        tip = self.chain.tip
        log.debug("new tip %s at height %d", hash_to_hex(tip.hash), tip.height)
        if self._zmq is not None:
            import zmq

            sequence = self._zmq_sequence.to_bytes(4, "little")
            self._zmq_sequence = (self._zmq_sequence + 1) & 0xFFFFFFFF
            with contextlib.suppress(zmq.ZMQError):
                self._zmq.send_multipart(
                    [b"hashblock", tip.hash[::-1], sequence], flags=zmq.NOBLOCK
                )
        self._notify()

    async def wait_for_template_change(self, longpollid: str, timeout: float | None) -> None:
        """Block like bitcoind's long poll: until the tip changes (at once), or the mempool
        changed and ``longpoll_mempool_delay`` passed, or ``timeout`` seconds."""
        self.pending_longpolls += 1
        try:
            await self._wait_for_change(longpollid, timeout)
        finally:
            self.pending_longpolls -= 1

    async def _wait_for_change(self, longpollid: str, timeout: float | None) -> None:
        tip_hex, seq_text = longpollid[:64], longpollid[64:]
        try:
            seq = int(seq_text)
        except ValueError:
            seq = -1
        loop = asyncio.get_running_loop()
        start = loop.time()
        mempool_deadline = start + self.config.longpoll_mempool_delay
        deadline = None if timeout is None else start + timeout
        while True:
            if self._stopping or self._chain is None:
                raise RpcMethodError(RPC_IN_WARMUP, "Shutting down")
            if hash_to_hex(self.chain.tip.hash) != tip_hex:
                return
            now = loop.time()
            if self.mempool.sequence != seq and now >= mempool_deadline:
                return
            if deadline is not None and now >= deadline:
                return
            wake = [d for d in (mempool_deadline, deadline) if d is not None]
            if self.mempool.sequence == seq:
                wake = [d for d in wake if d != mempool_deadline]
            wait = max(0.0, min(wake) - now) if wake else None
            event = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), wait)

    # ---- operations used by RPC and the generator ------------------------------------------

    def now(self) -> int:
        """Current time in seconds (the block timestamp clock)."""
        return int(time.time())

    def template(self) -> BlockTemplate:
        """A fresh block template."""
        return make_template(self.chain, self.mempool, self.now())

    async def submit_block(self, raw: bytes) -> str | None:
        """``submitblock``: None if accepted, else bitcoind's reason. Raises BlockDecodeError.

        For a large block, parsing, our checks and the kernel run in a worker thread so the
        event loop keeps serving; submissions are serialized.
        """
        now = self.now()

        def validate() -> PendingSubmit:
            block = parse_block(raw)
            if not block.txs or not block.txs[0].is_coinbase:
                raise BlockDecodeError("Block does not start with a coinbase")
            return self.chain.validate_block(block, now, raw)

        async with self._chain_lock:
            if len(raw) > THREAD_BLOCK_SIZE:
                pending = await asyncio.to_thread(validate)
            else:
                pending = validate()  # small: quicker than a trip to a worker thread
            result = self.chain.commit(pending)
        if result.reason is None:
            log.info("block %s accepted", hash_to_hex(result.block_hash))
        else:
            log.info("block %s rejected: %s", hash_to_hex(result.block_hash), result.reason)
            if result.reason == UNEXPLAINED_REJECTION:
                self._evict_suspects(pending.block)
        return result.reason

    def _evict_suspects(self, block: ParsedBlock) -> None:
        """The kernel refused a block for a reason our checks did not see: if it carried
        mempool transactions, drop them so later templates do not repeat the mistake."""
        suspects = [tx.txid for tx in block.txs[1:] if tx.txid in self.mempool]
        for txid in suspects:
            self.mempool.remove(txid)
        if suspects:
            log.warning(
                "dropped %d mempool transaction(s) from a block the kernel refused", len(suspects)
            )
            self._notify()

    def accept_transaction(
        self, tx: Transaction, max_fee_rate: int | None = DEFAULT_MAX_FEE_RATE
    ) -> MempoolEntry:
        """Add ``tx`` to the mempool (MempoolReject when refused)."""
        before = self.mempool.sequence
        entry = self.mempool.accept(tx, self.now(), max_fee_rate)
        if self.mempool.sequence != before:
            self._notify()
        return entry

    async def generate(
        self, count: int, script_pubkey: bytes, max_tries: int = 1_000_000
    ) -> list[bytes]:
        """Mine ``count`` blocks paying ``script_pubkey`` (with the mempool's transactions)."""
        hashes: list[bytes] = []
        for _ in range(count):
            async with self._chain_lock:
                block = block_from_template(self.template(), script_pubkey)
                if block.size > THREAD_BLOCK_SIZE:
                    pending = await asyncio.to_thread(self.chain.validate_block, block, self.now())
                else:
                    pending = self.chain.validate_block(block, self.now())
                result = self.chain.commit(pending)
            await asyncio.sleep(0)
            if result.reason is not None:
                raise RuntimeError(f"mined block rejected: {result.reason}")
            hashes.append(result.block_hash)
        if hashes:
            log.info(
                "mined %d block(s), tip %s at height %d",
                len(hashes),
                hash_to_hex(hashes[-1]),
                self.chain.height,
            )
        return hashes
