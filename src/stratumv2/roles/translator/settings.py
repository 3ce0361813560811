"""``sv2 translator`` settings (``config-examples/translator.toml``); every key is also a flag."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from stratumv2.app.config import Settings
from stratumv2.app.notify import NotifySettings
from stratumv2.app.options import parse_host_port
from stratumv2.mining.vardiff import VardiffConfig
from stratumv2.net.client import Endpoint
from stratumv2.roles.translator.core import TranslatorConfig
from stratumv2.sv1 import SessionConfig

__all__ = ["DEFAULT_LISTEN", "TranslatorSettings", "VardiffSettings"]

DEFAULT_LISTEN = "0.0.0.0:34255"
"""SRI's translator port (shared/sv2-spec/05 §3.1)."""


class VardiffSettings(Settings):
    """``[vardiff]``: per-device difficulty (``mining.set_difficulty``)."""

    enabled: bool = True
    shares_per_minute: float = Field(default=18.0, gt=0, description="goal share rate")
    min_difficulty: float = Field(default=1e-6, gt=0, description="easiest share difficulty")
    max_difficulty: float = Field(default=0.0, ge=0, description="hardest; 0 = no limit")
    min_hashrate: float = Field(default=1e6, gt=0, description="start estimate floor, H/s")


class TranslatorSettings(Settings):
    """Everything ``sv2 translator`` reads; flags override the file."""

    network: Literal["main", "testnet4", "signet", "regtest"] = "main"
    listen: str = Field(default=DEFAULT_LISTEN, description="HOST:PORT for SV1 devices")
    upstream: list[str] = Field(default_factory=list, description="SV2 HOST:PORT, in order")
    upstream_authority_key: str | None = Field(
        default=None, description="the upstreams' authority public key (none = unchecked)"
    )
    datadir: str = "~/.stratumv2/translator"
    aggregate: bool = Field(default=False, description="all devices on one extended channel")
    user_identity: str | None = Field(
        default=None, description="channel user identity; none = each device's username"
    )
    extranonce2_size: int = Field(default=4, ge=1, le=16, description="SV1 extranonce2 bytes")
    device_hashrate: float = Field(default=1e12, gt=0, description="nominal H/s per device")
    on_upstream_loss: Literal["reconnect", "wait"] = Field(
        default="reconnect", description="client.reconnect the devices, or keep them waiting"
    )
    health_interval: float = Field(default=30.0, gt=0, description="probe preferred upstreams")
    identity_wait: float = Field(default=1.0, ge=0, description="s to wait for authorize")
    version_mask: str = Field(default="1fffe000", description="version-rolling mask (hex)")
    max_connections: int = Field(default=10_000, ge=1)
    max_connections_per_address: int = Field(default=256, ge=1)
    idle_timeout: float | None = Field(default=600.0, gt=0, description="close silent devices")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool = False
    vardiff: VardiffSettings = VardiffSettings()
    metrics: str | None = Field(default=None, description="HOST:PORT serving /metrics")
    notify: NotifySettings = NotifySettings()
    """``[notify]``: webhook / ntfy targets; the translator sends ``upstream_failover``."""

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        parse_host_port(value)
        return value

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, value: str | None) -> str | None:
        if value:
            parse_host_port(value)
        return value or None

    @field_validator("upstream")
    @classmethod
    def _host_ports(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_host_port(item)
        return value

    @field_validator("version_mask")
    @classmethod
    def _mask(cls, value: str) -> str:
        mask = int(value, 16)
        if not 0 <= mask <= 0xFFFFFFFF or mask & ~0x1FFFFFE0:
            raise ValueError("mask must be a hex u32 inside 1fffffe0")
        return value

    @model_validator(mode="after")
    def _check(self) -> TranslatorSettings:
        if not self.upstream:
            raise ValueError("give at least one upstream (--upstream HOST:PORT)")
        return self

    def endpoints(self) -> list[Endpoint]:
        """The upstreams in order, each checked against the authority key."""
        return [
            Endpoint(*parse_host_port(text), authority=self.upstream_authority_key)
            for text in self.upstream
        ]

    def translator_config(self) -> TranslatorConfig:
        """The core's settings."""
        vardiff = None
        if self.vardiff.enabled:
            vardiff = VardiffConfig(
                shares_per_minute=self.vardiff.shares_per_minute,
                min_hashrate=self.vardiff.min_hashrate,
                min_difficulty=self.vardiff.min_difficulty,
                max_difficulty=self.vardiff.max_difficulty,
            )
        host, port = parse_host_port(self.upstream[0])
        return TranslatorConfig(
            aggregate=self.aggregate,
            user_identity=self.user_identity,
            extranonce2_size=self.extranonce2_size,
            device_hashrate=self.device_hashrate,
            vardiff=vardiff,
            session=SessionConfig(
                version_mask=int(self.version_mask, 16),
                min_difficulty=min(self.vardiff.min_difficulty, 1e-9),
            ),
            identity_wait=self.identity_wait,
            upstream_host=host,
            upstream_port=port,
        )
