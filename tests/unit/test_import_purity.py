"""The core packages are sans-IO: they must not import asyncio, socket, time or random."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "stratumv2"
CORE = ["protocol", "noise", "bitcoin", "mining", "sv1"]
FORBIDDEN = {"asyncio", "socket", "time", "random", "selectors", "threading", "datetime"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", CORE)
def test_core_package_is_sans_io(package: str) -> None:
    files = sorted((SRC / package).rglob("*.py"))
    assert files, f"core package {package} has no modules"
    offenders = {
        str(f.relative_to(SRC)): sorted(_imports(f) & FORBIDDEN)
        for f in files
        if _imports(f) & FORBIDDEN
    }
    assert not offenders, f"core modules import I/O or clocks: {offenders}"


def test_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import asyncio\nfrom time import monotonic\nimport os.path\n")
    assert _imports(bad) & FORBIDDEN == {"asyncio", "time"}
