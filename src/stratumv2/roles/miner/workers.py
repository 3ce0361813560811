"""CPU hashing workers: N processes scanning headers with hashlib sha256d.

Each worker owns a disjoint part of the search space: round ``r`` (``r = index, index + N,
index + 2N, ...``) fixes the extranonce (when the work has one), the version-rolling bits
and, past those, an nTime offset; the worker then scans all 2^32 nonces of that round. So
no two workers (and no two rounds) hash the same header.

The parent talks to each worker over a duplex pipe: commands go down (new work, new
target, pause, exit) and results come up (solutions, hash counts). A worker polls its pipe
between batches of nonces (a few milliseconds of work), so new work replaces old work
promptly. A worker that finds a block candidate (a hash under the work's network target)
stops hashing that work: another block on the same tip would only compete with ours (and
on regtest, where every other hash is a block, it would flood the pool). ``hashrate_limit``
(H/s for the whole pool) throttles the workers for demos.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import struct
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from stratumv2.roles.miner.core import Solution, WorkUnit

__all__ = [
    "Found",
    "HashesDone",
    "WorkerPool",
    "round_parameters",
    "scan",
]

_BATCH = 8192  # nonces between two looks at the command pipe (~20 ms here)
_REPORT_EVERY = 0.5  # seconds between hash-count reports
_HEADER = struct.Struct("<I32s32sIII")
_U32 = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class Found:
    """A worker found a header under its work's target."""

    worker: int
    solution: Solution


@dataclass(frozen=True, slots=True)
class HashesDone:
    """A worker's hash count since its last report."""

    worker: int
    hashes: int


def _deposit(value: int, mask: int) -> int:
    """Spread the low bits of ``value`` over the set bits of ``mask`` (like x86 PDEP)."""
    out = 0
    while mask and value:
        low = mask & -mask
        if value & 1:
            out |= low
        mask ^= low
        value >>= 1
    return out


def round_parameters(work: WorkUnit, round_index: int) -> tuple[bytes, int, int]:
    """The (extranonce, version, ntime) that round ``round_index`` of ``work`` hashes."""
    rest = round_index
    extranonce = b""
    if work.extranonce_size:
        space = 1 << (8 * min(work.extranonce_size, 8))
        extranonce = (rest % space).to_bytes(work.extranonce_size, "little")
        rest //= space
    version = work.version
    if work.version_mask:
        width = bin(work.version_mask).count("1")
        version |= _deposit(rest & ((1 << width) - 1), work.version_mask)
        rest >>= width
    return extranonce, version, work.ntime + rest


def scan(
    work: WorkUnit,
    target: int,
    extranonce: bytes,
    version: int,
    ntime: int,
    start: int,
    stop: int,
) -> list[tuple[int, bytes]]:
    """Hash nonces ``start..stop-1``; the (nonce, hash) pairs at or under ``target``.

    The hot loop: one preallocated header, the nonce packed in place, sha256d, a one-byte
    pre-check before the full integer comparison.
    """
    header = bytearray(
        _HEADER.pack(
            version, work.prev_hash, work.merkle_root_for(extranonce), ntime, work.nbits, 0
        )
    )
    sha256 = hashlib.sha256
    pack_nonce = _U32.pack_into
    from_bytes = int.from_bytes
    top = target >> 248
    found: list[tuple[int, bytes]] = []
    for nonce in range(start, stop):
        pack_nonce(header, 76, nonce)
        digest = sha256(sha256(header).digest()).digest()
        if digest[31] <= top and from_bytes(digest, "little") <= target:
            found.append((nonce, digest))
    return found


def _worker_main(index: int, count: int, conn: Connection, rate_limit: float | None) -> None:
    """A worker process: wait for work, scan its rounds, answer commands between batches."""
    work: WorkUnit | None = None
    target = 0
    round_index = index
    nonce = 0
    extranonce, version, ntime = b"", 0, 0
    hashes_unreported = 0
    last_report = time.monotonic()
    rate_start = last_report
    rate_hashes = 0
    batch = _BATCH if rate_limit is None else max(1, min(_BATCH, int(rate_limit / 20)))
    try:
        while True:
            # Commands: block while idle, else just look.
            while work is None or conn.poll():
                command: tuple[Any, ...] = conn.recv()
                kind = command[0]
                if kind == "work":
                    work, target = command[1], command[1].target
                    round_index, nonce = index, 0
                    extranonce, version, ntime = round_parameters(work, round_index)
                elif kind == "target":
                    if work is not None and command[1] == work.work_id:
                        target = command[2]
                elif kind == "pause":
                    work = None
                elif kind == "exit":
                    return
            if rate_limit is not None:  # one budget across jobs: new work is no free burst
                now = time.monotonic()
                ahead = rate_hashes / rate_limit - (now - rate_start)
                if ahead > 0:
                    conn.poll(ahead)  # sleep, but wake for a command
                    continue
                if ahead < -1.0:  # idle (no work) for a while: no saved-up credit
                    rate_start, rate_hashes = now, 0
            end = min(nonce + batch, 1 << 32)
            block = False
            for found_nonce, digest in scan(work, target, extranonce, version, ntime, nonce, end):
                conn.send(
                    (
                        "found",
                        Solution(work.work_id, found_nonce, ntime, version, extranonce, digest),
                    )
                )
                if int.from_bytes(digest, "little") <= work.network_target:
                    block = True  # a sibling of our own block is worth nothing: stop
                    break
            hashes_unreported += end - nonce
            rate_hashes += end - nonce
            nonce = end
            if block:
                conn.send(("hashes", hashes_unreported))
                hashes_unreported = 0
                work = None
                continue
            if nonce >= 1 << 32:
                round_index += count
                nonce = 0
                extranonce, version, ntime = round_parameters(work, round_index)
            now = time.monotonic()
            if now - last_report >= _REPORT_EVERY:
                conn.send(("hashes", hashes_unreported))
                hashes_unreported = 0
                last_report = now
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return


class WorkerPool:
    """N hashing processes fed the same :class:`WorkUnit` (disjoint rounds each).

    Use :meth:`poll` (blocking with a timeout) or the pipes in :attr:`connections` with an
    event loop's ``add_reader`` and :meth:`read`. Close with :meth:`close`.
    """

    MAX_READ = 256
    """Most results taken from one pipe per :meth:`read` (keeps an event loop responsive)."""

    def __init__(
        self, workers: int = 1, hashrate_limit: float | None = None, start_method: str = "spawn"
    ) -> None:
        if workers < 1:
            raise ValueError("need at least one worker")
        if hashrate_limit is not None and hashrate_limit <= 0:
            raise ValueError("hashrate_limit must be positive")
        self.size = workers
        self.hashrate_limit = hashrate_limit
        self._ctx = multiprocessing.get_context(start_method)
        self._processes: list[multiprocessing.process.BaseProcess] = []
        self.connections: list[Connection] = []
        self.hashes = 0
        self.work: WorkUnit | None = None
        self.dead: set[int] = set()

    def start(self) -> None:
        """Start the worker processes (idle until :meth:`set_work`)."""
        per_worker = None if self.hashrate_limit is None else self.hashrate_limit / self.size
        for index in range(self.size):
            parent, child = self._ctx.Pipe(duplex=True)
            process = self._ctx.Process(  # type: ignore[attr-defined]
                target=_worker_main,
                args=(index, self.size, child, per_worker),
                name=f"sv2-miner-worker-{index}",
                daemon=True,
            )
            process.start()
            child.close()
            self._processes.append(process)
            self.connections.append(parent)

    def _broadcast(self, command: tuple[Any, ...]) -> None:
        for conn in self.connections:
            with contextlib.suppress(BrokenPipeError, OSError):
                conn.send(command)

    def set_work(self, work: WorkUnit) -> None:
        """Every worker drops what it does and starts on ``work``."""
        self.work = work
        self._broadcast(("work", work))

    def set_target(self, target: int) -> None:
        """Change the target of the current work without restarting the scan."""
        if self.work is not None:
            self._broadcast(("target", self.work.work_id, target))

    def pause(self) -> None:
        """Stop hashing until the next :meth:`set_work`."""
        self.work = None
        self._broadcast(("pause",))

    def read(self, conn: Connection) -> list[Found | HashesDone]:
        """Everything waiting on one worker's pipe."""
        index = self.connections.index(conn)
        out: list[Found | HashesDone] = []
        try:
            while len(out) < self.MAX_READ and conn.poll():
                kind, value = conn.recv()
                if kind == "found":
                    out.append(Found(index, value))
                else:
                    self.hashes += value
                    out.append(HashesDone(index, value))
        except (EOFError, OSError):
            self.dead.add(index)
        return out

    def poll(self, timeout: float) -> list[Found | HashesDone]:
        """Wait up to ``timeout`` seconds for results from any worker."""
        out: list[Found | HashesDone] = []
        for conn in wait(self.connections, timeout):
            assert isinstance(conn, Connection)
            out.extend(self.read(conn))
        return out

    def alive(self) -> int:
        """How many worker processes are running."""
        return sum(p.is_alive() for p in self._processes)

    def close(self, timeout: float = 5.0) -> None:
        """Ask every worker to exit; terminate those that do not within ``timeout``."""
        self._broadcast(("exit",))
        deadline = time.monotonic() + timeout
        for process in self._processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.terminate()
                process.join(1.0)
        for conn in self.connections:
            conn.close()
        self._processes.clear()
        self.connections.clear()

    def __enter__(self) -> WorkerPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
