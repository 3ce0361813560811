"""Vector loaders for the Noise tests (data files named in data/README.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def noise_vector() -> dict[str, Any]:
    """02-noise-test-vectors.json (SV2 digest 02 §9)."""
    data: dict[str, Any] = json.loads((DATA / "02-noise-test-vectors.json").read_text())
    return data


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA
