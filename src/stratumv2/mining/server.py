"""The channels of one downstream Mining connection, served the way SRI's pool does.

:class:`ServerChannels` composes the pieces of this package for one connection: it opens
standard and extended channels (extranonce from the pool-wide allocator, initial target from
the nominal hashrate), puts them in a group per payout, turns templates and chain tips from
the :class:`~stratumv2.mining.jobs.JobFactory` into job messages, routes shares to their
channel and closes channels. Every method takes the input (and ``now``) and returns the
messages to send on this connection; nothing here does I/O.

Pool-wide duties stay with the caller: feed ``factory.on_new_template`` /
``factory.on_set_new_prev_hash`` once, then every connection's :meth:`on_new_template` /
:meth:`on_new_prev_hash`; call ``allocator.on_new_prev_hash()`` once per tip; send
``result.submit_solution()`` of a :class:`~stratumv2.mining.shares.BlockFound` to the TP.
"""

from __future__ import annotations

from stratumv2.bitcoin.target import (
    hashrate_to_target,
    target_to_u256,
    u256_to_target,
)
from stratumv2.mining.channel import Channel, ChannelConfig
from stratumv2.mining.errors import (
    INVALID_CHANNEL_ID,
    INVALID_NOMINAL_HASHRATE,
    ChannelOpenError,
    MiningError,
)
from stratumv2.mining.extended import ExtendedChannel
from stratumv2.mining.extranonce import ExtranonceAllocator
from stratumv2.mining.group import GroupChannel
from stratumv2.mining.jobs import ChainTip, JobFactory, Payout
from stratumv2.mining.shares import InvalidChannelId, ShareResult
from stratumv2.mining.standard import StandardChannel
from stratumv2.protocol import (
    CloseChannel,
    Message,
    OpenExtendedMiningChannel,
    OpenExtendedMiningChannelSuccess,
    OpenMiningChannelError,
    OpenStandardMiningChannel,
    OpenStandardMiningChannelSuccess,
    SetCustomMiningJob,
    SetCustomMiningJobError,
    SetNewPrevHashMining,
    SubmitSharesExtended,
    SubmitSharesStandard,
    UpdateChannel,
    UpdateChannelError,
)

__all__ = [
    "REQUIRES_STANDARD_JOBS",
    "REQUIRES_VERSION_ROLLING",
    "REQUIRES_WORK_SELECTION",
    "ServerChannels",
]

REQUIRES_STANDARD_JOBS = 0x1
REQUIRES_WORK_SELECTION = 0x2
REQUIRES_VERSION_ROLLING = 0x4

_STANDARD_FOR_CUSTOM_WORK = "standard-channels-not-supported-for-custom-work"
_EXTENDED_FOR_STANDARD_JOBS = "extended-channels-not-supported-for-standard-jobs"


class ServerChannels:
    """Channel state of one Mining connection (server side).

    ``flags`` are the client's ``SetupConnection.flags``. ``shares_per_minute`` sets the
    initial target from the nominal hashrate (SRI formula). With ``REQUIRES_STANDARD_JOBS``
    each standard channel gets its own ``NewMiningJob``s and extended channels are refused;
    otherwise channels join a group per payout and get group-addressed extended jobs after
    their first one. With ``REQUIRES_WORK_SELECTION`` only extended channels open and no
    template jobs are sent (the client declares its own work).
    """

    def __init__(
        self,
        factory: JobFactory,
        allocator: ExtranonceAllocator,
        *,
        flags: int = 0,
        config: ChannelConfig | None = None,
        shares_per_minute: float = 6.0,
    ) -> None:
        if allocator.full_size != factory.full_extranonce_size:
            raise ValueError("allocator and job factory disagree on the full extranonce size")
        self.factory = factory
        self.allocator = allocator
        self.flags = flags
        self.config = config or ChannelConfig()
        self.shares_per_minute = shares_per_minute
        self.channels: dict[int, Channel] = {}
        self.groups: dict[int, GroupChannel] = {}
        self._group_by_payout: dict[Payout | None, GroupChannel] = {}
        self._next_id = 0

    @property
    def standard_jobs_only(self) -> bool:
        """The client set ``REQUIRES_STANDARD_JOBS``."""
        return bool(self.flags & REQUIRES_STANDARD_JOBS)

    @property
    def work_selection(self) -> bool:
        """The client set ``REQUIRES_WORK_SELECTION`` (it sends its own jobs)."""
        return bool(self.flags & REQUIRES_WORK_SELECTION)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _initial_target(self, nominal_hash_rate: float, max_target: bytes) -> tuple[int, int]:
        if not nominal_hash_rate >= 0.0:  # also refuses NaN
            raise ChannelOpenError("negative nominal hashrate", INVALID_NOMINAL_HASHRATE)
        limit = u256_to_target(max_target)
        return min(hashrate_to_target(nominal_hash_rate, self.shares_per_minute), limit), limit

    def _group_for(self, payout: Payout | None) -> GroupChannel:
        group = self._group_by_payout.get(payout)
        if group is None:
            group = GroupChannel(self._new_id(), self.allocator.full_size, payout)
            self._group_by_payout[payout] = group
            self.groups[group.group_channel_id] = group
        return group

    # ---- opening ----------------------------------------------------------------------

    def open_standard(
        self, request: OpenStandardMiningChannel, now: float, payout: Payout | None = None
    ) -> list[Message]:
        """Answer ``OpenStandardMiningChannel``: Success plus its first job, or an Error.

        ``payout`` overrides the pool's default coinbase outputs for this channel (solo
        mode: the address given as user identity); None uses the factory's default.
        """
        try:
            if self.work_selection:
                raise ChannelOpenError("custom work connection", _STANDARD_FOR_CUSTOM_WORK)
            requested, limit = self._initial_target(request.nominal_hash_rate, request.max_target)
            allocation = self.allocator.allocate_standard()
        except MiningError as exc:
            return [
                OpenMiningChannelError(request_id=request.request_id, error_code=exc.error_code)
            ]
        group = None if self.standard_jobs_only else self._group_for(payout)
        channel = StandardChannel(
            self._new_id(),
            request.user_identity,
            allocation,
            requested_target=requested,
            max_target=limit,
            nominal_hashrate=request.nominal_hash_rate,
            network_target=self._network_target(),
            payout=payout,
            job_ids=group.job_ids if group else None,
            config=self.config,
        )
        if group is not None:
            channel.group_channel_id = group.group_channel_id
        self.channels[channel.channel_id] = channel
        success = OpenStandardMiningChannelSuccess(
            request_id=request.request_id,
            channel_id=channel.channel_id,
            target=target_to_u256(channel.target),
            extranonce_prefix=allocation.prefix,
            group_channel_id=channel.group_channel_id,
        )
        return [success, *self._first_job(channel, now), *self._join(group, channel)]

    def open_extended(
        self, request: OpenExtendedMiningChannel, now: float, payout: Payout | None = None
    ) -> list[Message]:
        """Answer ``OpenExtendedMiningChannel``: Success plus its first job, or an Error."""
        try:
            if self.standard_jobs_only:
                raise ChannelOpenError("standard jobs only", _EXTENDED_FOR_STANDARD_JOBS)
            requested, limit = self._initial_target(request.nominal_hash_rate, request.max_target)
            allocation = self.allocator.allocate_extended(request.min_extranonce_size)
        except MiningError as exc:
            return [
                OpenMiningChannelError(request_id=request.request_id, error_code=exc.error_code)
            ]
        group = self._group_for(payout)
        channel = ExtendedChannel(
            self._new_id(),
            request.user_identity,
            allocation,
            requested_target=requested,
            max_target=limit,
            nominal_hashrate=request.nominal_hash_rate,
            network_target=self._network_target(),
            payout=payout,
            job_ids=group.job_ids,
            config=self.config,
        )
        channel.group_channel_id = group.group_channel_id
        self.channels[channel.channel_id] = channel
        success = OpenExtendedMiningChannelSuccess(
            request_id=request.request_id,
            channel_id=channel.channel_id,
            target=target_to_u256(channel.target),
            extranonce_size=allocation.size,
            extranonce_prefix=allocation.prefix,
            group_channel_id=channel.group_channel_id,
        )
        return [success, *self._first_job(channel, now), *self._join(group, channel)]

    def _network_target(self) -> int:
        tip = self.factory.tip
        return tip.network_target if tip else 0

    def _first_job(self, channel: StandardChannel | ExtendedChannel, now: float) -> list[Message]:
        """SRI: a future job on the current template, then SetNewPrevHash, to the channel."""
        tip = self.factory.tip
        if tip is None or self.work_selection:
            return []  # jobs follow with the first template and tip
        job = self.factory.current_job(channel.payout)
        first = channel.new_job(job, future=True, now=now)
        return [first, *self._activate_channel_job(channel, tip, first.job_id)]

    @staticmethod
    def _join(
        group: GroupChannel | None, channel: StandardChannel | ExtendedChannel
    ) -> list[Message]:
        """Add the channel to its group (after its first job is active), and send it, on its
        own id, the group's future jobs it missed (so the group's next SetNewPrevHash names a
        job it knows)."""
        if group is None:
            return []
        group.add_member(channel)
        return [channel.job_message(job_id, job) for job_id, job in group.future_jobs()]

    @staticmethod
    def _activate_channel_job(channel: Channel, tip: ChainTip, job_id: int) -> list[Message]:
        # Like Channel.on_new_prev_hash, for a job that is not the tip's own template.
        set_target = channel.activate(job_id, tip)
        activate = SetNewPrevHashMining(
            channel_id=channel.channel_id,
            job_id=job_id,
            prev_hash=tip.prev_hash,
            min_ntime=tip.min_ntime,
            nbits=tip.nbits,
        )
        return [set_target, activate] if set_target else [activate]

    # ---- templates and tips -----------------------------------------------------------

    def _lone_channels(self) -> list[StandardChannel]:
        return [
            ch
            for ch in self.channels.values()
            if isinstance(ch, StandardChannel) and ch.group_channel_id == 0
        ]

    def on_new_template(self, template_id: int, now: float) -> list[Message]:
        """Jobs for a template the factory just took: one per group, or per lone channel."""
        if self.work_selection:
            return []
        future = self.factory.is_future(template_id)
        messages: list[Message] = []
        for group in self.groups.values():
            if group.members:
                job = self.factory.job(template_id, group.payout)
                messages.append(group.new_job(job, future, now))
        for channel in self._lone_channels():
            job = self.factory.job(template_id, channel.payout)
            messages.append(channel.new_job(job, future, now))
        return messages

    def on_new_prev_hash(self, tip: ChainTip, now: float) -> list[Message]:
        """Activate the tip's future jobs (sending one first where a channel lacks it)."""
        if self.work_selection:
            return []
        messages: list[Message] = []
        for group in self.groups.values():
            if not group.members:
                continue
            if group.future_job_id(tip.template_id) is None:
                job = self.factory.job(tip.template_id, group.payout)
                messages.append(group.new_job(job, True, now))
            messages.extend(group.on_new_prev_hash(tip))
        for channel in self._lone_channels():
            if channel.future_job_id(tip.template_id) is None:
                job = self.factory.job(tip.template_id, channel.payout)
                messages.append(channel.new_job(job, True, now))
            messages.extend(channel.on_new_prev_hash(tip))
        return messages

    # ---- shares -----------------------------------------------------------------------

    def submit_standard(self, share: SubmitSharesStandard, now: float) -> ShareResult:
        """Validate a ``SubmitSharesStandard``; ``result.response`` is the reply (if any)."""
        channel = self.channels.get(share.channel_id)
        if type(channel) is not StandardChannel:
            return InvalidChannelId(share.channel_id, share.sequence_number)
        return channel.validate_share(share, now)

    def submit_extended(self, share: SubmitSharesExtended, now: float) -> ShareResult:
        """Validate a ``SubmitSharesExtended``; ``result.response`` is the reply (if any)."""
        channel = self.channels.get(share.channel_id)
        if type(channel) is not ExtendedChannel:
            return InvalidChannelId(share.channel_id, share.sequence_number)
        return channel.validate_share(share, now)

    # ---- work selection -------------------------------------------------------------

    def set_custom_mining_job(self, message: SetCustomMiningJob) -> list[Message]:
        """``SetCustomMiningJob`` on an extended channel (check the token before calling)."""
        channel = self.channels.get(message.channel_id)
        if not self.work_selection:
            code = "jd-not-supported"
        elif type(channel) is not ExtendedChannel:
            code = INVALID_CHANNEL_ID
        else:
            try:
                return list(channel.set_custom_job(message))
            except MiningError as exc:
                code = exc.error_code
        return [
            SetCustomMiningJobError(
                channel_id=message.channel_id, request_id=message.request_id, error_code=code
            )
        ]

    # ---- channel changes --------------------------------------------------------------

    def update_channel(self, update: UpdateChannel) -> list[Message]:
        """``UpdateChannel``: new target from the hashrate, capped by ``maximum_target``."""
        channel = self.channels.get(update.channel_id)
        if channel is None:
            code = INVALID_CHANNEL_ID
        elif not update.nominal_hash_rate >= 0.0:
            code = INVALID_NOMINAL_HASHRATE
        else:
            channel.nominal_hashrate = update.nominal_hash_rate
            limit = u256_to_target(update.maximum_target)
            wanted = hashrate_to_target(update.nominal_hash_rate, self.shares_per_minute)
            set_target = channel.set_target(min(wanted, limit), max_target=limit)
            return [set_target] if set_target else []
        return [UpdateChannelError(channel_id=update.channel_id, error_code=code)]

    def close_channel(self, close: CloseChannel) -> list[int]:
        """``CloseChannel`` for a channel or a whole group; the ids that were closed."""
        group = self.groups.pop(close.channel_id, None)
        if group is not None:
            self._group_by_payout.pop(group.payout, None)
            ids = list(group.members)
        else:
            ids = [close.channel_id] if close.channel_id in self.channels else []
        for channel_id in ids:
            self._close(channel_id)
        return ids

    def close_all(self) -> list[int]:
        """The connection is gone: free every channel's extranonce."""
        ids = list(self.channels)
        for channel_id in ids:
            self._close(channel_id)
        self.groups.clear()
        self._group_by_payout.clear()
        return ids

    def _close(self, channel_id: int) -> None:
        channel = self.channels.pop(channel_id)
        group = self.groups.get(channel.group_channel_id)
        if group is not None:
            group.remove_member(channel_id)
        self.allocator.free(channel.allocation)

    def channel(self, channel_id: int) -> Channel | None:
        """An open channel by id."""
        return self.channels.get(channel_id)
