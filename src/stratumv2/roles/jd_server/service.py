"""The asyncio pump around :class:`~stratumv2.roles.jd_server.core.JdsCore`.

* JDC connections are served by an :class:`~stratumv2.net.server.Sv2Server` (Noise);
* ``DeclareMiningJob``: the declared wtxids are looked up in the node's mempool over JSON-RPC
  (``getrawmempool true`` for wtxid -> txid, then ``getrawtransaction``; raw transactions are
  cached by wtxid) and the tip with ``getblockchaininfo``;
* blocks (``PushSolution``, or a block the embedded pool found on a custom job) are written
  to ``DIR/blocks/<height>-<hash>.hex`` first, then submitted with ``submitblock`` and
  retried until the node answers; a file is renamed ``.submitted`` (or ``.rejected``) only
  then, and files left pending are submitted again at start.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratumv2.bitcoin.hashes import hash_to_hex, hex_to_hash
from stratumv2.net.limits import Limits
from stratumv2.net.pump import Sv2Connection
from stratumv2.net.rpc import BitcoinRpc, RpcClientError, RpcError
from stratumv2.net.server import Sv2Server
from stratumv2.noise import Keypair, ResponderIdentity
from stratumv2.protocol import (
    AllocateMiningJobToken,
    DeclareMiningJob,
    Message,
    ProvideMissingTransactionsSuccess,
    PushSolution,
    SetupConnection,
)
from stratumv2.roles.jd_server.core import ChainState, JdsCore

if TYPE_CHECKING:
    from stratumv2.roles.pool.core import PoolCore
    from stratumv2.roles.pool.custom_jobs import CustomJobs

__all__ = ["BlockSubmitter", "JdsService", "embed_in_pool"]

log = logging.getLogger("stratumv2.jds")


class BlockSubmitter:
    """Saves blocks to ``directory`` and submits them to the node until it answers."""

    def __init__(self, rpc: BitcoinRpc, directory: Path, retry_interval: float = 2.0) -> None:
        self.rpc = rpc
        self.directory = directory
        self.retry_interval = retry_interval
        self.submitted = 0
        self.rejected = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._inflight: set[Path] = set()

    def submit(self, block: bytes, height: int) -> Path:
        """Save ``block`` and submit it in the background; returns the saved file."""
        from stratumv2.bitcoin.header import BlockHeader

        block_hash = hash_to_hex(BlockHeader.parse(block[:80]).hash())
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{height}-{block_hash}.hex"
        if path in self._inflight or path.with_suffix(".submitted").exists():
            return path  # the same block again (PushSolution and the pool's own share)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="ascii") as f:
            f.write(block.hex())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        log.info("block %s (height %d) saved to %s", block_hash, height, path)
        self._start(path)
        return path

    def resubmit_pending(self) -> int:
        """Submit the blocks saved but never answered (a crash or a node outage)."""
        if not self.directory.is_dir():
            return 0
        pending = sorted(self.directory.glob("*.hex"))
        for path in pending:
            self._start(path)
        return len(pending)

    def _start(self, path: Path) -> None:
        self._inflight.add(path)
        task = asyncio.get_running_loop().create_task(self._submit(path))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _submit(self, path: Path) -> None:
        data = path.read_text(encoding="ascii").strip()
        while True:
            try:
                result = await self.rpc.submitblock(data)
            except RpcError as exc:
                result = f"rpc error {exc}"
            except (RpcClientError, OSError, TimeoutError) as exc:
                log.warning("submitblock %s: node unreachable (%s); retrying", path.name, exc)
                await asyncio.sleep(self.retry_interval)
                continue
            break
        if result in (None, "duplicate", "inconclusive"):
            self.submitted += 1
            log.info("block %s submitted: %s", path.stem, result or "accepted")
            os.replace(path, path.with_suffix(".submitted"))
        else:
            self.rejected += 1
            log.error("block %s rejected by the node: %s", path.stem, result)
            os.replace(path, path.with_suffix(".rejected"))
        self._inflight.discard(path)

    async def close(self) -> None:
        """Stop retrying (the files stay for the next start)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class JdsService:
    """Runs a :class:`JdsCore` for JDC connections, against a bitcoind-compatible node."""

    def __init__(
        self,
        core: JdsCore,
        authority: Keypair | ResponderIdentity,
        rpc: BitcoinRpc,
        datadir: Path,
        *,
        limits: Limits | None = None,
    ) -> None:
        self.core = core
        self.rpc = rpc
        self.server = Sv2Server(self.serve_connection, authority, limits, name="jds")
        self.blocks = BlockSubmitter(rpc, datadir / "blocks")
        self._ids = 0
        self._raw_by_wtxid: dict[bytes, bytes] = {}
        self._ticker: asyncio.Task[None] | None = None

    @property
    def authority_public_key(self) -> str:
        """The authority public key JDCs configure (``--jds-authority-key``)."""
        return self.server.authority_public_key

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen; resubmit blocks left pending. Returns the bound address."""
        await self.server.start(host, port)
        pending = self.blocks.resubmit_pending()
        if pending:
            log.warning("resubmitting %d saved block(s)", pending)
        self._ticker = asyncio.create_task(self._expire(), name="jds-expire")
        bound = self.server.sockets[0]
        log.info("JDS listening on %s:%d", *bound)
        return bound

    async def close(self) -> None:
        """Stop serving and retrying."""
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        await self.server.close()
        await self.blocks.close()

    def submit_block(self, block: bytes, height: int) -> None:
        """A block found elsewhere (the embedded pool's custom job): save and submit it."""
        self.blocks.submit(block, height)

    async def _expire(self) -> None:
        while True:
            await asyncio.sleep(30)
            self.core.declarations.expire(time.time())

    # ---- connections ----------------------------------------------------------------

    async def serve_connection(self, conn: Sv2Connection) -> None:
        """One JDC connection (after its Noise handshake)."""
        self._ids += 1
        conn_id = self._ids
        core = self.core
        core.connection_made(conn_id)
        try:
            first = await asyncio.wait_for(conn.recv(), 10.0)
            if not isinstance(first, SetupConnection):
                conn.fail(f"{type(first).__name__} before SetupConnection")
                return
            replies, ok = core.setup(conn_id, first)
            for reply in replies:
                await conn.send(reply)
            if not ok:
                await conn.drain()
                conn.close("setup refused")
                return
            log.info("JDC %s connected", conn.peer_text)
            async for message in conn:
                for reply in await self._handle(conn_id, message):
                    await conn.send(reply)
        except TimeoutError:
            conn.fail("no SetupConnection within 10 s")
        finally:
            core.connection_lost(conn_id)
            log.info("JDC %s gone: %s", conn.peer_text, conn.close_reason)

    async def _handle(self, conn_id: int, message: Message) -> list[Message]:
        core = self.core
        now = time.time()
        if isinstance(message, AllocateMiningJobToken):
            return core.allocate(conn_id, message, now, os.urandom(16))
        if isinstance(message, DeclareMiningJob):
            try:
                known, chain = await self._lookup(message.wtxid_list)
            except (RpcClientError, OSError, TimeoutError, ValueError) as exc:
                log.error("cannot check a declaration, node unreachable: %s", exc)
                from stratumv2.protocol import DeclareMiningJobError

                return [
                    DeclareMiningJobError(
                        request_id=message.request_id,
                        error_code="internal-error",
                        error_details=str(exc).encode()[:200],
                    )
                ]
            replies = core.declare(conn_id, message, known, chain, time.time(), os.urandom(16))
            log.debug("declaration %d: %s", message.request_id, type(replies[0]).__name__)
            return replies
        if isinstance(message, ProvideMissingTransactionsSuccess):
            for raw in message.transaction_list:
                self._remember(bytes(raw))
            return core.provide(conn_id, message, now, os.urandom(16))
        if isinstance(message, PushSolution):
            solved = core.push_solution(conn_id, message)
            if solved is None:
                log.warning("PushSolution from conn %d matches no declared job", conn_id)
            else:
                self.blocks.submit(solved.data, solved.height)
            return []
        return []

    def _remember(self, raw: bytes) -> None:
        from stratumv2.bitcoin.tx import Transaction

        self._raw_by_wtxid[Transaction.parse(raw).wtxid] = raw
        if len(self._raw_by_wtxid) > 200_000:
            for key in list(self._raw_by_wtxid)[:100_000]:
                del self._raw_by_wtxid[key]

    async def _lookup(self, wtxids: tuple[bytes, ...]) -> tuple[dict[bytes, bytes], ChainState]:
        """The declared transactions the node's mempool has (by wtxid), and its tip."""
        info = await self.rpc.getblockchaininfo()
        chain = ChainState(int(info["blocks"]), hex_to_hash(str(info["bestblockhash"])))
        cache = self._raw_by_wtxid
        unknown = [w for w in wtxids if w not in cache]
        if unknown:
            mempool: dict[str, Any] = await self.rpc.call("getrawmempool", True)
            by_wtxid = {
                hex_to_hash(str(entry.get("wtxid", txid))): txid for txid, entry in mempool.items()
            }
            wanted = [by_wtxid[w] for w in unknown if w in by_wtxid]
            if wanted:
                results = await self.rpc.batch([("getrawtransaction", [t]) for t in wanted])
                for result in results:
                    if isinstance(result, str):
                        self._remember(bytes.fromhex(result))
        return {w: cache[w] for w in wtxids if w in cache}, chain


def embed_in_pool(pool_core: PoolCore, jds: JdsService) -> CustomJobs:
    """Let ``pool_core`` take ``SetCustomMiningJob`` for jobs declared to ``jds`` (shared
    declarations; blocks found on custom jobs are submitted by the JDS)."""
    from stratumv2.roles.pool.custom_jobs import CustomJobs

    custom = CustomJobs(jds.core.declarations, jds.submit_block)
    pool_core.custom_jobs = custom
    return custom
