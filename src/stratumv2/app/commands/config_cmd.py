"""``sv2 config``: print a role's commented example config, or check a config file.

``sv2 config example ROLE`` prints ``config-examples/ROLE.toml``; ``sv2 config check FILE``
loads FILE with its role's settings model (the role is FILE's name, e.g. ``pool.toml``, or
``--role``) and prints the errors naming key, file, line and what was expected.
"""

from __future__ import annotations

import importlib
import inspect
from importlib import resources
from pathlib import Path

import click
from pydantic import BaseModel

from stratumv2.app.config import ConfigError, Settings, load_config

__all__ = ["command", "example_files", "examples_dir", "settings_model"]

# Where each role's settings model lives, tried in order (``{mod}`` = role with "-" as "_").
_MODEL_MODULES = (
    "stratumv2.app.commands.{mod}",
    "stratumv2.roles.{mod}.settings",
    "stratumv2.app.bundles",
)


def examples_dir() -> Path:
    """The shipped examples: package data when installed that way, else the source tree's."""
    try:
        packaged = resources.files("stratumv2.app") / "config_examples"
        if packaged.is_dir():
            return Path(str(packaged))
    except (ModuleNotFoundError, FileNotFoundError):
        pass
    return Path(__file__).resolve().parents[4] / "config-examples"


def example_files() -> dict[str, Path]:
    """Role name -> example file."""
    directory = examples_dir()
    if not directory.is_dir():
        return {}
    return {p.stem: p for p in sorted(directory.glob("*.toml"))}


def settings_model(role: str) -> type[Settings]:
    """The settings model of ``role`` (``pool`` -> PoolSettings, ``regtest-node`` -> ...)."""
    wanted = role.replace("-", "").replace("_", "").lower() + "settings"
    mod = role.replace("-", "_")
    for template in _MODEL_MODULES:
        try:
            module = importlib.import_module(template.format(mod=mod))
        except ModuleNotFoundError:
            continue
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if name.lower() == wanted and issubclass(obj, BaseModel) and issubclass(obj, Settings):
                return obj
    raise KeyError(f"no settings model for role {role!r}")


@click.group("config")
def command() -> None:
    """Example configs and config checks.

    \b
    sv2 config example solo > solo.toml     a commented example to start from
    sv2 config check solo.toml              validate a file (role from its name, or --role)
    """


@command.command("example")
@click.argument("role")
def example(role: str) -> None:
    """Print the commented example config of ROLE."""
    files = example_files()
    if role not in files:
        known = ", ".join(files) or "none found"
        raise click.ClickException(f"no example for {role!r} (examples: {known})")
    click.echo(files[role].read_text(encoding="utf-8"), nl=False)


@command.command("list")
def list_examples() -> None:
    """List the roles that have an example config."""
    for role in example_files():
        click.echo(role)


@command.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--role", default=None, help="The role the file is for (default: its name).")
def check(file: str, role: str | None) -> None:
    """Load FILE with its role's settings; print what is wrong, or "ok"."""
    role = role or Path(file).stem
    try:
        model = settings_model(role)
    except KeyError as exc:
        raise click.ClickException(f"{exc.args[0]}; give --role") from None
    try:
        load_config(model, file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{file}: ok ({role})")
