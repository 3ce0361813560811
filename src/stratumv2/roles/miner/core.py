"""The SV2 mining device as a sans-IO state machine.

:class:`MinerCore` speaks the Mining protocol from the device side: ``SetupConnection``, one
standard or extended channel, jobs (``NewMiningJob`` / ``NewExtendedMiningJob``, future jobs
activated by ``SetNewPrevHash``, group-addressed jobs routed to the member channel as SRI's
pool sends them: digest 00 §3), ``SetTarget``, ``SetExtranoncePrefix`` and share results. It
turns the active job into a :class:`WorkUnit` (what a hashing worker needs) and a worker's
:class:`Solution` into ``SubmitSharesStandard`` / ``SubmitSharesExtended``.

The service feeds it every message (``on_message``) and gets back the messages to send;
what happened is popped with ``next_event``. No I/O, no clock: ``now`` is a parameter.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from stratumv2.bitcoin.hashes import merkle_root_from_branch, sha256d
from stratumv2.bitcoin.target import MAX_TARGET, bits_to_target, target_to_u256, u256_to_target
from stratumv2.protocol import (
    PROTOCOL_MINING,
    REQUIRES_STANDARD_JOBS,
    REQUIRES_VERSION_ROLLING,
    CloseChannel,
    Message,
    NewExtendedMiningJob,
    NewMiningJob,
    OpenExtendedMiningChannel,
    OpenExtendedMiningChannelSuccess,
    OpenMiningChannelError,
    OpenStandardMiningChannel,
    OpenStandardMiningChannelSuccess,
    Reconnect,
    SetExtranoncePrefix,
    SetGroupChannel,
    SetNewPrevHashMining,
    SetTarget,
    SetupConnection,
    SetupConnectionError,
    SetupConnectionSuccess,
    SubmitSharesError,
    SubmitSharesExtended,
    SubmitSharesStandard,
    SubmitSharesSuccess,
)

__all__ = [
    "DEFAULT_VERSION_ROLLING_MASK",
    "ChannelClosed",
    "ChannelKind",
    "ChannelOpened",
    "MinerConfig",
    "MinerCore",
    "MinerError",
    "MinerEvent",
    "SetupFailed",
    "ShareRejected",
    "SharesAccepted",
    "Solution",
    "TargetChanged",
    "WorkChanged",
    "WorkStopped",
    "WorkUnit",
]

DEFAULT_VERSION_ROLLING_MASK = 0x1FFFFFE0
"""BIP320 general-purpose bits (SRI's ``VERSION_ROLLING_MASK``)."""

ChannelKind = Literal["standard", "extended"]


class MinerError(Exception):
    """The upstream refused us (setup or channel) or broke the protocol."""


@dataclass(frozen=True, slots=True)
class MinerConfig:
    """What the device asks for.

    ``nominal_hashrate`` (H/s) sets the pool's first target; ``min_extranonce_size`` is the
    rollable extranonce an extended channel asks for; ``requires_standard_jobs`` sets the
    SetupConnection flag (no group-channel jobs then).
    """

    channel: ChannelKind = "standard"
    user_identity: str = "sv2-miner"
    nominal_hashrate: float = 1e6
    max_target: int = MAX_TARGET
    min_extranonce_size: int = 4
    version_rolling: bool = True
    requires_standard_jobs: bool = False
    endpoint_host: str = ""
    endpoint_port: int = 0
    vendor: str = "stratumv2"
    hardware_version: str = "cpu"
    firmware: str = "sv2-miner"
    device_id: str = ""


@dataclass(frozen=True, slots=True)
class WorkUnit:
    """One job ready to hash (picklable: it goes to worker processes).

    The header is ``version | prev_hash | merkle_root | ntime | nbits | nonce``. With
    ``extranonce_size > 0`` the merkle root depends on the extranonce: coinbase =
    ``coinbase_head | extranonce | coinbase_tail``, root from ``merkle_path``; otherwise
    ``merkle_root`` is fixed. ``version_mask`` holds the bits a worker may set (0: none).
    ``network_target`` tells a block candidate.
    """

    work_id: int
    job_id: int | str
    version: int
    prev_hash: bytes
    nbits: int
    ntime: int
    target: int
    network_target: int
    version_mask: int = 0
    merkle_root: bytes = b""
    coinbase_head: bytes = b""
    coinbase_tail: bytes = b""
    merkle_path: tuple[bytes, ...] = ()
    extranonce_size: int = 0

    def merkle_root_for(self, extranonce: bytes) -> bytes:
        """The header's merkle root with this extranonce (the fixed one without)."""
        if self.extranonce_size == 0:
            return self.merkle_root
        coinbase = self.coinbase_head + extranonce + self.coinbase_tail
        return merkle_root_from_branch(sha256d(coinbase), self.merkle_path)


@dataclass(frozen=True, slots=True)
class Solution:
    """A header a worker found under a work unit's target."""

    work_id: int
    nonce: int
    ntime: int
    version: int
    extranonce: bytes
    hash: bytes

    @property
    def value(self) -> int:
        """The hash as the integer compared with targets."""
        return int.from_bytes(self.hash, "little")


# ---- events ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetupFailed:
    """``SetupConnection.Error``: the upstream will close."""

    error_code: str


@dataclass(frozen=True, slots=True)
class ChannelOpened:
    """Our channel is open."""

    channel_id: int
    target: int
    extranonce_prefix: bytes
    extranonce_size: int
    group_channel_id: int


@dataclass(frozen=True, slots=True)
class ChannelClosed:
    """The channel could not be opened, or the upstream closed it."""

    reason: str


@dataclass(frozen=True, slots=True)
class WorkChanged:
    """New work to hash: drop the old work at once (``clean``: it can no longer be submitted)."""

    work: WorkUnit
    clean: bool


@dataclass(frozen=True, slots=True)
class WorkStopped:
    """No job can be mined now (e.g. ``SetNewPrevHash`` named a job we never got): stop."""

    reason: str


@dataclass(frozen=True, slots=True)
class TargetChanged:
    """``SetTarget``: shares must meet ``target`` (work keeps going)."""

    target: int


@dataclass(frozen=True, slots=True)
class SharesAccepted:
    """``SubmitShares.Success``: ``count`` more shares accepted."""

    count: int
    shares_sum: int
    last_sequence_number: int


@dataclass(frozen=True, slots=True)
class ShareRejected:
    """``SubmitShares.Error`` for one share."""

    sequence_number: int
    error_code: str


MinerEvent = (
    SetupFailed
    | ChannelOpened
    | ChannelClosed
    | WorkChanged
    | WorkStopped
    | TargetChanged
    | SharesAccepted
    | ShareRejected
)


# ---- state -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Job:
    """A job as received, with the extranonce prefix in force when it arrived."""

    job_id: int
    version: int
    version_rolling_allowed: bool
    min_ntime: int | None
    merkle_root: bytes = b""
    coinbase_prefix: bytes = b""
    coinbase_suffix: bytes = b""
    merkle_path: tuple[bytes, ...] = ()
    extranonce_prefix: bytes = b""
    extended: bool = False


@dataclass(slots=True)
class _Channel:
    channel_id: int
    group_channel_id: int
    target: int
    extranonce_prefix: bytes
    extranonce_size: int
    future: dict[int, _Job] = field(default_factory=dict)
    current: dict[int, _Job] = field(default_factory=dict)
    active: _Job | None = None
    prev_hash: bytes = b""
    nbits: int = 0
    min_ntime: int = 0


_SETUP, _OPENING, _OPEN, _CLOSED = "setup", "opening", "open", "closed"


class MinerCore:
    """The device side of one Mining protocol connection with one channel."""

    MAX_PAST_JOBS = 16

    def __init__(self, config: MinerConfig | None = None) -> None:
        self.config = config or MinerConfig()
        self._events: deque[MinerEvent] = deque()
        self.state = _SETUP
        self.server_flags = 0
        self.channel: _Channel | None = None
        self.sequence_number = 0
        self.submitted = 0
        self.accepted = 0
        self.rejected = 0
        self.rejected_by_code: dict[str, int] = {}
        self.blocks_found = 0
        self.work: WorkUnit | None = None
        self._work_ids = 0
        self._work_jobs: dict[int, tuple[int, bytes]] = {}  # work_id -> (job_id, prev_hash)
        self.reconnect_to: tuple[str, int] | None = None

    # ---- output ------------------------------------------------------------------------

    def start(self) -> list[Message]:
        """The first message: ``SetupConnection`` for the Mining protocol."""
        cfg = self.config
        flags = 0
        if cfg.requires_standard_jobs:
            flags |= REQUIRES_STANDARD_JOBS
        if cfg.version_rolling:
            flags |= REQUIRES_VERSION_ROLLING
        return [
            SetupConnection(
                protocol=PROTOCOL_MINING,
                min_version=2,
                max_version=2,
                flags=flags,
                endpoint_host=cfg.endpoint_host,
                endpoint_port=cfg.endpoint_port,
                vendor=cfg.vendor,
                hardware_version=cfg.hardware_version,
                firmware=cfg.firmware,
                device_id=cfg.device_id,
            )
        ]

    def next_event(self) -> MinerEvent | None:
        """Pop the next event (None when there is none)."""
        return self._events.popleft() if self._events else None

    # ---- input -------------------------------------------------------------------------

    def on_message(self, message: Message, now: float) -> list[Message]:
        """Handle one upstream message; the messages to send back."""
        if isinstance(message, SetupConnectionSuccess):
            return self._on_setup_success(message)
        if isinstance(message, SetupConnectionError):
            self.state = _CLOSED
            self._events.append(SetupFailed(message.error_code))
            return []
        if isinstance(message, OpenStandardMiningChannelSuccess | OpenExtendedMiningChannelSuccess):
            self._on_open_success(message)
            return []
        if isinstance(message, OpenMiningChannelError):
            self.state = _CLOSED
            self._events.append(ChannelClosed(message.error_code))
            return []
        ch = self.channel
        if ch is None:
            return []  # nothing else concerns us before the channel exists
        if isinstance(message, NewMiningJob | NewExtendedMiningJob):
            if self._addressed(message.channel_id):
                self._on_job(ch, message, now)
        elif isinstance(message, SetNewPrevHashMining):
            if self._addressed(message.channel_id):
                self._on_prev_hash(ch, message, now)
        elif isinstance(message, SetTarget):
            if self._addressed(message.channel_id):
                ch.target = u256_to_target(message.maximum_target)
                self._events.append(TargetChanged(ch.target))
        elif isinstance(message, SetExtranoncePrefix):
            if message.channel_id == ch.channel_id:
                ch.extranonce_prefix = message.extranonce_prefix
        elif isinstance(message, SubmitSharesSuccess):
            if message.channel_id == ch.channel_id:
                self.accepted += message.new_submits_accepted_count
                self._events.append(
                    SharesAccepted(
                        message.new_submits_accepted_count,
                        message.new_shares_sum,
                        message.last_sequence_number,
                    )
                )
        elif isinstance(message, SubmitSharesError):
            if message.channel_id == ch.channel_id:
                self.rejected += 1
                code = message.error_code
                self.rejected_by_code[code] = self.rejected_by_code.get(code, 0) + 1
                self._events.append(ShareRejected(message.sequence_number, code))
        elif isinstance(message, SetGroupChannel):
            if ch.channel_id in message.channel_ids:
                ch.group_channel_id = message.group_channel_id
        elif isinstance(message, CloseChannel):
            if self._addressed(message.channel_id):
                self.state = _CLOSED
                self.channel = None
                self.work = None
                self._events.append(ChannelClosed(message.reason_code))
        elif isinstance(message, Reconnect):
            self.reconnect_to = (message.new_host, message.new_port)
        return []

    def _addressed(self, channel_id: int) -> bool:
        ch = self.channel
        assert ch is not None
        return channel_id == ch.channel_id or (
            ch.group_channel_id != 0 and channel_id == ch.group_channel_id
        )

    def _on_setup_success(self, message: SetupConnectionSuccess) -> list[Message]:
        if self.state != _SETUP:
            raise MinerError("SetupConnection.Success out of order")
        self.server_flags = message.flags
        self.state = _OPENING
        cfg = self.config
        max_target = target_to_u256(cfg.max_target)
        if cfg.channel == "extended":
            return [
                OpenExtendedMiningChannel(
                    request_id=1,
                    user_identity=cfg.user_identity,
                    nominal_hash_rate=cfg.nominal_hashrate,
                    max_target=max_target,
                    min_extranonce_size=cfg.min_extranonce_size,
                )
            ]
        return [
            OpenStandardMiningChannel(
                request_id=1,
                user_identity=cfg.user_identity,
                nominal_hash_rate=cfg.nominal_hashrate,
                max_target=max_target,
            )
        ]

    def _on_open_success(
        self, message: OpenStandardMiningChannelSuccess | OpenExtendedMiningChannelSuccess
    ) -> None:
        if self.state != _OPENING:
            raise MinerError("channel open success out of order")
        size = (
            message.extranonce_size if isinstance(message, OpenExtendedMiningChannelSuccess) else 0
        )
        if self.config.channel == "extended" and size == 0:
            raise MinerError("extended channel without rollable extranonce")
        ch = _Channel(
            channel_id=message.channel_id,
            group_channel_id=message.group_channel_id,
            target=u256_to_target(message.target),
            extranonce_prefix=message.extranonce_prefix,
            extranonce_size=size,
        )
        self.channel = ch
        self.state = _OPEN
        self._events.append(
            ChannelOpened(ch.channel_id, ch.target, ch.extranonce_prefix, size, ch.group_channel_id)
        )

    def _on_job(
        self, ch: _Channel, message: NewMiningJob | NewExtendedMiningJob, now: float
    ) -> None:
        if isinstance(message, NewExtendedMiningJob):
            job = _Job(
                job_id=message.job_id,
                version=message.version,
                version_rolling_allowed=message.version_rolling_allowed,
                min_ntime=message.min_ntime,
                coinbase_prefix=message.coinbase_tx_prefix,
                coinbase_suffix=message.coinbase_tx_suffix,
                merkle_path=tuple(message.merkle_path),
                extranonce_prefix=ch.extranonce_prefix,
                extended=True,
            )
        else:
            job = _Job(
                job_id=message.job_id,
                version=message.version,
                version_rolling_allowed=True,  # SRI: always inside the mask on standard channels
                min_ntime=message.min_ntime,
                merkle_root=message.merkle_root,
            )
        if job.min_ntime is None:
            ch.future[job.job_id] = job
            return
        if not ch.prev_hash:
            return  # an active job before any prev hash cannot be mined
        ch.current[job.job_id] = job
        while len(ch.current) > self.MAX_PAST_JOBS + 1:
            del ch.current[next(iter(ch.current))]
        ch.active = job
        self._new_work(ch, job, now, clean=False)

    def _on_prev_hash(self, ch: _Channel, message: SetNewPrevHashMining, now: float) -> None:
        job = ch.future.pop(message.job_id, None)
        if job is None:
            job = ch.current.get(message.job_id)
        ch.prev_hash = message.prev_hash
        ch.nbits = message.nbits
        ch.min_ntime = message.min_ntime
        ch.future.clear()
        ch.current.clear()
        if job is None:
            ch.active = None
            self.work = None
            self._events.append(WorkStopped(f"SetNewPrevHash for unknown job {message.job_id}"))
            return
        ch.current[job.job_id] = job
        ch.active = job
        self._new_work(ch, job, now, clean=True)

    def _new_work(self, ch: _Channel, job: _Job, now: float, clean: bool) -> None:
        self._work_ids += 1
        ntime = max(ch.min_ntime, job.min_ntime or 0, int(now))
        mask = DEFAULT_VERSION_ROLLING_MASK if job.version_rolling_allowed else 0
        if not self.config.version_rolling:
            mask = 0
        mask &= ~job.version & 0xFFFFFFFF  # only set bits the job leaves clear (unique, valid)
        network_target = bits_to_target(ch.nbits)
        if job.extended:
            head = job.coinbase_prefix + job.extranonce_prefix
            if ch.extranonce_size == 0:  # a standard channel fed by its group
                root = merkle_root_from_branch(sha256d(head + job.coinbase_suffix), job.merkle_path)
                work = WorkUnit(
                    self._work_ids, job.job_id, job.version, ch.prev_hash, ch.nbits, ntime,
                    ch.target, network_target, mask, merkle_root=root,
                )  # fmt: skip
            else:
                work = WorkUnit(
                    self._work_ids, job.job_id, job.version, ch.prev_hash, ch.nbits, ntime,
                    ch.target, network_target, mask, coinbase_head=head,
                    coinbase_tail=job.coinbase_suffix, merkle_path=job.merkle_path,
                    extranonce_size=ch.extranonce_size,
                )  # fmt: skip
        else:
            work = WorkUnit(
                self._work_ids, job.job_id, job.version, ch.prev_hash, ch.nbits, ntime,
                ch.target, network_target, mask, merkle_root=job.merkle_root,
            )  # fmt: skip
        self.work = work
        self._work_jobs[work.work_id] = (job.job_id, ch.prev_hash)
        while len(self._work_jobs) > 4 * (self.MAX_PAST_JOBS + 1):
            del self._work_jobs[next(iter(self._work_jobs))]
        self._events.append(WorkChanged(work, clean))

    # ---- shares ------------------------------------------------------------------------

    @property
    def target(self) -> int:
        """The channel's current target (0 before the channel opens)."""
        return self.channel.target if self.channel else 0

    def is_current(self, work_id: int) -> bool:
        """True if shares found under ``work_id`` can still be submitted."""
        ch = self.channel
        entry = self._work_jobs.get(work_id)
        return (
            ch is not None
            and entry is not None
            and entry[1] == ch.prev_hash
            and entry[0] in ch.current
        )

    def submit(self, solution: Solution) -> SubmitSharesStandard | SubmitSharesExtended | None:
        """The share message for a worker's solution, or None if it is stale or too weak.

        A solution that meets the network target counts in ``blocks_found``.
        """
        ch = self.channel
        if ch is None or not self.is_current(solution.work_id):
            return None
        value = solution.value
        network = bits_to_target(ch.nbits)
        if value > ch.target and value > network:
            return None
        if value <= network:
            self.blocks_found += 1
        job_id, _ = self._work_jobs[solution.work_id]
        self.sequence_number = (self.sequence_number + 1) & 0xFFFFFFFF
        self.submitted += 1
        if ch.extranonce_size:
            if len(solution.extranonce) != ch.extranonce_size:
                raise MinerError("solution extranonce has the wrong size")
            return SubmitSharesExtended(
                channel_id=ch.channel_id,
                sequence_number=self.sequence_number,
                job_id=job_id,
                nonce=solution.nonce,
                ntime=solution.ntime,
                version=solution.version,
                extranonce=solution.extranonce,
            )
        return SubmitSharesStandard(
            channel_id=ch.channel_id,
            sequence_number=self.sequence_number,
            job_id=job_id,
            nonce=solution.nonce,
            ntime=solution.ntime,
            version=solution.version,
        )
