"""``sv2 translator``: Stratum V1 devices (Bitaxe, cpuminer, cgminer) on an SV2 pool.

:class:`~.core.TranslatorCore` maps SV1 sessions onto SV2 extended channels (sans-IO);
:class:`~.service.TranslatorService` runs it over sockets or in-process pipes.
"""

from stratumv2.roles.translator.core import (
    Action,
    CloseDevice,
    DeviceData,
    DeviceStats,
    SendUpstream,
    TranslatorConfig,
    TranslatorCore,
)

__all__ = [
    "Action",
    "CloseDevice",
    "DeviceData",
    "DeviceStats",
    "SendUpstream",
    "TranslatorConfig",
    "TranslatorCore",
]
