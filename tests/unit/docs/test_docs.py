"""The documentation cannot rot silently.

* every ``--flag`` written in ``docs/roles/ROLE.md`` appears in ``sv2 ROLE --help`` (a flag
  after ``sv2 OTHER`` on the same backslash-joined line is checked against ``sv2 OTHER``, in
  every page listed here), and every flag of ``sv2 ROLE --help`` is documented on its page;
* every ``sv2 NAME`` a page mentions is a real sub-command, and every role page has one;
* the ```toml blocks of role pages load with that role's settings model;
* the ```python examples of protocol.md run, and its message table matches the codec.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from click.testing import CliRunner

from stratumv2.app.cli import main

DOCS = Path(__file__).resolve().parents[3] / "docs"
ROLE_PAGES = sorted((DOCS / "roles").glob("*.md"))
OWN_PAGES = [DOCS / n for n in ("README.md", "design.md", "protocol.md", "benchmarks.md")]

FLAG = re.compile(r"--[a-z][a-z0-9-]+")
COMMAND = re.compile(r"\bsv2 ([a-z][a-z0-9-]*)")
# words that follow "sv2 " in prose without being a sub-command
NOT_COMMANDS = {"role", "roles", "and", "or", "is", "the", "as", "in", "on", "to", "a"}


@cache
def help_text(command: str) -> str | None:
    """``sv2 COMMAND --help``, or None when there is no such command."""
    result = CliRunner().invoke(main, [command, "--help"])
    if result.exit_code != 0:
        return None
    return result.output


def help_flags(command: str) -> set[str]:
    text = help_text(command)
    assert text is not None, f"no command `sv2 {command}`"
    options = text.split("\nOptions:", 1)[-1]  # not the flags a description mentions
    return set(FLAG.findall(options)) | {"--help"}


def logical_lines(text: str) -> list[str]:
    """Lines with shell continuations (a trailing backslash) joined."""
    return text.replace("\\\n", " ").splitlines()


def flag_uses(text: str, default: str | None) -> list[tuple[str, str]]:
    """(command, flag) for every flag: the last ``sv2 X`` before it on its line, or default."""
    uses = []
    for line in logical_lines(text):
        commands = [
            (m.start(), m.group(1))
            for m in COMMAND.finditer(line)
            if m.group(1) not in NOT_COMMANDS
        ]
        for flag in FLAG.finditer(line):
            owner = default
            for start, name in commands:
                if start < flag.start():
                    owner = name
            if owner is not None:
                uses.append((owner, flag.group()))
    return uses


def test_there_are_role_pages() -> None:
    names = {p.stem for p in ROLE_PAGES}
    assert {"tp", "pool", "translator", "miner", "keygen", "regtest-node"} <= names


@pytest.mark.parametrize("page", ROLE_PAGES, ids=lambda p: p.stem)
def test_role_page_is_a_command(page: Path) -> None:
    assert help_text(page.stem) is not None, f"{page.name}: no command `sv2 {page.stem}`"


@pytest.mark.parametrize("page", ROLE_PAGES + OWN_PAGES, ids=lambda p: p.name)
def test_flags_exist(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    default = page.stem if page.parent.name == "roles" else None
    missing = sorted(
        {f"sv2 {cmd} {flag}" for cmd, flag in flag_uses(text, default) if not cmd_has(cmd, flag)}
    )
    assert not missing, f"{page.name} names flags the commands do not have: {missing}"


@pytest.mark.parametrize("page", ROLE_PAGES + OWN_PAGES, ids=lambda p: p.name)
def test_commands_exist(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    named = {m.group(1) for m in COMMAND.finditer(text)} - NOT_COMMANDS
    unknown = sorted(name for name in named if help_text(name) is None)
    assert not unknown, f"{page.name} names commands that do not exist: {unknown}"


def cmd_has(command: str, flag: str) -> bool:
    if help_text(command) is None:
        return False
    return flag in help_flags(command)


def test_checker_catches_a_wrong_flag() -> None:
    """The checker itself: an invented flag is reported, a real one is not."""
    uses = flag_uses("sv2 pool --listen 0.0.0.0:3333 --no-such-flag\nuse --mode", "tp")
    assert ("pool", "--listen") in uses and ("tp", "--mode") in uses
    assert cmd_has("pool", "--listen")
    assert not cmd_has("pool", "--no-such-flag")
    assert not cmd_has("tp", "--mode")


PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


@pytest.mark.parametrize("page", ["protocol.md"])
def test_python_examples_run(page: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Every ```python block of the page runs as written (loopback only, port 0)."""
    blocks = PYTHON_BLOCK.findall((DOCS / page).read_text(encoding="utf-8"))
    assert blocks, f"{page} has no python examples"
    for number, code in enumerate(blocks, start=1):
        exec(compile(code, f"{page}[python block {number}]", "exec"), {"__name__": "__docs__"})


def test_message_table_matches_the_codec() -> None:
    """protocol.md's table lists every registered message with its type and channel bit."""
    from stratumv2.protocol import registered_classes

    rows = re.findall(
        r"^\| [^|]+ \| 0x([0-9a-f]{4}) \| 0x([0-9a-f]{2}) \| `(\w+)` \| (yes)? ?\|$",
        (DOCS / "protocol.md").read_text(encoding="utf-8"),
        re.M,
    )
    documented = {(int(e, 16), int(t, 16), name, bool(bit)) for e, t, name, bit in rows}
    actual = {
        (c.EXTENSION_TYPE, c.MSG_TYPE, c.__name__, c.CHANNEL_MSG) for c in registered_classes()
    }
    assert documented == actual


@pytest.mark.parametrize("page", ROLE_PAGES, ids=lambda p: p.stem)
def test_every_flag_is_documented(page: Path) -> None:
    """Each flag of ``sv2 ROLE --help`` appears on the role's page (new flags get documented)."""
    text = page.read_text(encoding="utf-8")
    written = {flag for cmd, flag in flag_uses(text, page.stem) if cmd == page.stem}
    undocumented = sorted(help_flags(page.stem) - written - {"--help"})
    assert not undocumented, f"{page.name} does not document {undocumented}"


TOML_BLOCK = re.compile(r"```toml\n(.*?)```", re.S)


@pytest.mark.parametrize("page", ROLE_PAGES, ids=lambda p: p.stem)
def test_config_examples_load(page: Path, tmp_path: Path) -> None:
    """Each ```toml block of a role page is a valid config for that role's settings."""
    from stratumv2.app.commands.config_cmd import settings_model
    from stratumv2.app.config import load_config

    blocks = TOML_BLOCK.findall(page.read_text(encoding="utf-8"))
    if page.stem == "keygen":
        assert not blocks
        return
    assert blocks, f"{page.name} has no minimal config"
    for number, text in enumerate(blocks, start=1):
        path = tmp_path / f"{page.stem}-{number}.toml"
        path.write_text(text, encoding="utf-8")
        load_config(settings_model(page.stem), path)
