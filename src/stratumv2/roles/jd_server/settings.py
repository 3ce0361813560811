"""``sv2 jds`` settings (``config-examples/jds.toml``); every key is also a flag."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from stratumv2.app.config import Settings
from stratumv2.app.options import parse_host_port
from stratumv2.bitcoin.address import address_to_script
from stratumv2.bitcoin.tx import TxOut
from stratumv2.roles.jd_server.core import JdsConfig

__all__ = ["DEFAULT_JDS_LISTEN", "JdsSettings", "jds_config_for"]

DEFAULT_JDS_LISTEN = "0.0.0.0:34264"  # SRI's standalone JDS port


class JdsSettings(Settings):
    """Everything ``sv2 jds`` reads; flags override the file."""

    network: Literal["main", "testnet4", "signet", "regtest"] = "main"
    listen: str = Field(default=DEFAULT_JDS_LISTEN, description="HOST:PORT for JD clients")
    datadir: str = "~/.stratumv2/jds"
    authority_secret_key: str | None = None
    address: str | None = Field(default=None, description="the pool's payout address")
    rpcurl: str | None = None
    rpccookiefile: str | None = None
    rpcuser: str | None = None
    rpcpassword: str | None = None
    token_lifetime: float = Field(default=600.0, gt=0, description="seconds a token lives")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool = False

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        parse_host_port(value)
        return value

    @model_validator(mode="after")
    def _check(self) -> JdsSettings:
        if not self.address:
            raise ValueError("address: the pool's payout address is required (--address)")
        try:
            address_to_script(self.address, self.network)
        except ValueError as exc:
            raise ValueError(f"address: {exc}") from None
        return self

    def datadir_path(self) -> Path:
        """The data directory, expanded."""
        return Path(self.datadir).expanduser()

    def jds_config(self) -> JdsConfig:
        """The core's configuration: the pool's payout as the one coinbase output."""
        assert self.address is not None
        return jds_config_for(self.address, self.network)


def jds_config_for(address: str, network: str) -> JdsConfig:
    """A JDS paying ``address`` (the pool's payout) as the one coinbase output."""
    return JdsConfig(coinbase_outputs=(TxOut(0, address_to_script(address, network)),))
