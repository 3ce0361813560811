"""``sv2 jdc`` settings (``config-examples/jdc.toml``); every key is also a flag."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from stratumv2.app.config import Settings
from stratumv2.app.notify import NotifySettings
from stratumv2.app.options import parse_host_port
from stratumv2.bitcoin.address import address_to_script
from stratumv2.mining.vardiff import VardiffConfig
from stratumv2.net.client import Endpoint
from stratumv2.roles.jd_client.core import JdcConfig
from stratumv2.roles.template_provider.ports import with_default_tp

__all__ = ["DEFAULT_JDC_LISTEN", "JdcSettings"]

DEFAULT_JDC_LISTEN = "0.0.0.0:34265"  # SRI's JDC downstream port


class JdcSettings(Settings):
    """Everything ``sv2 jdc`` reads; flags override the file."""

    network: Literal["main", "testnet4", "signet", "regtest"] = "main"
    listen: str = Field(default=DEFAULT_JDC_LISTEN, description="HOST:PORT for your miners")
    datadir: str = "~/.stratumv2/jdc"
    authority_secret_key: str | None = None
    tp: str = Field(
        default="",
        description="your own Template Provider (default: 127.0.0.1 on the network's sv2-tp port)",
    )
    tp_authority_key: str | None = None
    jds: str | None = Field(default=None, description="the pool's Job Declaration server")
    jds_authority_key: str | None = None
    upstream: str | None = Field(default=None, description="the pool's mining port")
    upstream_authority_key: str | None = None
    address: str | None = Field(default=None, description="your address (solo fallback)")
    user_identity: str = Field(default="jdc", min_length=1, max_length=255)
    miner_tag: str = Field(default="stratumv2-jdc", max_length=32)
    downstream_extranonce_size: int = Field(default=12, ge=4, le=24)
    nominal_hash_rate: float = Field(default=1e12, ge=0, description="H/s told to the pool")
    return_to_pool: bool = True
    retry_after: float = Field(
        default=10.0, gt=0, description="s before retrying a pool that refused"
    )
    shares_per_minute: float = Field(default=18.0, gt=0)
    vardiff: bool = True
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool = False
    metrics: str | None = Field(default=None, description="HOST:PORT serving /metrics")
    notify: NotifySettings = NotifySettings()
    """``[notify]``: webhook / ntfy targets; each pool <-> solo switch is an
    ``upstream_failover`` notification."""

    @field_validator("listen", "tp")
    @classmethod
    def _host_port(cls, value: str) -> str:
        parse_host_port(value)
        return value

    @field_validator("jds", "upstream", "metrics")
    @classmethod
    def _optional_host_port(cls, value: str | None) -> str | None:
        if value:
            parse_host_port(value)
        return value or None

    @model_validator(mode="before")
    @classmethod
    def _default_tp(cls, data: Any) -> Any:
        return with_default_tp(data)

    @model_validator(mode="after")
    def _check(self) -> JdcSettings:
        if not self.address:
            raise ValueError("address: your payout address (solo fallback) is required")
        try:
            address_to_script(self.address, self.network)
        except ValueError as exc:
            raise ValueError(f"address: {exc}") from None
        if bool(self.jds) != bool(self.upstream):
            raise ValueError("jds / upstream: give both (pool mode) or neither (solo only)")
        return self

    def datadir_path(self) -> Path:
        """The data directory, expanded."""
        return Path(self.datadir).expanduser()

    def endpoints(self) -> tuple[Endpoint | None, Endpoint | None]:
        """The JDS and the pool (None when solo only)."""
        if not (self.jds and self.upstream):
            return None, None
        jds_host, jds_port = parse_host_port(self.jds)
        pool_host, pool_port = parse_host_port(self.upstream)
        return (
            Endpoint(jds_host, jds_port, self.jds_authority_key),
            Endpoint(pool_host, pool_port, self.upstream_authority_key),
        )

    def jdc_config(self) -> JdcConfig:
        """The core's configuration."""
        assert self.address is not None
        return JdcConfig(
            solo_script=address_to_script(self.address, self.network),
            network=self.network,
            user_identity=self.user_identity,
            miner_tag=self.miner_tag,
            downstream_extranonce_size=self.downstream_extranonce_size,
            nominal_hash_rate=self.nominal_hash_rate,
            retry_after=self.retry_after,
            return_to_pool=self.return_to_pool,
            shares_per_minute=self.shares_per_minute,
            vardiff=VardiffConfig(shares_per_minute=self.shares_per_minute)
            if self.vardiff
            else None,
        )
