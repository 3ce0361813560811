"""A real headless Chromium (Debian's ``chromium``) driven by Playwright for Python.

The session fixture installs the package when /usr/bin/chromium is missing; the tests are
skipped, saying why, only if that install fails or Playwright is not installed.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium_path() -> Iterator[str]:
    """/usr/bin/chromium, installed with apt-get if missing."""
    if not CHROMIUM.exists():
        if shutil.which("apt-get") is None:
            pytest.skip("chromium is not installed and apt-get is not available")
        try:
            result = subprocess.run(
                ["apt-get", "install", "-y", "chromium"],
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            if result.returncode != 0:  # the package lists may be missing: update once
                subprocess.run(["apt-get", "update"], capture_output=True, timeout=600, check=False)
                result = subprocess.run(
                    ["apt-get", "install", "-y", "chromium"],
                    capture_output=True,
                    text=True,
                    timeout=900,
                    check=False,
                )
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"cannot install chromium: {exc}")
        if result.returncode != 0 or not CHROMIUM.exists():
            pytest.skip(f"apt-get install chromium failed: {result.stderr.strip()[-300:]}")
    yield str(CHROMIUM)


@pytest.fixture
def chromium_args() -> list[str]:
    return list(CHROMIUM_ARGS)
