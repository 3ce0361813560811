"""The Job Declaration server's logic, sans-IO (digest 04 §B, §C.2; SRI Full-Template mode).

:class:`JdsCore` serves JDC connections: ``SetupConnection`` (protocol 1, ``DECLARE_TX_DATA``
required as SRI does), ``AllocateMiningJobToken`` (single-use tokens bound to the connection,
expiring after ``token_lifetime``), ``DeclareMiningJob`` (token, coinbase and chain-tip checks,
then the transactions: those the caller found in its node's mempool, and the others asked
for with ``ProvideMissingTransactions``), and ``PushSolution`` (the block rebuilt from the
connection's recent declared jobs). Every entry point takes ``now`` and, where a token is
minted, the token bytes; the caller does the I/O (mempool lookups, ``submitblock``).

Declared jobs live in a :class:`JobDeclarations` registry that the pool shares when the JDS
is embedded (``sv2 pool --jds-listen``): ``SetCustomMiningJob`` is accepted only for a token
of a declared job whose coinbase and merkle path it repeats (see
:mod:`stratumv2.roles.pool.custom_jobs`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from stratumv2.bitcoin.block import WITNESS_COMMITMENT_HEADER
from stratumv2.bitcoin.coinbase import coinbase_height, serialize_outputs
from stratumv2.bitcoin.errors import BitcoinError
from stratumv2.bitcoin.hashes import merkle_branch, merkle_root_from_branch
from stratumv2.bitcoin.header import BlockHeader
from stratumv2.bitcoin.target import bits_to_target, hash_meets_target
from stratumv2.bitcoin.tx import Transaction, TxOut, compact_size
from stratumv2.protocol import (
    AllocateMiningJobToken,
    AllocateMiningJobTokenSuccess,
    DeclareMiningJob,
    DeclareMiningJobError,
    DeclareMiningJobSuccess,
    Message,
    ProvideMissingTransactions,
    ProvideMissingTransactionsSuccess,
    PushSolution,
    SetupConnection,
    SetupConnectionError,
    SetupConnectionSuccess,
)
from stratumv2.protocol import common as _common

__all__ = [
    "MAX_BLOCK_WEIGHT",
    "ChainState",
    "DeclaredJob",
    "JdsConfig",
    "JdsCore",
    "JobDeclarations",
    "SolvedBlock",
]

MAX_BLOCK_WEIGHT = 4_000_000

# DeclareMiningJob.Error codes (SRI)
INVALID_MINING_JOB_TOKEN = "invalid-mining-job-token"
MISSING_TXS = "missing-txs"
INVALID_COINBASE_TX = "invalid-coinbase-tx"
INVALID_COINBASE_TX_INPUT = "invalid-coinbase-tx-input"
STALE_CHAIN_TIP = "stale-chain-tip"
INVALID_JOB = "invalid-job"

_COINBASE_HEAD = 4 + 2 + 1 + 36  # version, marker+flag, input count, null outpoint


@dataclass(frozen=True, slots=True)
class ChainState:
    """The JDS node's chain tip when a declaration is checked (``prev_hash`` internal order)."""

    height: int
    prev_hash: bytes


@dataclass(frozen=True, slots=True)
class DeclaredJob:
    """A job the JDS accepted: the coinbase around its ``extranonce_size``-byte extranonce
    (``DeclareMiningJob`` form, with witness) and the transactions after the coinbase."""

    token: bytes
    conn_id: int
    version: int
    coinbase_prefix: bytes
    coinbase_suffix: bytes
    extranonce_size: int
    transactions: tuple[bytes, ...]
    txids: tuple[bytes, ...]
    coinbase: Transaction
    prev_hash: bytes
    height: int
    declared_at: float
    merkle_path: tuple[bytes, ...] = field(default=())

    @property
    def script_sig_prefix(self) -> bytes:
        """scriptSig bytes before the extranonce (``SetCustomMiningJob.coinbase_prefix``)."""
        return self.coinbase_prefix[_COINBASE_HEAD + 1 :]

    @property
    def outputs_vector(self) -> bytes:
        """CompactSize-prefixed outputs (``SetCustomMiningJob.coinbase_tx_outputs``)."""
        outs = self.coinbase.outputs
        return compact_size(len(outs)) + serialize_outputs(outs)

    def coinbase_tx(self, extranonce: bytes) -> bytes:
        """The full coinbase (with witness) for a full extranonce."""
        if len(extranonce) != self.extranonce_size:
            raise ValueError(f"extranonce must be {self.extranonce_size} bytes")
        return self.coinbase_prefix + extranonce + self.coinbase_suffix

    def block(
        self, extranonce: bytes, prev_hash: bytes, ntime: int, nbits: int, nonce: int, version: int
    ) -> tuple[BlockHeader, bytes]:
        """The header and the serialized block for a solution of this job."""
        coinbase = Transaction.parse(self.coinbase_tx(extranonce))
        root = merkle_root_from_branch(coinbase.txid, self.merkle_path)
        header = BlockHeader(version, prev_hash, root, ntime, nbits, nonce)
        body = b"".join(
            (
                header.serialize(),
                compact_size(1 + len(self.transactions)),
                coinbase.serialize(),
                *self.transactions,
            )
        )
        return header, body


@dataclass(frozen=True, slots=True)
class SolvedBlock:
    """A ``PushSolution`` that completes a declared job: submit ``data`` to the node."""

    block_hash: bytes
    data: bytes
    height: int
    conn_id: int


@dataclass(slots=True)
class _Token:
    conn_id: int
    expires: float


@dataclass(slots=True)
class _Pending:
    message: DeclareMiningJob
    token: bytes
    coinbase: Transaction
    extranonce_size: int
    chain: ChainState
    transactions: list[bytes | None]
    missing: list[int]


class JobDeclarations:
    """Tokens and declared jobs, shared by the JDS and the pool it is embedded in.

    Allocated tokens are single-use and bound to the JDS connection that asked; declared-job
    tokens (``DeclareMiningJob.Success.new_mining_job_token``) are what the pool checks in
    ``SetCustomMiningJob``. Both expire after ``lifetime`` seconds.
    """

    def __init__(self, lifetime: float = 600.0, max_jobs: int = 4096) -> None:
        self.lifetime = lifetime
        self.max_jobs = max_jobs
        self._tokens: dict[bytes, _Token] = {}
        self._jobs: OrderedDict[bytes, DeclaredJob] = OrderedDict()

    def allocate(self, token: bytes, conn_id: int, now: float, per_connection: int = 64) -> None:
        """Remember a freshly allocated token for ``conn_id`` (its oldest unused tokens go
        beyond ``per_connection``)."""
        mine = [t for t, e in self._tokens.items() if e.conn_id == conn_id]
        for old in mine[: max(0, len(mine) - per_connection + 1)]:
            del self._tokens[old]
        self._tokens[token] = _Token(conn_id, now + self.lifetime)

    def take_token(self, token: bytes, conn_id: int, now: float) -> bool:
        """Use an allocated token once; False if unknown, expired or another connection's."""
        entry = self._tokens.get(token)
        if entry is None or entry.conn_id != conn_id:
            return False
        del self._tokens[token]
        return entry.expires > now

    def add_job(self, job: DeclaredJob) -> None:
        """Record a declared job under its new token."""
        self._jobs[job.token] = job
        while len(self._jobs) > self.max_jobs:
            self._jobs.popitem(last=False)

    def job(self, token: bytes, now: float) -> DeclaredJob | None:
        """The declared job of ``token`` if it has not expired."""
        job = self._jobs.get(token)
        if job is None or job.declared_at + self.lifetime <= now:
            return None
        return job

    def recent_jobs(self, conn_id: int, count: int = 8) -> list[DeclaredJob]:
        """The newest declared jobs of a connection, newest first."""
        out: list[DeclaredJob] = []
        for job in reversed(self._jobs.values()):
            if job.conn_id == conn_id:
                out.append(job)
                if len(out) >= count:
                    break
        return out

    def forget_connection(self, conn_id: int) -> None:
        """Drop the unused tokens of a closed connection (its declared jobs stay valid)."""
        for token in [t for t, e in self._tokens.items() if e.conn_id == conn_id]:
            del self._tokens[token]

    def expire(self, now: float) -> None:
        """Forget expired tokens and jobs."""
        for token in [t for t, e in self._tokens.items() if e.expires <= now]:
            del self._tokens[token]
        for token in [t for t, j in self._jobs.items() if j.declared_at + self.lifetime <= now]:
            del self._jobs[token]

    @property
    def allocated_count(self) -> int:
        """Allocated tokens not used yet."""
        return len(self._tokens)


@dataclass(frozen=True, slots=True)
class JdsConfig:
    """``coinbase_outputs``: what ``AllocateMiningJobToken.Success`` gives the JDC, the pool
    payout first (value 0: the JDC puts the template's revenue there)."""

    coinbase_outputs: tuple[TxOut, ...]
    max_pending_per_connection: int = 16


class JdsError(Exception):
    """A declaration refused; ``code`` is the ``DeclareMiningJob.Error`` code."""

    def __init__(self, code: str, details: str) -> None:
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details


class _Conn:
    __slots__ = ("pending", "setup_done")

    def __init__(self) -> None:
        self.setup_done = False
        self.pending: dict[int, _Pending] = {}


class JdsCore:
    """The sans-IO JDS. Methods return the messages to send back on that connection."""

    def __init__(self, config: JdsConfig, declarations: JobDeclarations | None = None) -> None:
        if not config.coinbase_outputs:
            raise ValueError("the JDS needs at least the pool's payout output")
        self.config = config
        self.declarations = declarations or JobDeclarations()
        self.pool_scripts = frozenset(o.script_pubkey for o in config.coinbase_outputs)
        self._outputs_vector = compact_size(len(config.coinbase_outputs)) + serialize_outputs(
            config.coinbase_outputs
        )
        self.connections: dict[int, _Conn] = {}
        self.declared = 0
        self.refused = 0
        self.missing_asked = 0

    # ---- connections ----------------------------------------------------------------

    def connection_made(self, conn_id: int) -> None:
        """A JDC finished its Noise handshake."""
        self.connections[conn_id] = _Conn()

    def connection_lost(self, conn_id: int) -> None:
        """A JDC left: its unused tokens go."""
        self.connections.pop(conn_id, None)
        self.declarations.forget_connection(conn_id)

    def is_setup(self, conn_id: int) -> bool:
        """The connection completed ``SetupConnection``."""
        conn = self.connections.get(conn_id)
        return conn is not None and conn.setup_done

    def setup(self, conn_id: int, msg: SetupConnection) -> tuple[list[Message], bool]:
        """``SetupConnection``: the reply, and whether the connection may stay open."""
        if msg.protocol != _common.PROTOCOL_JOB_DECLARATION:
            code = _common.SETUP_CONNECTION_ERROR_UNSUPPORTED_PROTOCOL
            return [SetupConnectionError(flags=0, error_code=code)], False
        if not msg.min_version <= 2 <= msg.max_version:
            code = _common.SETUP_CONNECTION_ERROR_PROTOCOL_VERSION_MISMATCH
            return [SetupConnectionError(flags=0, error_code=code)], False
        if not msg.flags & _common.DECLARE_TX_DATA:
            code = _common.SETUP_CONNECTION_ERROR_MISSING_DECLARE_TX_DATA_FLAG
            return [SetupConnectionError(flags=_common.DECLARE_TX_DATA, error_code=code)], False
        self.connections.setdefault(conn_id, _Conn()).setup_done = True
        return [SetupConnectionSuccess(used_version=2, flags=0)], True

    # ---- tokens -----------------------------------------------------------------------

    def allocate(
        self, conn_id: int, msg: AllocateMiningJobToken, now: float, token: bytes
    ) -> list[Message]:
        """``AllocateMiningJobToken``: a fresh token and the pool's coinbase outputs."""
        self.declarations.allocate(token, conn_id, now)
        return [
            AllocateMiningJobTokenSuccess(
                request_id=msg.request_id,
                mining_job_token=token,
                coinbase_tx_outputs=self._outputs_vector,
            )
        ]

    # ---- declarations -----------------------------------------------------------------

    def declare(
        self,
        conn_id: int,
        msg: DeclareMiningJob,
        known: Mapping[bytes, bytes],
        chain: ChainState,
        now: float,
        new_token: bytes,
    ) -> list[Message]:
        """``DeclareMiningJob``; ``known`` maps wtxids to raw transactions from the mempool.

        Replies ``.Success`` (job recorded under ``new_token``), ``.Error`` with the SRI
        code, or ``ProvideMissingTransactions`` for the wtxids ``known`` lacks.
        """
        conn = self.connections.get(conn_id)
        if conn is None:
            return []
        try:
            if not self.declarations.take_token(msg.mining_job_token, conn_id, now):
                raise JdsError(INVALID_MINING_JOB_TOKEN, "unknown, used or expired token")
            coinbase, size = self._check_coinbase(msg, chain)
        except JdsError as exc:
            return [self._error(msg.request_id, exc)]
        txs: list[bytes | None] = [known.get(w) for w in msg.wtxid_list]
        missing = [i for i, tx in enumerate(txs) if tx is None]
        pending = _Pending(msg, msg.mining_job_token, coinbase, size, chain, txs, missing)
        if missing:
            if len(conn.pending) >= self.config.max_pending_per_connection:
                conn.pending.pop(next(iter(conn.pending)))
            conn.pending[msg.request_id] = pending
            self.missing_asked += len(missing)
            return [
                ProvideMissingTransactions(
                    request_id=msg.request_id, unknown_tx_position_list=tuple(missing)
                )
            ]
        return [self._finish(conn_id, pending, now, new_token)]

    def provide(
        self, conn_id: int, msg: ProvideMissingTransactionsSuccess, now: float, new_token: bytes
    ) -> list[Message]:
        """``ProvideMissingTransactions.Success``: complete the waiting declaration."""
        conn = self.connections.get(conn_id)
        pending = conn.pending.pop(msg.request_id, None) if conn is not None else None
        if pending is None:
            return []
        if len(msg.transaction_list) != len(pending.missing):
            error = JdsError(MISSING_TXS, "wrong number of transactions provided")
            return [self._error(msg.request_id, error)]
        for position, raw in zip(pending.missing, msg.transaction_list, strict=True):
            try:
                tx = Transaction.parse(raw)
            except (BitcoinError, ValueError):
                return [self._error(msg.request_id, JdsError(MISSING_TXS, "unparsable tx"))]
            if tx.wtxid != pending.message.wtxid_list[position]:
                error = JdsError(MISSING_TXS, f"tx {position} does not match its wtxid")
                return [self._error(msg.request_id, error)]
            pending.transactions[position] = bytes(raw)
        return [self._finish(conn_id, pending, now, new_token)]

    def _finish(self, conn_id: int, pending: _Pending, now: float, new_token: bytes) -> Message:
        msg = pending.message
        raw_txs = tuple(t for t in pending.transactions if t is not None)
        try:
            parsed = [Transaction.parse(t) for t in raw_txs]
        except (BitcoinError, ValueError):
            return self._error(msg.request_id, JdsError(INVALID_JOB, "unparsable transaction"))
        weight = pending.coinbase.weight + sum(t.weight for t in parsed) + 4 * 80 + 4 * 3
        if weight > MAX_BLOCK_WEIGHT:
            return self._error(msg.request_id, JdsError(INVALID_JOB, f"weight {weight}"))
        if any(t.is_coinbase for t in parsed):
            return self._error(msg.request_id, JdsError(INVALID_JOB, "a second coinbase"))
        txids = tuple(t.txid for t in parsed)
        job = DeclaredJob(
            token=new_token,
            conn_id=conn_id,
            version=msg.version,
            coinbase_prefix=msg.coinbase_tx_prefix,
            coinbase_suffix=msg.coinbase_tx_suffix,
            extranonce_size=pending.extranonce_size,
            transactions=raw_txs,
            txids=txids,
            coinbase=pending.coinbase,
            prev_hash=pending.chain.prev_hash,
            height=pending.chain.height + 1,
            declared_at=now,
            merkle_path=tuple(merkle_branch(txids)),
        )
        self.declarations.add_job(job)
        self.declared += 1
        return DeclareMiningJobSuccess(request_id=msg.request_id, new_mining_job_token=new_token)

    def _error(self, request_id: int, exc: JdsError) -> DeclareMiningJobError:
        self.refused += 1
        return DeclareMiningJobError(
            request_id=request_id, error_code=exc.code, error_details=exc.details.encode()[:1000]
        )

    def _check_coinbase(self, msg: DeclareMiningJob, chain: ChainState) -> tuple[Transaction, int]:
        """Parse the declared coinbase; it must pay only the pool's scripts (the value-bearing
        outputs), carry the pool outputs first and in order, and sit at the next height."""
        prefix = msg.coinbase_tx_prefix
        if len(prefix) < _COINBASE_HEAD + 1:
            raise JdsError(INVALID_COINBASE_TX, "coinbase prefix too short")
        if prefix[4:6] != b"\x00\x01":
            raise JdsError(INVALID_COINBASE_TX, "coinbase prefix without BIP141 marker")
        if prefix[6] != 1 or prefix[7:39] != bytes(32) or prefix[39:43] != b"\xff" * 4:
            raise JdsError(INVALID_COINBASE_TX_INPUT, "not a single null-outpoint input")
        script_len = prefix[_COINBASE_HEAD]
        before = len(prefix) - _COINBASE_HEAD - 1
        size = script_len - before
        if script_len > 100 or not 0 < size <= 32:
            raise JdsError(INVALID_COINBASE_TX_INPUT, f"scriptSig {script_len}, extranonce {size}")
        try:
            coinbase = Transaction.parse(prefix + bytes(size) + msg.coinbase_tx_suffix)
        except (BitcoinError, ValueError) as exc:
            raise JdsError(INVALID_COINBASE_TX, f"coinbase does not parse: {exc}") from None
        if not coinbase.is_coinbase or len(coinbase.inputs) != 1:
            raise JdsError(INVALID_COINBASE_TX_INPUT, "not a coinbase input")
        outputs = coinbase.outputs
        ours = self.config.coinbase_outputs
        head = tuple(o.script_pubkey for o in outputs[: len(ours)])
        if head != tuple(o.script_pubkey for o in ours):
            raise JdsError(INVALID_COINBASE_TX, "the pool's outputs are not first")
        for out in outputs:
            if out.value and out.script_pubkey not in self.pool_scripts:
                raise JdsError(INVALID_COINBASE_TX, "an output pays someone else")
            if not out.value and not (
                out.script_pubkey in self.pool_scripts
                or out.script_pubkey.startswith(WITNESS_COMMITMENT_HEADER)
                or out.script_pubkey[:1] == b"\x6a"
            ):
                raise JdsError(INVALID_COINBASE_TX, "unexpected zero-value output")
        try:
            height = coinbase_height(coinbase.inputs[0].script_sig)
        except (BitcoinError, ValueError):
            raise JdsError(INVALID_COINBASE_TX_INPUT, "no BIP34 height") from None
        if height != chain.height + 1:
            raise JdsError(STALE_CHAIN_TIP, f"height {height}, our tip is {chain.height}")
        return coinbase, size

    # ---- solutions ----------------------------------------------------------------------

    def push_solution(self, conn_id: int, msg: PushSolution) -> SolvedBlock | None:
        """``PushSolution``: the block, from the newest declared job it solves (or None)."""
        target = bits_to_target(msg.nbits)
        for job in self.declarations.recent_jobs(conn_id):
            if len(msg.extranonce) != job.extranonce_size:
                continue
            try:
                header, data = job.block(
                    msg.extranonce, msg.prev_hash, msg.ntime, msg.nbits, msg.nonce, msg.version
                )
            except (BitcoinError, ValueError):
                continue
            block_hash = header.hash()
            if hash_meets_target(block_hash, target):
                return SolvedBlock(block_hash, data, job.height, conn_id)
        return None


def wtxid_map(transactions: Sequence[bytes]) -> dict[bytes, bytes]:
    """``{wtxid: raw}`` for raw transactions (tests, and the service's mempool cache)."""
    return {Transaction.parse(t).wtxid: bytes(t) for t in transactions}
