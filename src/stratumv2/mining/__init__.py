"""stratumv2.mining: sans-IO mining core (channels, jobs, extranonce, shares, vardiff, policy).

Server side, one pool: a :class:`JobFactory` (templates -> jobs), an
:class:`ExtranonceAllocator`, and per downstream connection a :class:`ServerChannels`
(standard / extended / group channels, share validation returning :mod:`.shares` results).
"""

from stratumv2.mining.channel import ChannelConfig
from stratumv2.mining.errors import ChannelOpenError, MiningError, NoTemplateError
from stratumv2.mining.extended import ExtendedChannel
from stratumv2.mining.extranonce import ExtranonceAllocation, ExtranonceAllocator
from stratumv2.mining.group import GroupChannel
from stratumv2.mining.jobs import ChainTip, JobFactory, MiningJob, Payout
from stratumv2.mining.server import ServerChannels
from stratumv2.mining.shares import BlockFound, Rejected, ShareResult, Valid, solve_header
from stratumv2.mining.standard import StandardChannel

__all__ = [
    "BlockFound",
    "ChainTip",
    "ChannelConfig",
    "ChannelOpenError",
    "ExtendedChannel",
    "ExtranonceAllocation",
    "ExtranonceAllocator",
    "GroupChannel",
    "JobFactory",
    "MiningError",
    "MiningJob",
    "NoTemplateError",
    "Payout",
    "Rejected",
    "ServerChannels",
    "ShareResult",
    "StandardChannel",
    "Valid",
    "solve_header",
]
