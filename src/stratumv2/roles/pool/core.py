"""The pool's logic, sans-IO: Mining protocol connections, channels, shares, vardiff, payouts.

:class:`PoolCore` is a plain object. The asyncio service feeds it what happens
(``on_new_template``, ``on_set_new_prev_hash``, ``connection_made``,
``on_connection_message``, ``connection_lost``, ``on_tick``), always with ``now``, and gets back
a list of *actions* to carry out in order:

* ``(conn_id, message)`` tuples: a message to write to that connection
  (``(conn_id, header, payload)``: the same, already encoded);
* :class:`SubmitBlock`: send ``solution`` to the Template Provider at once (it always comes
  first in the list), then store ``record``;
* :class:`StoreShares`: commit ``records`` to the share store, *then* write ``acks``
  (``SubmitShares.Success``) -- a share is acknowledged only once it is durable;
* :class:`Disconnect`: close the connection (the peer's fault; log ``reason``).

Connections follow what SRI's pool does (digest 00 §3): every connection gets a group channel
per payout; channels of a connection that did not set ``REQUIRES_STANDARD_JOBS`` join it, get
their first job (future job plus ``SetNewPrevHash``) on their own id, and later jobs once per
group. A ``REQUIRES_STANDARD_JOBS`` connection gets one ``NewMiningJob`` per channel.
Future jobs are sent as soon as a future template arrives, so a new block costs the miner
only a ``SetNewPrevHash``.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeAlias

from stratumv2.app.store import BlockRecord, ShareRecord
from stratumv2.bitcoin.address import address_to_script
from stratumv2.bitcoin.coinbase import coinbase_height
from stratumv2.bitcoin.target import (
    MAX_TARGET,
    hashrate_to_target,
    target_to_u256,
)
from stratumv2.mining.channel import Channel, ChannelConfig
from stratumv2.mining.errors import (
    INVALID_CHANNEL_ID,
    INVALID_NOMINAL_HASHRATE,
    INVALID_USER_IDENTITY,
    MAX_TARGET_OUT_OF_RANGE,
    MiningError,
    UnknownChannelError,
)
from stratumv2.mining.extended import ExtendedChannel, extended_job_message
from stratumv2.mining.extranonce import ExtranonceAllocation, ExtranonceAllocator
from stratumv2.mining.group import GroupChannel
from stratumv2.mining.jobs import ChainTip, JobFactory, MiningJob, Payout, coinbase_merkle_root
from stratumv2.mining.shares import BlockFound, Rejected, Valid
from stratumv2.mining.standard import StandardChannel
from stratumv2.mining.vardiff import Vardiff, VardiffConfig
from stratumv2.protocol import (
    CloseChannel,
    Message,
    NewMiningJob,
    NewTemplate,
    OpenExtendedMiningChannel,
    OpenExtendedMiningChannelSuccess,
    OpenMiningChannelError,
    OpenStandardMiningChannel,
    OpenStandardMiningChannelSuccess,
    SetNewPrevHashMining,
    SetNewPrevHashTd,
    SetupConnection,
    SetupConnectionError,
    SetupConnectionSuccess,
    SubmitSharesError,
    SubmitSharesExtended,
    SubmitSharesStandard,
    SubmitSharesSuccess,
    SubmitSolution,
    UpdateChannel,
    UpdateChannelError,
)
from stratumv2.protocol import common as _common
from stratumv2.protocol import mining as _mining
from stratumv2.protocol.framing import encode_header

if TYPE_CHECKING:
    from stratumv2.roles.pool.custom_jobs import CustomJobs

__all__ = [
    "RATE_LIMITED",
    "Action",
    "Disconnect",
    "PoolConfig",
    "PoolCore",
    "ShareRow",
    "StoreShares",
    "SubmitBlock",
    "parse_user_identity",
]

RATE_LIMITED = "rate-limited"
"""Our ``SubmitShares.Error`` code for a share refused by the per-connection rate limit
(error codes are implementation-defined, spec 3.5; SRI has no rate limit)."""

SUPPORTED_VERSION = 2
_CLIENT_FLAGS = (
    _common.REQUIRES_STANDARD_JOBS
    | _common.REQUIRES_WORK_SELECTION
    | _common.REQUIRES_VERSION_ROLLING
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class SubmitBlock:
    """A share met the network target: send ``solution`` to the TP now, then store ``record``."""

    solution: SubmitSolution
    record: BlockRecord
    conn_id: int
    channel_id: int


@dataclass(frozen=True, slots=True)
class RecordBlock:
    """A block found on a custom job, already on its way to the node through the embedded
    JDS: store ``record`` (no SubmitSolution: the TP never saw that template)."""

    record: BlockRecord


ShareRow: TypeAlias = tuple[
    float, str, str, float, int, int, float | None, bytes | None, bool, str | None
]
"""A share for the store as a plain tuple, in :class:`~stratumv2.app.store.ShareRecord`'s
field order (a tuple costs a tenth of a frozen dataclass on the share path)."""


@dataclass(frozen=True, slots=True)
class StoreShares:
    """Commit ``records``; only after the commit, send each ``(conn_id, ack)`` in ``acks``."""

    records: tuple[ShareRow, ...]
    acks: tuple[tuple[int, SubmitSharesSuccess], ...] = ()

    def share_records(self) -> list[ShareRecord]:
        """``records`` as the store's :class:`~stratumv2.app.store.ShareRecord` objects."""
        return [ShareRecord(*row) for row in self.records]


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Close ``conn_id``: it broke the protocol or the limits (``reason`` is for the log)."""

    conn_id: int
    reason: str


Action: TypeAlias = (
    tuple[int, Message]
    | tuple[int, bytes, bytes]
    | SubmitBlock
    | RecordBlock
    | StoreShares
    | Disconnect
)
"""What :class:`PoolCore` asks the service to do; see the module docstring.
``(conn_id, header, payload)`` is a message already encoded (6-byte header, payload)."""

_U32X2 = struct.Struct("<II")
_TICK_SLICES = 4
_MAX_WAITING_OPENS = 64
_SNPH_HEADER = encode_header(0, SetNewPrevHashMining.MSG_TYPE, 48, True)
# NewMiningJob: channel_id, job_id, OPTION[u32] min_ntime (flag byte, value), version, root
_NEW_JOB_FUTURE = struct.Struct("<IIBI32s")
_NEW_JOB_ACTIVE = struct.Struct("<IIBII32s")
_NEW_JOB_FUTURE_HEADER = encode_header(0, NewMiningJob.MSG_TYPE, _NEW_JOB_FUTURE.size, True)
_NEW_JOB_ACTIVE_HEADER = encode_header(0, NewMiningJob.MSG_TYPE, _NEW_JOB_ACTIVE.size, True)


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """What the pool core needs to know (built from :class:`~.settings.PoolSettings`).

    ``payout_script`` is ``--address``'s script. In ``solo`` mode a user identity whose first
    part (before ``.``) is an address of ``network`` is paid instead (address-as-username).
    ``vardiff`` None fixes each channel's target from its nominal hashrate. ``share_rate`` /
    ``share_burst``: per-connection token bucket for channel messages; past the burst a
    message is refused with ``rate-limited``, and after ``flood_disconnect`` refusals (counted
    until the bucket is full again) the connection is dropped. ``ack_interval``: seconds
    after which an incomplete ``SubmitShares.Success`` batch is flushed by
    :meth:`PoolCore.on_tick`.
    """

    payout_script: bytes
    network: str = "regtest"
    mode: Literal["solo", "pool"] = "solo"
    pool_tag: str = "stratumv2"
    share_batch_size: int = 10
    shares_per_minute: float = 18.0
    vardiff: VardiffConfig | None = field(default_factory=VardiffConfig)
    full_extranonce_size: int = 20
    server_id: int = 0
    max_past_jobs: int = 16
    share_rate: float = 10_000.0
    share_burst: float = 20_000.0
    flood_disconnect: int = 1000
    ack_interval: float = 2.0
    max_channels_per_connection: int = 1024

    def channel_config(self) -> ChannelConfig:
        """Settings every channel gets."""
        return ChannelConfig(
            share_batch_size=self.share_batch_size, max_past_jobs=self.max_past_jobs
        )


def parse_user_identity(identity: str) -> tuple[str, str]:
    """Split ``user.worker`` (the worker part may be empty) into ``(user, worker)``."""
    user, _, worker = identity.partition(".")
    return user, worker


class _ChannelState:
    """What the pool keeps per channel beside the mining core's channel."""

    __slots__ = ("channel", "group", "records", "user", "vardiff", "worker")

    def __init__(self, channel: Channel, user: str, worker: str, vardiff: Vardiff | None) -> None:
        self.channel = channel
        self.user = user
        self.worker = worker
        self.vardiff = vardiff
        self.group: GroupChannel | None = None


class _Connection:
    """One downstream connection's state."""

    __slots__ = (
        "address",
        "channels",
        "flags",
        "groups",
        "id",
        "next_id",
        "refused",
        "setup_done",
        "standard_only",
        "tokens",
        "tokens_at",
        "waiting_opens",
    )

    def __init__(self, conn_id: int, address: str, now: float, burst: float) -> None:
        self.id = conn_id
        self.address = address
        self.setup_done = False
        self.flags = 0
        self.standard_only = False
        self.channels: dict[int, _ChannelState] = {}
        self.groups: dict[Payout, GroupChannel] = {}
        self.next_id = 0
        self.tokens = burst
        self.tokens_at = now
        self.refused = 0
        self.waiting_opens: list[OpenStandardMiningChannel | OpenExtendedMiningChannel] = []

    def new_id(self) -> int:
        """A channel or group id unique on this connection (SRI: a per-connection counter)."""
        self.next_id += 1
        return self.next_id


class PoolCore:
    """The sans-IO pool (see the module docstring for the actions it returns)."""

    def __init__(self, config: PoolConfig) -> None:
        self.config = config
        self.default_payout = Payout.to_script(config.payout_script)
        self.factory = JobFactory(
            self.default_payout,
            pool_tag=config.pool_tag,
            full_extranonce_size=config.full_extranonce_size,
        )
        static = bytes([config.server_id]) if config.server_id else b""
        self.allocator = ExtranonceAllocator(
            config.full_extranonce_size, static_prefix=static, index_size=4
        )
        self.channel_config = config.channel_config()
        self.connections: dict[int, _Connection] = {}
        self._pending_records: list[ShareRow] = []
        # prefixes replaced by SetExtranoncePrefix: [allocation, chain tips left before free]
        self._retired_prefixes: list[tuple[ExtranonceAllocation, int]] = []
        self._pending_activation: tuple[ChainTip, list[GroupChannel], list[Channel]] | None = None
        self._last_flush: float | None = None
        self._tick_count = 0
        self.shares_accepted = 0
        self.shares_rejected = 0
        self.blocks_found = 0
        self.custom_jobs: CustomJobs | None = None  # work selection (JDC), set with a JDS

    # ---- Template Distribution ---------------------------------------------------------

    @property
    def tip(self) -> ChainTip | None:
        """The current chain tip (None before the first ``SetNewPrevHash``)."""
        return self.factory.tip

    def on_td_reset(self) -> None:
        """The TP connection restarted: its template ids start over, forget the old ones."""
        payout = self.default_payout
        self.factory = JobFactory(
            payout,
            pool_tag=self.config.pool_tag,
            full_extranonce_size=self.config.full_extranonce_size,
        )

    def on_new_template(self, template: NewTemplate, now: float) -> list[Action]:
        """A template from the TP: a job for every group and every standalone channel.

        A future template gives future jobs (activated by the next ``SetNewPrevHash``); a
        template on the current tip gives active jobs that replace the current ones.
        """
        self.activate_pending(now)
        self.factory.on_new_template(template)
        future = self.factory.is_future(template.template_id)
        if not future and self.factory.tip is None:
            return []
        out: list[Action] = []
        template_id = template.template_id
        job_for = self.factory.job
        for conn in self.connections.values():
            if conn.flags & _common.REQUIRES_WORK_SELECTION:
                continue  # custom jobs only
            cid = conn.id
            for group in conn.groups.values():
                if group.members:
                    out.append(
                        (cid, group.new_job(job_for(template_id, group.payout), future, now))
                    )
            for state in conn.channels.values():
                if state.group is None:
                    channel = state.channel
                    job = job_for(template_id, channel.payout)
                    if type(channel) is StandardChannel:
                        header, payload = _standard_job_frame(channel, job, future, now)
                        out.append((cid, header, payload))
                    else:
                        out.append((cid, channel.new_job(job, future, now)))  # type: ignore[attr-defined]
        return out

    def on_set_new_prev_hash(self, message: SetNewPrevHashTd, now: float) -> list[Action]:
        """A new chain tip: one ``SetNewPrevHash`` per group and per standalone channel.

        Fast path (the network target did not change): the messages are returned at once as
        pre-encoded frames and the channels are switched to the new tip by
        :meth:`activate_pending` -- which the service calls right after writing them, and
        which every other entry point applies first. A target change takes the slow path,
        so that each ``SetTarget`` precedes its ``SetNewPrevHash``.
        """
        self.activate_pending(now)
        old = self.factory.tip
        tip = self.factory.on_set_new_prev_hash(message)
        self.allocator.on_new_prev_hash()
        if self._retired_prefixes:
            self._age_retired_prefixes()
        if old is None or old.nbits != tip.nbits:
            return self._activate_all(tip, now)
        tid = tip.template_id
        tail = tip.prev_hash + _U32X2.pack(tip.min_ntime, tip.nbits)
        pack = _U32X2.pack
        out: list[Action] = []
        groups: list[GroupChannel] = []
        channels: list[Channel] = []
        for conn in self.connections.values():
            if conn.flags & _common.REQUIRES_WORK_SELECTION:
                continue  # custom jobs only
            cid = conn.id
            for group in conn.groups.values():
                if not group.members:
                    continue
                job_id = group.future_job_id(tid)
                if job_id is None:  # created after the future template: the slow way
                    job = self.factory.job(tid, group.payout)
                    out.append((cid, group.new_job(job, True, now)))
                    for msg in group.on_new_prev_hash(tip):
                        out.append((cid, msg))
                    continue
                out.append((cid, _SNPH_HEADER, pack(group.group_channel_id, job_id) + tail))
                groups.append(group)
            for state in conn.channels.values():
                if state.group is not None:
                    continue
                channel = state.channel
                job_id = channel.future_job_id(tid)
                if job_id is None:  # opened after the future template
                    job = self.factory.job(tid, channel.payout)
                    out.append((cid, channel.new_job(job, True, now)))  # type: ignore[attr-defined]
                    for msg in channel.on_new_prev_hash(tip):
                        out.append((cid, msg))
                    continue
                out.append((cid, _SNPH_HEADER, pack(channel.channel_id, job_id) + tail))
                channels.append(channel)
        self._pending_activation = (tip, groups, channels)
        return out

    def activate_pending(self, now: float) -> list[Action]:
        """Switch the channels to the tip whose ``SetNewPrevHash`` frames were just sent."""
        pending, self._pending_activation = self._pending_activation, None
        if pending is None:
            return []
        tip, groups, channels = pending
        for group in groups:
            group.on_new_prev_hash(tip)  # same target: only the (sent) SetNewPrevHash
        for channel in channels:
            channel.on_new_prev_hash(tip)
        return []

    def _activate_all(self, tip: ChainTip, now: float) -> list[Action]:
        out: list[Action] = []
        for conn in self.connections.values():
            if conn.flags & _common.REQUIRES_WORK_SELECTION:
                continue  # custom jobs only
            cid = conn.id
            for group in conn.groups.values():
                if group.members:
                    if group.future_job_id(tip.template_id) is None:
                        job = self.factory.job(tip.template_id, group.payout)
                        out.append((cid, group.new_job(job, True, now)))
                    for msg in group.on_new_prev_hash(tip):
                        out.append((cid, msg))
            for state in conn.channels.values():
                channel = state.channel
                if state.group is None:
                    if channel.future_job_id(tip.template_id) is None:
                        job = self.factory.job(tip.template_id, channel.payout)
                        out.append((cid, channel.new_job(job, True, now)))  # type: ignore[attr-defined]
                    for msg in channel.on_new_prev_hash(tip):
                        out.append((cid, msg))
                if state.vardiff is not None:
                    state.vardiff.set_network_target(tip.network_target, now)
        for conn in list(self.connections.values()):
            waiting, conn.waiting_opens = conn.waiting_opens, []
            for request in waiting:
                out.extend(self._open(conn, request, now))
        return out

    # ---- extranonce prefixes -----------------------------------------------------------

    def set_extranonce_prefix(self, conn_id: int, channel_id: int, now: float) -> list[Action]:
        """Move a channel to a fresh extranonce prefix: ``SetExtranoncePrefix``, then a job.

        For the operator (or whatever re-lays the pool's extranonce space, e.g. to move a
        channel off a prefix range): the channel gets a new prefix of the same sizes and, when
        it mines template jobs, a new active job built on that prefix, so the miner switches
        at once. Jobs sent before keep the old prefix (spec: the new one applies to later
        jobs), including future jobs that the next ``SetNewPrevHash`` activates; so the old
        prefix goes back to the allocator only at the chain tip after that (and is reusable
        one tip later still). Raises :class:`UnknownChannelError` for an unknown channel and
        :class:`~stratumv2.mining.errors.ExtranonceExhausted` when no prefix is free.
        """
        self.activate_pending(now)
        conn = self.connections.get(conn_id)
        state = conn.channels.get(channel_id) if conn is not None else None
        if conn is None or state is None:
            raise UnknownChannelError(f"no channel {channel_id} on connection {conn_id}")
        channel = state.channel
        old = channel.allocation
        if isinstance(channel, ExtendedChannel):
            new = self.allocator.allocate_extended(old.size)
        else:
            new = self.allocator.allocate_standard()
        try:
            message = channel.set_extranonce_prefix(new)
        except ValueError:
            self.allocator.free(new)
            raise
        self._retired_prefixes.append((old, 2))
        out: list[Action] = [(conn_id, message)]
        if channel.tip is not None and not conn.flags & _common.REQUIRES_WORK_SELECTION:
            job = self.factory.current_job(channel.payout)
            out.append((conn_id, channel.new_job(job, False, now)))  # type: ignore[attr-defined]
        return out

    def _age_retired_prefixes(self) -> None:
        """A chain tip passed: free the replaced prefixes no live job can use any more."""
        keep: list[tuple[ExtranonceAllocation, int]] = []
        for allocation, tips_left in self._retired_prefixes:
            if tips_left <= 1:
                self.allocator.free(allocation)
            else:
                keep.append((allocation, tips_left - 1))
        self._retired_prefixes = keep

    # ---- connections -------------------------------------------------------------------

    def connection_made(self, conn_id: int, address: str, now: float) -> None:
        """A connection finished its Noise handshake; ``address`` is for logs."""
        self.connections[conn_id] = _Connection(conn_id, address, now, self.config.share_burst)
        if self._last_flush is None:
            self._last_flush = now

    def connection_lost(self, conn_id: int, now: float) -> list[Action]:
        """A connection closed: free its channels; store what its shares left pending."""
        conn = self.connections.pop(conn_id, None)
        if conn is not None:
            for state in conn.channels.values():
                self.allocator.free(state.channel.allocation)
        return []

    def on_connection_message(self, conn_id: int, message: Message, now: float) -> list[Action]:
        """A message from a downstream connection; the actions it causes."""
        if self._pending_activation is not None:
            self.activate_pending(now)
        conn = self.connections.get(conn_id)
        if conn is None:
            return []
        kind = type(message)
        if not conn.setup_done:
            if kind is SetupConnection:
                return self._setup(conn, message)  # type: ignore[arg-type]
            return [Disconnect(conn_id, f"{kind.__name__} before SetupConnection")]
        # token bucket: channel messages cost one token each
        tokens = conn.tokens + (now - conn.tokens_at) * self.config.share_rate
        conn.tokens_at = now
        burst = self.config.share_burst
        if tokens >= burst:
            tokens = burst
            conn.refused = 0  # a full bucket again: the client calmed down
        conn.tokens = tokens
        if tokens < 1.0:
            return self._refuse_flood(conn, message)
        conn.tokens = tokens - 1.0
        if self.custom_jobs is not None and conn.flags & _common.REQUIRES_WORK_SELECTION:
            handled = self.custom_jobs.on_message(self, conn, message, now)
            if handled is not None:
                return handled
        if kind is SubmitSharesStandard or kind is SubmitSharesExtended:
            return self._share(conn, message, now)  # type: ignore[arg-type]
        if kind is OpenStandardMiningChannel:
            return self._open(conn, message, now)  # type: ignore[arg-type]
        if kind is OpenExtendedMiningChannel:
            return self._open(conn, message, now)  # type: ignore[arg-type]
        if kind is UpdateChannel:
            return self._update(conn, message, now)  # type: ignore[arg-type]
        if kind is CloseChannel:
            return self._close_channel(conn, message)  # type: ignore[arg-type]
        if kind is SetupConnection:
            return [Disconnect(conn_id, "second SetupConnection")]
        return [Disconnect(conn_id, f"unexpected {kind.__name__} from a mining client")]

    def _refuse_flood(self, conn: _Connection, message: Message) -> list[Action]:
        conn.refused += 1
        if conn.refused > self.config.flood_disconnect:
            return [Disconnect(conn.id, f"message flood ({conn.refused} over the rate limit)")]
        if isinstance(message, SubmitSharesStandard | SubmitSharesExtended):
            self.shares_rejected += 1
            return [
                (
                    conn.id,
                    SubmitSharesError(
                        channel_id=message.channel_id,
                        sequence_number=message.sequence_number,
                        error_code=RATE_LIMITED,
                    ),
                )
            ]
        return []

    # ---- SetupConnection ---------------------------------------------------------------

    def _setup(self, conn: _Connection, msg: SetupConnection) -> list[Action]:
        cid = conn.id
        if msg.protocol != _common.PROTOCOL_MINING:
            error = SetupConnectionError(
                flags=0, error_code=_common.SETUP_CONNECTION_ERROR_UNSUPPORTED_PROTOCOL
            )
            return [(cid, error), Disconnect(cid, f"unsupported protocol {msg.protocol}")]
        if not msg.min_version <= SUPPORTED_VERSION <= msg.max_version:
            error = SetupConnectionError(
                flags=0, error_code=_common.SETUP_CONNECTION_ERROR_PROTOCOL_VERSION_MISMATCH
            )
            return [
                (cid, error),
                Disconnect(cid, f"versions {msg.min_version}..{msg.max_version} exclude 2"),
            ]
        unsupported = msg.flags & ~_CLIENT_FLAGS
        if self.custom_jobs is None:  # work selection needs a JDS (custom_jobs.py)
            unsupported |= msg.flags & _common.REQUIRES_WORK_SELECTION
        if unsupported:
            error = SetupConnectionError(
                flags=unsupported,
                error_code=_common.SETUP_CONNECTION_ERROR_UNSUPPORTED_FEATURE_FLAGS,
            )
            return [(cid, error), Disconnect(cid, f"unsupported flags {unsupported:#x}")]
        conn.setup_done = True
        conn.flags = msg.flags
        conn.standard_only = bool(msg.flags & _common.REQUIRES_STANDARD_JOBS)
        return [(cid, SetupConnectionSuccess(used_version=SUPPORTED_VERSION, flags=0))]

    # ---- channels ----------------------------------------------------------------------

    def _payout_for(self, user: str) -> Payout:
        if self.config.mode == "solo" and user:
            try:
                return Payout.to_script(address_to_script(user, self.config.network))
            except ValueError:
                pass
        return self.default_payout

    def _open(
        self,
        conn: _Connection,
        msg: OpenStandardMiningChannel | OpenExtendedMiningChannel,
        now: float,
    ) -> list[Action]:
        cid = conn.id
        extended = type(msg) is OpenExtendedMiningChannel

        def refuse(code: str) -> list[Action]:
            return [(cid, OpenMiningChannelError(request_id=msg.request_id, error_code=code))]

        identity = msg.user_identity
        if not identity or _CONTROL.search(identity):
            return refuse(INVALID_USER_IDENTITY)
        hashrate = msg.nominal_hash_rate
        if not math.isfinite(hashrate) or hashrate < 0:
            return refuse(INVALID_NOMINAL_HASHRATE)
        if extended and conn.standard_only:
            return refuse(
                _mining.OPEN_CHANNEL_ERROR_EXTENDED_CHANNELS_NOT_SUPPORTED_FOR_STANDARD_JOBS
            )
        tip = self.factory.tip
        if tip is None or self.factory.current_template_id is None:
            if len(conn.waiting_opens) >= _MAX_WAITING_OPENS:
                return refuse("no-template-yet")
            conn.waiting_opens.append(msg)  # answered at the first chain tip
            return []
        max_target = int.from_bytes(msg.max_target, "little")
        if max_target < tip.network_target:
            return refuse(MAX_TARGET_OUT_OF_RANGE)
        if len(conn.channels) >= self.config.max_channels_per_connection:
            return refuse(_mining.OPEN_CHANNEL_ERROR_CHANNEL_CAPACITY_EXHAUSTED)
        user, worker = parse_user_identity(identity)
        payout = self._payout_for(user)
        vardiff: Vardiff | None = None
        if self.config.vardiff is not None:
            vardiff = Vardiff(self.config.vardiff, hashrate, now, tip.network_target)
            requested = vardiff.target
        else:
            requested = (
                hashrate_to_target(hashrate, self.config.shares_per_minute)
                if hashrate > 0
                else MAX_TARGET
            )
        group: GroupChannel | None = None
        if not conn.standard_only:
            group = conn.groups.get(payout)
        channel_id = conn.new_id()
        if group is None and not conn.standard_only:
            group = GroupChannel(conn.new_id(), self.allocator.full_size, payout)
            conn.groups[payout] = group
        job_ids = group.job_ids if group is not None else None
        try:
            if extended:
                assert isinstance(msg, OpenExtendedMiningChannel)
                allocation = self.allocator.allocate_extended(msg.min_extranonce_size)
                channel: Channel = ExtendedChannel(
                    channel_id,
                    identity,
                    allocation,
                    requested_target=requested,
                    max_target=max_target,
                    nominal_hashrate=hashrate,
                    network_target=tip.network_target,
                    payout=payout,
                    job_ids=job_ids,
                    config=self.channel_config,
                )
            else:
                allocation = self.allocator.allocate_standard()
                channel = StandardChannel(
                    channel_id,
                    identity,
                    allocation,
                    requested_target=requested,
                    max_target=max_target,
                    nominal_hashrate=hashrate,
                    network_target=tip.network_target,
                    payout=payout,
                    job_ids=job_ids,
                    config=self.channel_config,
                )
        except MiningError as exc:
            return refuse(exc.error_code)
        state = _ChannelState(channel, user, worker, vardiff)
        conn.channels[channel_id] = state
        target = target_to_u256(channel.target)
        group_id = group.group_channel_id if group is not None else 0
        out: list[Action] = []
        if isinstance(channel, ExtendedChannel):
            out.append(
                (
                    cid,
                    OpenExtendedMiningChannelSuccess(
                        request_id=msg.request_id,
                        channel_id=channel_id,
                        target=target,
                        extranonce_size=channel.extranonce_size,
                        extranonce_prefix=channel.extranonce_prefix,
                        group_channel_id=group_id,
                    ),
                )
            )
        else:
            out.append(
                (
                    cid,
                    OpenStandardMiningChannelSuccess(
                        request_id=msg.request_id,
                        channel_id=channel_id,
                        target=target,
                        extranonce_prefix=channel.extranonce_prefix,
                        group_channel_id=group_id,
                    ),
                )
            )
        # first job: a future job on the channel's own id, activated at once
        job = self.factory.current_job(payout)
        first = channel.new_job(job, True, now)  # type: ignore[attr-defined]
        out.append((cid, first))
        for m in channel.on_new_prev_hash(_tip_for(tip, job)):
            out.append((cid, m))
        if group is not None:
            group.add_member(channel)
            state.group = group
            # group future jobs not seen by this channel yet: send them on its own id
            for job_id, pending in group.future_jobs():
                out.append((cid, _job_message(channel, job_id, pending)))
        return out

    def _update(self, conn: _Connection, msg: UpdateChannel, now: float) -> list[Action]:
        cid = conn.id
        state = conn.channels.get(msg.channel_id)
        if state is None:
            return [
                (
                    cid,
                    UpdateChannelError(
                        channel_id=msg.channel_id,
                        error_code=_mining.UPDATE_CHANNEL_ERROR_INVALID_CHANNEL_ID,
                    ),
                )
            ]
        hashrate = msg.nominal_hash_rate
        if not math.isfinite(hashrate) or hashrate < 0:
            return [
                (
                    cid,
                    UpdateChannelError(
                        channel_id=msg.channel_id, error_code=INVALID_NOMINAL_HASHRATE
                    ),
                )
            ]
        channel = state.channel
        channel.nominal_hashrate = hashrate
        requested = channel.requested_target
        if state.vardiff is not None:
            if hashrate > 0:
                state.vardiff.set_hashrate(hashrate, now)
            requested = state.vardiff.target
        elif hashrate > 0:
            requested = hashrate_to_target(hashrate, self.config.shares_per_minute)
        set_target = channel.set_target(requested, int.from_bytes(msg.maximum_target, "little"))
        return [(cid, set_target)] if set_target is not None else []

    def _close_channel(self, conn: _Connection, msg: CloseChannel) -> list[Action]:
        ids = [msg.channel_id]
        for group in conn.groups.values():
            if group.group_channel_id == msg.channel_id:
                ids = list(group.members)
        for channel_id in ids:
            state = conn.channels.pop(channel_id, None)
            if state is None:
                continue
            if state.group is not None:
                state.group.remove_member(channel_id)
            self.allocator.free(state.channel.allocation)
        return []

    # ---- shares ------------------------------------------------------------------------

    def _share(
        self, conn: _Connection, msg: SubmitSharesStandard | SubmitSharesExtended, now: float
    ) -> list[Action]:
        cid = conn.id
        state = conn.channels.get(msg.channel_id)
        channel = state.channel if state is not None else None
        if state is None or (type(msg) is SubmitSharesExtended) != (
            type(channel) is ExtendedChannel
        ):
            self.shares_rejected += 1
            return [
                (
                    cid,
                    SubmitSharesError(
                        channel_id=msg.channel_id,
                        sequence_number=msg.sequence_number,
                        error_code=INVALID_CHANNEL_ID,
                    ),
                )
            ]
        assert channel is not None
        result = channel.validate_share(msg, now)  # type: ignore[attr-defined]
        if type(result) is Valid:
            return self._accepted(conn, state, msg, result, now)
        if isinstance(result, Rejected):
            self.shares_rejected += 1
            self._pending_records.append(
                (
                    now,
                    state.user,
                    state.worker,
                    0.0,
                    msg.channel_id,
                    msg.job_id,
                    None,
                    None,
                    False,
                    result.error_code,
                )
            )
            return [(cid, result.response)]
        assert isinstance(result, BlockFound)
        return self._block(conn, state, msg, result, now)

    def _record(
        self,
        state: _ChannelState,
        msg: SubmitSharesStandard | SubmitSharesExtended,
        difficulty: float,
        now: float,
        share_hash: bytes | None = None,
    ) -> None:
        self._pending_records.append(
            (
                now,
                state.user,
                state.worker,
                difficulty,
                msg.channel_id,
                msg.job_id,
                None,
                share_hash,
                True,
                None,
            )
        )

    def _accepted(
        self,
        conn: _Connection,
        state: _ChannelState,
        msg: SubmitSharesStandard | SubmitSharesExtended,
        result: Valid,
        now: float,
    ) -> list[Action]:
        self.shares_accepted += 1
        self._pending_records.append(  # _record, inlined: the hot path
            (
                now,
                state.user,
                state.worker,
                result.difficulty,
                msg.channel_id,
                msg.job_id,
                None,
                None,
                True,
                None,
            )
        )
        vardiff = state.vardiff
        ack = result.ack
        if vardiff is None and ack is None:
            return []
        out: list[Action] = []
        if vardiff is not None:
            change = vardiff.on_share(now)
            if change is not None:
                set_target = state.channel.set_target(change.target)
                if set_target is not None:
                    out.append((conn.id, set_target))
        if ack is not None:
            out.append(self._store_with_acks(((conn.id, ack),), now))
        return out

    def _block(
        self,
        conn: _Connection,
        state: _ChannelState,
        msg: SubmitSharesStandard | SubmitSharesExtended,
        found: BlockFound,
        now: float,
    ) -> list[Action]:
        self.shares_accepted += 1
        self.blocks_found += 1
        channel = state.channel
        job = channel.job(found.job_id)
        height = 0
        reward = 0
        if job is not None:
            reward = job.job.coinbase_value
            if found.template_id is not None:
                try:
                    height = coinbase_height(
                        self.factory.template(found.template_id).coinbase_prefix
                    )
                except (MiningError, ValueError):
                    height = 0
        payee = _payee(channel.payout or self.default_payout, self.config.network)
        record = BlockRecord(
            height=height,
            block_hash=found.block_hash[::-1].hex(),
            coinbase_payee=payee,
            reward=reward,
            time=now,
            user=state.user,
            worker=state.worker,
        )
        out: list[Action] = [SubmitBlock(found.submit_solution(), record, conn.id, msg.channel_id)]
        self._record(state, msg, found.difficulty, now, found.block_hash)
        out.append(self._store_with_acks(((conn.id, found.ack),), now))
        if state.vardiff is not None:
            change = state.vardiff.on_share(now)
            if change is not None:
                set_target = channel.set_target(change.target)
                if set_target is not None:
                    out.append((conn.id, set_target))
        return out

    def _store_with_acks(
        self, acks: tuple[tuple[int, SubmitSharesSuccess], ...], now: float
    ) -> StoreShares:
        records, self._pending_records = tuple(self._pending_records), []
        self._last_flush = now
        return StoreShares(records, acks)

    # ---- timers ------------------------------------------------------------------------

    def on_tick(self, now: float) -> list[Action]:
        """Periodic work (call every second or so): vardiff for slow miners, ack flushing.

        Each call visits a quarter of the connections (so one call stays short with many
        channels): vardiff ticks, and incomplete ``SubmitShares.Success`` batches are flushed
        (with the pending records first), so a slow miner still sees its shares counted.
        Records of rejected shares are committed at least every ``ack_interval``.
        """
        self.activate_pending(now)
        self._tick_count += 1
        part = self._tick_count % _TICK_SLICES
        out: list[Action] = []
        if self._last_flush is None:
            self._last_flush = now
        flush = now - self._last_flush >= self.config.ack_interval
        acks: list[tuple[int, SubmitSharesSuccess]] = []
        for conn in self.connections.values():
            cid = conn.id
            if cid % _TICK_SLICES != part:
                continue
            for state in conn.channels.values():
                if state.vardiff is not None:
                    change = state.vardiff.on_tick(now)
                    if change is not None:
                        set_target = state.channel.set_target(change.target)
                        if set_target is not None:
                            out.append((cid, set_target))
                ack = state.channel.flush_acks()
                if ack is not None:
                    acks.append((cid, ack))
        if acks or (flush and self._pending_records):
            out.append(self._store_with_acks(tuple(acks), now))
        elif flush:
            self._last_flush = now
        return out

    # ---- introspection -----------------------------------------------------------------

    def channel(self, conn_id: int, channel_id: int) -> Channel | None:
        """A channel of a connection (for tests and the dashboard)."""
        conn = self.connections.get(conn_id)
        state = conn.channels.get(channel_id) if conn is not None else None
        return state.channel if state is not None else None

    def channel_count(self) -> int:
        """Open channels over all connections."""
        return sum(len(c.channels) for c in self.connections.values())


def _tip_for(tip: ChainTip, job: MiningJob) -> ChainTip:
    """The tip with ``template_id`` set to ``job``'s (the current template may be newer)."""
    if job.template_id is None or job.template_id == tip.template_id:
        return tip
    return ChainTip(job.template_id, tip.prev_hash, tip.min_ntime, tip.nbits, tip.network_target)


def _standard_job_frame(
    channel: StandardChannel, job: MiningJob, future: bool, now: float
) -> tuple[bytes, bytes]:
    """``StandardChannel.new_job`` as an encoded ``NewMiningJob`` frame (header, payload).

    The fan-out of a template to every standalone standard channel: this skips building
    and encoding a message object per channel, and hashes the merkle root with
    :func:`~stratumv2.mining.jobs.coinbase_merkle_root` (same bytes as the codec gives,
    see the pool's tests).
    """
    job_id = channel.job_ids.next()
    cj = channel.add_job(job_id, job, future)
    root = coinbase_merkle_root(cj.head + cj.tail, cj.path)
    cj.merkle_root = root
    if future:
        return _NEW_JOB_FUTURE_HEADER, _NEW_JOB_FUTURE.pack(
            channel.channel_id, job_id, 0, job.version, root
        )
    min_ntime = channel.min_ntime_for_new_job(now)
    return _NEW_JOB_ACTIVE_HEADER, _NEW_JOB_ACTIVE.pack(
        channel.channel_id, job_id, 1, min_ntime, job.version, root
    )


def _job_message(channel: Channel, job_id: int, job: MiningJob) -> Message:
    """A future job already recorded on ``channel``, as the message for its own id."""
    if isinstance(channel, ExtendedChannel):
        return extended_job_message(channel.channel_id, job_id, job, None)
    return NewMiningJob(
        channel_id=channel.channel_id,
        job_id=job_id,
        min_ntime=None,
        version=job.version,
        merkle_root=job.merkle_root(channel.extranonce_prefix),
    )


def _payee(payout: Payout, network: str) -> str:
    from stratumv2.bitcoin.address import script_to_address

    try:
        return script_to_address(payout.scripts[0], network)
    except ValueError:
        return payout.scripts[0].hex()
