"""The ``sv2`` command line: one entry point, one sub-command per role.

Sub-commands live in :mod:`stratumv2.app.commands`; every module there that defines a
``command`` attribute (a :class:`click.Command`) is added here, so a new role adds a file
and touches nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil

import click

from stratumv2 import __version__
from stratumv2.app import commands as _commands_pkg


class _RoleGroup(click.Group):
    """A click group that discovers its sub-commands lazily from ``app.commands``."""

    def _discover(self) -> dict[str, click.Command]:
        found: dict[str, click.Command] = {}
        for info in pkgutil.iter_modules(_commands_pkg.__path__):
            module = importlib.import_module(f"{_commands_pkg.__name__}.{info.name}")
            cmd = getattr(module, "command", None)
            if isinstance(cmd, click.Command) and cmd.name:
                found[cmd.name] = cmd
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._discover()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or self._discover().get(cmd_name)


@click.group(cls=_RoleGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sv2")
def main() -> None:
    """Stratum V2 mining stack: every role of the protocol in one command.

    \b
    Bundles:      sv2 solo (your node + your devices), sv2 demo (embedded regtest)
    Roles:        sv2 tp, sv2 pool, sv2 translator, sv2 jdc, sv2 jds, sv2 miner
    Tools:        sv2 regtest-node, sv2 keygen, sv2 config

    Run `sv2 ROLE --help` for a role's flags. Every role reads `--config FILE` (TOML);
    a flag given on the command line overrides the file.
    """
