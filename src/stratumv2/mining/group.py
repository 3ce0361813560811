"""Group channels: one job stream for many channels of one connection (sans-IO).

What SRI's pool does (digest 00 §3): every channel opened on a connection (standard ones
unless the connection set ``REQUIRES_STANDARD_JOBS``, and extended ones) joins the
connection's group, whose id is given in the open-Success. The channel's first job is its
own future job plus ``SetNewPrevHash``; after that each new template or tip is sent once, as
``NewExtendedMiningJob`` / ``SetNewPrevHash`` addressed to the group id. Members submit
shares on their own channel id with the group's job id, so a group and its members draw job
ids from one counter.

All members share the full extranonce size and the coinbase payout (a channel with its own
payout, e.g. a solo miner's address, needs its own group).
"""

from __future__ import annotations

from stratumv2.mining.channel import Channel, JobIdCounter
from stratumv2.mining.errors import NoTemplateError
from stratumv2.mining.extended import extended_job_message
from stratumv2.mining.jobs import ChainTip, MiningJob, Payout
from stratumv2.protocol import (
    NewExtendedMiningJob,
    SetGroupChannel,
    SetNewPrevHashMining,
    SetTarget,
)

__all__ = ["GroupChannel"]


class GroupChannel:
    """A group of channels fed with the same extended jobs (addressed to ``group_channel_id``)."""

    def __init__(
        self, group_channel_id: int, full_extranonce_size: int, payout: Payout | None = None
    ) -> None:
        self.group_channel_id = group_channel_id
        self.full_extranonce_size = full_extranonce_size
        self.payout = payout
        self.job_ids = JobIdCounter()
        self.members: dict[int, Channel] = {}
        self._future: dict[int, MiningJob] = {}
        self._future_by_template: dict[int, int] = {}

    def add_member(self, channel: Channel) -> None:
        """Add a channel created with ``job_ids=group.job_ids`` and the group's payout.

        Future group jobs still waiting for their tip are recorded on it too, so the group's
        next ``SetNewPrevHash`` applies to it.
        """
        if channel.allocation.full_size != self.full_extranonce_size:
            raise ValueError(
                f"channel {channel.channel_id} has a {channel.allocation.full_size}-byte "
                f"extranonce, the group uses {self.full_extranonce_size}"
            )
        if channel.job_ids is not self.job_ids:
            raise ValueError("a member must draw job ids from its group's counter")
        if channel.payout != self.payout:
            raise ValueError("a member must pay to its group's payout")
        channel.group_channel_id = self.group_channel_id
        self.members[channel.channel_id] = channel
        for job_id, job in self._future.items():
            channel.add_job(job_id, job, future=True)

    def remove_member(self, channel_id: int) -> Channel | None:
        """Drop a closed channel from the group."""
        return self.members.pop(channel_id, None)

    def set_group_channel(self) -> SetGroupChannel:
        """``SetGroupChannel`` listing the current members (SRI never sends it)."""
        return SetGroupChannel(
            group_channel_id=self.group_channel_id, channel_ids=tuple(self.members)
        )

    def future_jobs(self) -> list[tuple[int, MiningJob]]:
        """The group's future jobs still waiting for their tip, as ``(job_id, job)``."""
        return list(self._future.items())

    def future_job_id(self, template_id: int) -> int | None:
        """Id of the group's future job for ``template_id``, if it sent one."""
        return self._future_by_template.get(template_id)

    def new_job(self, job: MiningJob, future: bool, now: float) -> NewExtendedMiningJob:
        """Give ``job`` a group job id, record it on every member; the message to send."""
        job_id = self.job_ids.next()
        min_ntime: int | None = None
        if future:
            self._future[job_id] = job
            if job.template_id is not None:
                self._future_by_template[job.template_id] = job_id
        for channel in self.members.values():
            channel.add_job(job_id, job, future)
            if not future and min_ntime is None:
                min_ntime = channel.min_ntime_for_new_job(now)
        if not future and min_ntime is None:
            min_ntime = int(now)
        return extended_job_message(self.group_channel_id, job_id, job, min_ntime)

    def on_new_prev_hash(self, tip: ChainTip) -> list[SetTarget | SetNewPrevHashMining]:
        """Activate the group's future job for the tip on every member; the messages to send.

        A member whose target the new network target changed gets its own ``SetTarget``
        first.
        """
        job_id = self._future_by_template.get(tip.template_id)
        if job_id is None:
            raise NoTemplateError(f"group has no future job for template {tip.template_id}")
        messages: list[SetTarget | SetNewPrevHashMining] = []
        job = self._future[job_id]
        for channel in self.members.values():
            if not channel.has_future_job(job_id):
                # It joined after the job was sent and its own first job replaced it.
                channel.add_job(job_id, job, future=True)
            set_target = channel.activate(job_id, tip)
            if set_target is not None:
                messages.append(set_target)
        self._future.clear()
        self._future_by_template.clear()
        messages.append(
            SetNewPrevHashMining(
                channel_id=self.group_channel_id,
                job_id=job_id,
                prev_hash=tip.prev_hash,
                min_ntime=tip.min_ntime,
                nbits=tip.nbits,
            )
        )
        return messages
