"""The Job Declaration client's logic, sans-IO (digest 04 §C.2, §C.3; SRI Full-Template mode).

:class:`JdcCore` is a small pool for the miner's own devices whose templates come from the
miner's own Template Provider, plus the client side of two upstream links:

* downstream: a :class:`~stratumv2.roles.pool.core.PoolCore` serves the Mining protocol to
  translators, SV2 devices and ``sv2 miner`` (its job factory is replaced by one that pays
  either the pool's JDS outputs or the user's own address);
* the pool's JDS: ``AllocateMiningJobToken`` (a few tokens kept ahead), ``DeclareMiningJob``
  for each template that becomes current (transactions from ``RequestTransactionData``),
  ``ProvideMissingTransactions.Success`` when asked, ``PushSolution`` for blocks;
* the pool: an extended channel on a ``REQUIRES_WORK_SELECTION`` connection, one
  ``SetCustomMiningJob`` per declared job, and the downstream shares that meet the pool
  channel's target, mapped onto the custom job.

Extranonce layout: the pool channel's full extranonce is ``upstream prefix | local | pad``;
``local`` is the full extranonce of our downstream channels (``downstream_extranonce_size``
bytes), the upstream prefix sits at the end of every downstream job's coinbase prefix and
``pad`` zero bytes at the start of its suffix, so a downstream share *is* a pool share.

Solo fallback: when the pool or the JDS is lost or refuses our jobs, the jobs are rebuilt to
pay ``solo_script`` and the miners keep hashing on our own templates (blocks go to our TP);
when both links are usable again (after ``retry_after`` seconds for a refusal) jobs go back
to the pool's outputs. Every switch is an :class:`ModeChanged` action and is counted.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from stratumv2.bitcoin.coinbase import CoinbaseParts, parse_outputs
from stratumv2.bitcoin.header import header_hash
from stratumv2.bitcoin.target import u256_to_target
from stratumv2.bitcoin.tx import Reader, Transaction, TxOut
from stratumv2.mining.jobs import JobFactory, MiningJob, Payout, _TemplateEntry
from stratumv2.mining.vardiff import VardiffConfig
from stratumv2.protocol import (
    AllocateMiningJobToken,
    AllocateMiningJobTokenSuccess,
    DeclareMiningJob,
    DeclareMiningJobError,
    DeclareMiningJobSuccess,
    Message,
    NewTemplate,
    OpenExtendedMiningChannel,
    OpenExtendedMiningChannelSuccess,
    OpenMiningChannelError,
    ProvideMissingTransactions,
    ProvideMissingTransactionsSuccess,
    PushSolution,
    RequestTransactionDataSuccess,
    SetCustomMiningJob,
    SetCustomMiningJobError,
    SetCustomMiningJobSuccess,
    SetNewPrevHashTd,
    SetTarget,
    SetupConnection,
    SetupConnectionError,
    SetupConnectionSuccess,
    SubmitSharesExtended,
    SubmitSharesStandard,
)
from stratumv2.protocol import common as _common
from stratumv2.roles.pool.core import Action as PoolAction
from stratumv2.roles.pool.core import PoolConfig, PoolCore, SubmitBlock

__all__ = [
    "Action",
    "JdcConfig",
    "JdcCore",
    "ModeChanged",
    "RequestTxData",
    "SetConstraints",
    "ToJds",
    "ToPool",
]

STALE_CHAIN_TIP = "stale-chain-tip"


@dataclass(frozen=True, slots=True)
class ToPool:
    """Send ``message`` on the upstream mining connection."""

    message: Message


@dataclass(frozen=True, slots=True)
class ToJds:
    """Send ``message`` to the pool's JDS."""

    message: Message


@dataclass(frozen=True, slots=True)
class RequestTxData:
    """Ask our TP for the transactions of ``template_id``; feed the answer to
    :meth:`JdcCore.on_transaction_data`."""

    template_id: int


@dataclass(frozen=True, slots=True)
class SetConstraints:
    """Send ``CoinbaseOutputConstraints`` to our TP (the outputs we add to its coinbase)."""

    max_additional_size: int
    max_additional_sigops: int


@dataclass(frozen=True, slots=True)
class ModeChanged:
    """The JDC switched between ``pool`` (declared jobs) and ``solo`` (own payout)."""

    mode: Literal["pool", "solo"]
    reason: str


Action: TypeAlias = PoolAction | ToPool | ToJds | RequestTxData | SetConstraints | ModeChanged
"""What :class:`JdcCore` asks the service to do, in order (pool actions go downstream)."""


@dataclass(frozen=True, slots=True)
class JdcConfig:
    """What the JDC core needs (built from :class:`~.settings.JdcSettings`).

    ``solo_script``: ``--address``'s script (solo fallback payout). ``user_identity``: sent
    to the JDS and the pool. ``downstream_extranonce_size``: full extranonce of our
    downstream channels (``index_size`` bytes of channel index, the rest rollable).
    ``retry_after``: seconds before going back to a pool that refused our jobs
    (``return_to_pool`` False: stay solo after a refusal).
    """

    solo_script: bytes
    network: str = "regtest"
    user_identity: str = "jdc"
    pool_tag: str = ""
    miner_tag: str = "stratumv2-jdc"
    downstream_extranonce_size: int = 12
    index_size: int = 2
    tokens_ahead: int = 2
    nominal_hash_rate: float = 1e9
    retry_after: float = 10.0
    return_to_pool: bool = True
    share_batch_size: int = 1
    shares_per_minute: float = 18.0
    vardiff: VardiffConfig | None = field(default_factory=VardiffConfig)


class _JdcJobFactory(JobFactory):
    """Jobs for our downstream: the current payout, the pool's extranonce prefix in the
    coinbase prefix and ``pad`` zero bytes at the start of the suffix."""

    def __init__(self, payout: Payout, config: JdcConfig) -> None:
        super().__init__(
            payout,
            pool_tag=config.pool_tag,
            miner_tag=config.miner_tag,
            full_extranonce_size=config.downstream_extranonce_size,
        )
        self.local_size = config.downstream_extranonce_size
        self.outer = b""
        self.pad = 0

    def reconfigure(self, payout: Payout, outer: bytes, pad: int) -> None:
        """Later jobs pay ``payout`` around ``outer``/``pad`` (cached jobs are dropped)."""
        self.default_payout = payout
        self.outer = outer
        self.pad = pad
        for entry in self._templates.values():
            entry.jobs.clear()

    def job(self, template_id: int, payout: Payout | None = None) -> MiningJob:
        """The job of ``template_id`` for the current payout (the argument is ignored)."""
        return super().job(template_id, None)

    def _build(self, entry: _TemplateEntry, payout: Payout) -> MiningJob:
        local = self.full_extranonce_size
        self.full_extranonce_size = len(self.outer) + local + self.pad
        try:
            job = super()._build(entry, payout)
        finally:
            self.full_extranonce_size = local
        cb = job.coinbase
        shifted = CoinbaseParts(
            cb.prefix + self.outer, bytes(self.pad) + cb.suffix, local, cb.witness
        )
        return dataclasses.replace(job, coinbase=shifted)


def raw_coinbase(job: MiningJob, outer_size: int, pad: int) -> CoinbaseParts:
    """The coinbase of a downstream job around the pool channel's full extranonce."""
    cb = job.coinbase
    prefix = cb.prefix[: len(cb.prefix) - outer_size]
    return CoinbaseParts(prefix, cb.suffix[pad:], outer_size + cb.extranonce_size + pad, cb.witness)


class _Downstream(PoolCore):
    """The PoolCore serving our miners, with the JDC's job factory (kept across TP restarts)."""

    def __init__(self, pool_config: PoolConfig, config: JdcConfig) -> None:
        super().__init__(pool_config)
        self.jdc_config = config
        self.factory = _JdcJobFactory(self.default_payout, config)

    def on_td_reset(self) -> None:
        old = self.factory
        assert isinstance(old, _JdcJobFactory)
        new = _JdcJobFactory(old.default_payout, self.jdc_config)
        new.reconfigure(old.default_payout, old.outer, old.pad)
        self.factory = new


@dataclass(frozen=True, slots=True)
class _EarlyShare:
    share: SubmitSharesStandard | SubmitSharesExtended
    local: bytes
    prev_hash: bytes
    nbits: int
    block: bool


@dataclass(slots=True)
class _Declaration:
    template_id: int
    job: MiningJob
    coinbase: CoinbaseParts
    transactions: tuple[bytes, ...]
    prev_hash: bytes
    template_seen: float
    token: bytes = b""
    early: list[_EarlyShare] = field(default_factory=list)


@dataclass(slots=True)
class _Upstream:
    """The pool channel (once open)."""

    channel_id: int = 0
    prefix: bytes = b""
    extranonce_size: int = 0
    target: int = 0
    open: bool = False
    setup: bool = False
    sequence: int = 0


class JdcCore:
    """The sans-IO JDC (see the module docstring). Entry points return actions."""

    def __init__(self, config: JdcConfig) -> None:
        self.config = config
        pool_config = PoolConfig(
            payout_script=config.solo_script,
            network=config.network,
            mode="pool",
            pool_tag=config.pool_tag,
            share_batch_size=config.share_batch_size,
            shares_per_minute=config.shares_per_minute,
            vardiff=config.vardiff,
            full_extranonce_size=config.downstream_extranonce_size,
        )
        self.downstream = _Downstream(pool_config, config)
        # the downstream allocator: index then rollable bytes, no static prefix
        from stratumv2.mining.extranonce import ExtranonceAllocator

        self.downstream.allocator = ExtranonceAllocator(
            config.downstream_extranonce_size, index_size=config.index_size
        )
        self.solo_payout = Payout.to_script(config.solo_script)
        self.pool_payout: Payout | None = None
        self.pool_outputs: tuple[TxOut, ...] = ()
        self.mode: Literal["pool", "solo"] = "solo"
        self.upstream = _Upstream()
        self.jds_setup = False
        self.tokens: deque[bytes] = deque()
        self.token_requests = 0
        self.refused_until = 0.0
        self.refused_for_good = False
        self._request_ids = 0
        self._declarations: dict[int, _Declaration] = {}
        self._wanted: int | None = None  # template waiting for a token or its tx data
        self._redeclare_at: float | None = None
        self._template_seen: dict[int, float] = {}
        self.upstream_jobs: dict[int, tuple[MiningJob, int]] = {}
        self.latencies: list[float] = []
        self.switches: dict[str, int] = {"pool": 0, "solo": 0}
        self.shares_forwarded = 0
        self.blocks_found = 0
        self.blocks_pushed = 0
        self.declarations_refused = 0

    @property
    def factory(self) -> _JdcJobFactory:
        factory = self.downstream.factory
        assert isinstance(factory, _JdcJobFactory)
        return factory

    def _next_request_id(self) -> int:
        self._request_ids += 1
        return self._request_ids

    # ---- our Template Provider ----------------------------------------------------------

    def initial_constraints(self) -> SetConstraints:
        """``CoinbaseOutputConstraints`` before the JDS told us its outputs (a solo output)."""
        return SetConstraints(len(TxOut(0, self.config.solo_script).serialize()), 0)

    def on_new_template(self, template: NewTemplate, now: float) -> list[Action]:
        """A template from our TP: jobs downstream; declared when it is current."""
        actions: list[Action] = list(self.downstream.on_new_template(template, now))
        if not template.future_template:
            self._template_seen[template.template_id] = now
            actions.extend(self._want_declaration(template.template_id))
        self._trim_seen()
        return actions

    def on_set_new_prev_hash(self, message: SetNewPrevHashTd, now: float) -> list[Action]:
        """A new tip from our TP: downstream switches; the tip's template is declared."""
        actions: list[Action] = list(self.downstream.on_set_new_prev_hash(message, now))
        actions.extend(self.downstream.activate_pending(now))
        self.upstream_jobs.clear()
        self._template_seen[message.template_id] = now
        actions.extend(self._want_declaration(message.template_id))
        return actions

    def on_td_reset(self) -> None:
        """Our TP connection restarted (template ids start over)."""
        self.downstream.on_td_reset()
        self.upstream_jobs.clear()
        self._declarations.clear()
        self._wanted = None

    def _trim_seen(self) -> None:
        while len(self._template_seen) > 256:
            del self._template_seen[next(iter(self._template_seen))]

    def _want_declaration(self, template_id: int) -> list[Action]:
        if self.mode != "pool":
            return []
        self._wanted = template_id
        if not self.tokens:
            return self._ask_tokens()
        return [RequestTxData(template_id)]

    def on_transaction_data(self, data: RequestTransactionDataSuccess, now: float) -> list[Action]:
        """Our TP's transactions for a template we want to declare: ``DeclareMiningJob``."""
        template_id = data.template_id
        if self.mode != "pool" or template_id != self._wanted or not self.tokens:
            return []
        if template_id != self.downstream.factory.current_template_id:
            return []
        tip = self.downstream.tip
        assert tip is not None
        self._wanted = None
        factory = self.factory
        job = factory.job(template_id)
        coinbase = raw_coinbase(job, len(factory.outer), factory.pad)
        token = self.tokens.popleft()
        request_id = self._next_request_id()
        txs = tuple(bytes(t) for t in data.transaction_list)
        try:
            wtxids = tuple(Transaction.parse(t).wtxid for t in txs)
        except ValueError:
            return [ModeChanged("solo", "our TP sent an unparsable transaction")]
        self._declarations[request_id] = _Declaration(
            template_id,
            job,
            coinbase,
            txs,
            tip.prev_hash,
            self._template_seen.get(template_id, now),
            token,
        )
        while len(self._declarations) > 64:
            del self._declarations[next(iter(self._declarations))]
        declare = DeclareMiningJob(
            request_id=request_id,
            mining_job_token=token,
            version=job.version,
            coinbase_tx_prefix=coinbase.witness_prefix(),
            coinbase_tx_suffix=coinbase.witness_suffix(),
            wtxid_list=wtxids,
            excess_data=data.excess_data,
        )
        return [ToJds(declare), *self._ask_tokens()]

    # ---- the JDS --------------------------------------------------------------------------

    def jds_connected(self) -> list[Action]:
        """A Noise connection to the JDS is up: ``SetupConnection`` (Full-Template mode)."""
        self.jds_setup = False
        self.tokens.clear()
        self.token_requests = 0
        return [ToJds(_setup_connection(_common.PROTOCOL_JOB_DECLARATION, _common.DECLARE_TX_DATA))]

    def jds_lost(self, reason: str, now: float) -> list[Action]:
        """The JDS connection is gone: solo until it is back."""
        self.jds_setup = False
        self.tokens.clear()
        self.token_requests = 0
        return self._to_solo(f"JDS lost: {reason}", now)

    def _ask_tokens(self) -> list[Action]:
        if not self.jds_setup:
            return []
        wanted = self.config.tokens_ahead - len(self.tokens) - self.token_requests
        out: list[Action] = []
        for _ in range(max(0, wanted)):
            self.token_requests += 1
            out.append(
                ToJds(
                    AllocateMiningJobToken(
                        user_identifier=self.config.user_identity,
                        request_id=self._next_request_id(),
                    )
                )
            )
        return out

    def on_jds_message(self, message: Message, now: float) -> list[Action]:
        """A message from the JDS."""
        kind = type(message)
        if kind is AllocateMiningJobTokenSuccess:
            return self._on_token(message, now)  # type: ignore[arg-type]
        if kind is ProvideMissingTransactions:
            assert isinstance(message, ProvideMissingTransactions)
            declaration = self._declarations.get(message.request_id)
            if declaration is None:
                return []
            txs = declaration.transactions
            try:
                provided = tuple(txs[i] for i in message.unknown_tx_position_list)
            except IndexError:
                return self._refused("JDS asked for transactions we did not declare", now)
            return [
                ToJds(
                    ProvideMissingTransactionsSuccess(
                        request_id=message.request_id, transaction_list=provided
                    )
                )
            ]
        if kind is DeclareMiningJobSuccess:
            assert isinstance(message, DeclareMiningJobSuccess)
            return self._set_custom_job(message)
        if kind is DeclareMiningJobError:
            assert isinstance(message, DeclareMiningJobError)
            self.declarations_refused += 1
            self._declarations.pop(message.request_id, None)
            if message.error_code == STALE_CHAIN_TIP:
                self._redeclare_at = now + 0.5
                return []
            return self._refused(f"JDS refused our job: {message.error_code}", now)
        if kind is SetupConnectionSuccess:
            self.jds_setup = True
            return self._ask_tokens()
        if kind is SetupConnectionError:
            assert isinstance(message, SetupConnectionError)
            return self._refused(f"JDS refused the setup: {message.error_code}", now)
        return []

    def _on_token(self, message: AllocateMiningJobTokenSuccess, now: float) -> list[Action]:
        self.token_requests = max(0, self.token_requests - 1)
        try:
            reader = Reader(message.coinbase_tx_outputs)
            count = reader.compact_size()
            outputs = parse_outputs(reader.read(reader.remaining()), count)
        except ValueError:
            return self._refused("JDS sent unparsable coinbase outputs", now)
        if not outputs:
            return self._refused("JDS sent no coinbase outputs", now)
        self.tokens.append(message.mining_job_token)
        out: list[Action] = []
        if outputs != self.pool_outputs:
            self.pool_outputs = outputs
            weights = (1,) + (0,) * (len(outputs) - 1)
            self.pool_payout = Payout(tuple(o.script_pubkey for o in outputs), weights)
            size = sum(len(o.serialize()) for o in outputs)
            solo = len(TxOut(0, self.config.solo_script).serialize())
            out.append(SetConstraints(max(size, solo), 0))
            if self.mode == "pool":  # the pool changed its outputs: rebuild our jobs
                factory = self.factory
                factory.reconfigure(self.pool_payout, factory.outer, factory.pad)
                out.extend(self._refeed(now))
        out.extend(self._maybe_to_pool(now))
        if self.mode == "pool" and self._wanted is not None:
            out.append(RequestTxData(self._wanted))
        return out

    # ---- the pool -------------------------------------------------------------------------

    def pool_connected(self) -> list[Action]:
        """A Noise connection to the pool is up: ``SetupConnection`` with work selection."""
        self.upstream = _Upstream()
        flags = _common.REQUIRES_WORK_SELECTION | _common.REQUIRES_VERSION_ROLLING
        return [ToPool(_setup_connection(_common.PROTOCOL_MINING, flags))]

    def pool_lost(self, reason: str, now: float) -> list[Action]:
        """The pool connection is gone: solo until it is back."""
        self.upstream = _Upstream()
        self.upstream_jobs.clear()
        return self._to_solo(f"pool lost: {reason}", now)

    def on_pool_message(self, message: Message, now: float) -> list[Action]:
        """A message from the pool."""
        kind = type(message)
        up = self.upstream
        if kind is SetCustomMiningJobSuccess:
            assert isinstance(message, SetCustomMiningJobSuccess)
            declaration = self._declarations.pop(message.request_id, None)
            if declaration is None or self.mode != "pool":
                return []
            self.upstream_jobs[declaration.template_id] = (declaration.job, message.job_id)
            self.latencies.append(now - declaration.template_seen)
            if len(self.latencies) > 10_000:
                del self.latencies[:5000]
            out: list[Action] = []
            for early in declaration.early:  # found while the job was being declared
                out.extend(self._forward(early, declaration.job, message.job_id))
            return out
        if kind is SetCustomMiningJobError:
            assert isinstance(message, SetCustomMiningJobError)
            self._declarations.pop(message.request_id, None)
            self.declarations_refused += 1
            if message.error_code == STALE_CHAIN_TIP:
                self._redeclare_at = now + 0.5
                return []
            return self._refused(f"pool refused our job: {message.error_code}", now)
        if kind is SetTarget:
            assert isinstance(message, SetTarget)
            if message.channel_id == up.channel_id:
                up.target = u256_to_target(message.maximum_target)
            return []
        if kind is SetupConnectionSuccess:
            up.setup = True
            open_msg = OpenExtendedMiningChannel(
                request_id=self._next_request_id(),
                user_identity=self.config.user_identity,
                nominal_hash_rate=self.config.nominal_hash_rate,
                max_target=b"\xff" * 32,
                min_extranonce_size=self.config.downstream_extranonce_size,
            )
            return [ToPool(open_msg)]
        if kind is OpenExtendedMiningChannelSuccess:
            assert isinstance(message, OpenExtendedMiningChannelSuccess)
            if message.extranonce_size < self.config.downstream_extranonce_size:
                return self._refused("pool channel extranonce too small", now)
            up.channel_id = message.channel_id
            up.prefix = message.extranonce_prefix
            up.extranonce_size = message.extranonce_size
            up.target = u256_to_target(message.target)
            up.open = True
            return self._maybe_to_pool(now)
        if kind is SetupConnectionError or kind is OpenMiningChannelError:
            code = getattr(message, "error_code", "")
            return self._refused(f"pool refused {kind.__name__}: {code}", now)
        return []  # pool jobs, prev hashes, share acks: not ours to act on

    def _set_custom_job(self, message: DeclareMiningJobSuccess) -> list[Action]:
        declaration = self._declarations.get(message.request_id)
        tip = self.downstream.tip
        up = self.upstream
        if declaration is None or tip is None or not up.open or self.mode != "pool":
            return []
        if tip.prev_hash != declaration.prev_hash:
            self._declarations.pop(message.request_id, None)
            return []
        cb = declaration.coinbase
        custom = SetCustomMiningJob(
            channel_id=up.channel_id,
            request_id=message.request_id,
            mining_job_token=message.new_mining_job_token,
            version=declaration.job.version,
            prev_hash=tip.prev_hash,
            min_ntime=tip.min_ntime,
            nbits=tip.nbits,
            coinbase_tx_version=int.from_bytes(cb.prefix[:4], "little"),
            coinbase_prefix=cb.prefix[42:],
            coinbase_tx_input_n_sequence=int.from_bytes(cb.suffix[:4], "little"),
            coinbase_tx_outputs=cb.suffix[4:-4],
            coinbase_tx_locktime=int.from_bytes(cb.suffix[-4:], "little"),
            merkle_path=declaration.job.merkle_path,
        )
        return [ToPool(custom)]

    # ---- mode switches ----------------------------------------------------------------------

    def pool_usable(self, now: float) -> bool:
        """Pool channel open, JDS set up with a token, not in a refusal cool-down."""
        return (
            self.upstream.open
            and self.jds_setup
            and self.pool_payout is not None
            and now >= self.refused_until
            and not self.refused_for_good
        )

    def _maybe_to_pool(self, now: float) -> list[Action]:
        if self.mode == "pool" or not self.pool_usable(now):
            return []
        assert self.pool_payout is not None
        up = self.upstream
        pad = up.extranonce_size - self.config.downstream_extranonce_size
        self.factory.reconfigure(self.pool_payout, up.prefix, pad)
        self.mode = "pool"
        self.switches["pool"] += 1
        out: list[Action] = [ModeChanged("pool", "pool and JDS ready")]
        out.extend(self._refeed(now))
        current = self.downstream.factory.current_template_id
        if current is not None:
            self._template_seen[current] = now
            out.extend(self._want_declaration(current))
        return out

    def _to_solo(self, reason: str, now: float) -> list[Action]:
        self._wanted = None
        self._declarations.clear()
        self.upstream_jobs.clear()
        if self.mode == "solo":
            return []
        factory = self.factory
        factory.reconfigure(self.solo_payout, factory.outer, factory.pad)
        self.mode = "solo"
        self.switches["solo"] += 1
        return [ModeChanged("solo", reason), *self._refeed(now)]

    def _refused(self, reason: str, now: float) -> list[Action]:
        if self.config.return_to_pool:
            self.refused_until = now + self.config.retry_after
        else:
            self.refused_for_good = True
        return self._to_solo(reason, now)

    def _refeed(self, now: float) -> list[Action]:
        """Fresh jobs on the current template for every downstream channel."""
        factory = self.downstream.factory
        current = factory.current_template_id
        if current is None or factory.tip is None:
            return []
        return list(self.downstream.on_new_template(factory.template(current), now))

    # ---- downstream miners -----------------------------------------------------------------

    def downstream_connected(self, conn_id: int, address: str, now: float) -> None:
        """A miner connected (after its Noise handshake)."""
        self.downstream.connection_made(conn_id, address, now)

    def downstream_lost(self, conn_id: int, now: float) -> list[Action]:
        """A miner left."""
        return list(self.downstream.connection_lost(conn_id, now))

    def on_downstream_message(self, conn_id: int, message: Message, now: float) -> list[Action]:
        """A message from a miner; accepted shares of declared jobs also go to the pool."""
        core = self.downstream
        accepted = core.shares_accepted
        actions: list[Action] = list(core.on_connection_message(conn_id, message, now))
        if core.shares_accepted == accepted:
            return actions
        assert isinstance(message, SubmitSharesStandard | SubmitSharesExtended)
        return self._after_share(conn_id, message, actions)

    def _after_share(
        self,
        conn_id: int,
        share: SubmitSharesStandard | SubmitSharesExtended,
        actions: list[Action],
    ) -> list[Action]:
        channel = self.downstream.channel(conn_id, share.channel_id)
        cj = channel.job(share.job_id) if channel is not None else None
        tip = channel.tip if channel is not None else None
        block = any(isinstance(a, SubmitBlock) for a in actions)
        if block:
            self.blocks_found += 1
        if channel is None or cj is None or tip is None:
            return actions
        job = cj.job
        if isinstance(share, SubmitSharesExtended):
            local = channel.extranonce_prefix + share.extranonce
        else:
            local = channel.extranonce_prefix
        if self.mode != "pool":
            return actions
        declared = self.upstream_jobs.get(job.template_id or -1)
        share_info = _EarlyShare(share, local, tip.prev_hash, tip.nbits, block)
        if declared is None or (declared[0] is not job and declared[0] != job):
            # optimistic mining: the job may still be on its way to the pool
            for declaration in self._declarations.values():
                if declaration.job is job or declaration.job == job:
                    if len(declaration.early) < 64:
                        declaration.early.append(share_info)
                    break
            return actions
        actions.extend(self._forward(share_info, job, declared[1]))
        return actions

    def _forward(self, early: _EarlyShare, job: MiningJob, upstream_job_id: int) -> list[Action]:
        """A downstream share on a job the pool accepted: PushSolution for a block, and the
        share itself when it meets the pool channel's target."""
        share, local = early.share, early.local
        factory = self.factory
        up = self.upstream
        up_extranonce = local + bytes(factory.pad)
        out: list[Action] = []
        if early.block:
            self.blocks_pushed += 1
            out.append(
                ToJds(
                    PushSolution(
                        extranonce=factory.outer + up_extranonce,
                        prev_hash=early.prev_hash,
                        nonce=share.nonce,
                        ntime=share.ntime,
                        nbits=early.nbits,
                        version=share.version,
                    )
                )
            )
        digest = header_hash(
            share.version,
            early.prev_hash,
            job.merkle_root(local),
            share.ntime,
            early.nbits,
            share.nonce,
        )
        if int.from_bytes(digest, "little") <= up.target:
            up.sequence += 1
            self.shares_forwarded += 1
            out.append(
                ToPool(
                    SubmitSharesExtended(
                        channel_id=up.channel_id,
                        sequence_number=up.sequence,
                        job_id=upstream_job_id,
                        nonce=share.nonce,
                        ntime=share.ntime,
                        version=share.version,
                        extranonce=up_extranonce,
                    )
                )
            )
        return out

    # ---- timers ---------------------------------------------------------------------------

    def on_tick(self, now: float) -> list[Action]:
        """Periodic work: downstream acks/vardiff, back to the pool, re-declarations."""
        actions: list[Action] = list(self.downstream.on_tick(now))
        actions.extend(self._maybe_to_pool(now))
        if self._redeclare_at is not None and now >= self._redeclare_at:
            self._redeclare_at = None
            current = self.downstream.factory.current_template_id
            if current is not None and self.mode == "pool":
                actions.extend(self._want_declaration(current))
        return actions


def _setup_connection(protocol: int, flags: int) -> SetupConnection:
    return SetupConnection(
        protocol=protocol,
        min_version=2,
        max_version=2,
        flags=flags,
        endpoint_host="",
        endpoint_port=0,
        vendor="stratumv2",
        hardware_version="",
        firmware="",
        device_id="jdc",
    )
