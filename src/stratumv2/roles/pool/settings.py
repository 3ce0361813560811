"""``sv2 pool`` settings (``config-examples/pool.toml``); every key is also a flag."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from stratumv2.app.config import Settings
from stratumv2.app.options import parse_host_port
from stratumv2.bitcoin.address import address_to_script
from stratumv2.mining.vardiff import VardiffConfig
from stratumv2.roles.pool.core import PoolConfig
from stratumv2.roles.template_provider.ports import with_default_tp

__all__ = ["DEFAULT_LISTEN", "DEFAULT_SV2_LISTEN", "PoolSettings", "VardiffSettings"]

DEFAULT_LISTEN = "0.0.0.0:3333"
DEFAULT_SV2_LISTEN = "0.0.0.0:34254"


class VardiffSettings(Settings):
    """``[vardiff]``: per-channel variable difficulty (see :mod:`stratumv2.mining.vardiff`)."""

    enabled: bool = True
    min_difficulty: float = Field(default=1e-6, gt=0, description="easiest share difficulty")
    max_difficulty: float = Field(default=0.0, ge=0, description="hardest; 0 = no limit")
    min_hashrate: float = Field(default=1e6, gt=0, description="start estimate, H/s")


class PoolSettings(Settings):
    """Everything ``sv2 pool`` reads; flags override the file."""

    network: Literal["main", "testnet4", "signet", "regtest"] = "main"
    listen: str | None = Field(
        default=DEFAULT_LISTEN, description="HOST:PORT for devices, SV1 and SV2 alike; '' = off"
    )
    sv2_listen: str | None = Field(
        default=DEFAULT_SV2_LISTEN, description="SV2-only port; '' = off"
    )
    datadir: str = "~/.stratumv2/pool"
    authority_secret_key: str | None = None
    tp: str = Field(
        default="",
        description="Template Provider HOST:PORT (default: 127.0.0.1 on the network's sv2-tp port)",
    )
    tp_authority_key: str | None = Field(default=None, description="TP's key; none = unchecked")
    address: str | None = Field(default=None, description="payout address (required)")
    mode: Literal["solo", "pool"] = "solo"
    pool_tag: str = Field(default="stratumv2", max_length=32)
    share_batch_size: int = Field(default=10, ge=1, le=10_000)
    sv1_device_hashrate: float = Field(
        default=1e12, gt=0, description="H/s assumed for a new SV1 device (vardiff then adapts)"
    )
    shares_per_minute: float = Field(default=18.0, gt=0)
    max_past_jobs: int = Field(default=16, ge=0)
    server_id: int = Field(default=0, ge=0, le=255)
    share_rate: float = Field(default=10_000.0, gt=0, description="messages/s per connection")
    share_burst: float = Field(default=20_000.0, ge=1)
    flood_disconnect: int = Field(default=1000, ge=1, description="refusals in a row -> close")
    max_connections: int = Field(default=10_000, ge=1)
    max_connections_per_address: int = Field(default=256, ge=1)
    max_frame_size: int = Field(default=1 << 16, ge=256, description="largest frame payload")
    max_write_backlog: int = Field(default=4 << 20, ge=1 << 16, description="bytes; then close")
    idle_timeout: float | None = Field(default=None, gt=0, description="close silent miners")
    jds_listen: str | None = Field(default=None, description="embedded JDS HOST:PORT")
    rpcurl: str | None = Field(default=None, description="node RPC for the embedded JDS")
    rpccookiefile: str | None = None
    rpcuser: str | None = None
    rpcpassword: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool = False
    vardiff: VardiffSettings = VardiffSettings()

    @field_validator("listen", "sv2_listen")
    @classmethod
    def _optional_host_port(cls, value: str | None) -> str | None:
        if value:
            parse_host_port(value)
        return value or None

    @field_validator("tp")
    @classmethod
    def _host_port(cls, value: str) -> str:
        parse_host_port(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_tp(cls, data: Any) -> Any:
        return with_default_tp(data)

    @model_validator(mode="after")
    def _check(self) -> PoolSettings:
        if not self.address:
            raise ValueError("address: a payout address is required (--address)")
        try:
            address_to_script(self.address, self.network)
        except ValueError as exc:
            raise ValueError(f"address: {exc}") from None
        if self.jds_listen:  # the embedded JDS (roles/jd_server) checks jobs on a node
            try:
                parse_host_port(self.jds_listen)
            except ValueError as exc:
                raise ValueError(f"jds_listen: {exc}") from None
            if not self.rpcurl:
                raise ValueError("jds_listen: the embedded JDS needs the node's --rpcurl")
        if not (self.listen or self.sv2_listen):
            raise ValueError("listen / sv2_listen: at least one must be set")
        return self

    def datadir_path(self) -> Path:
        """The data directory, expanded."""
        return Path(self.datadir).expanduser()

    def tp_address(self) -> tuple[str, int]:
        """``tp`` as ``(host, port)``."""
        return parse_host_port(self.tp)

    def pool_config(self) -> PoolConfig:
        """The core's configuration."""
        assert self.address is not None
        vd = self.vardiff
        vardiff = (
            VardiffConfig(
                shares_per_minute=self.shares_per_minute,
                min_difficulty=vd.min_difficulty,
                max_difficulty=vd.max_difficulty,
                min_hashrate=vd.min_hashrate,
            )
            if vd.enabled
            else None
        )
        return PoolConfig(
            payout_script=address_to_script(self.address, self.network),
            network=self.network,
            mode=self.mode,
            pool_tag=self.pool_tag,
            share_batch_size=self.share_batch_size,
            shares_per_minute=self.shares_per_minute,
            vardiff=vardiff,
            server_id=self.server_id,
            max_past_jobs=self.max_past_jobs,
            share_rate=self.share_rate,
            share_burst=self.share_burst,
            flood_disconnect=self.flood_disconnect,
        )
