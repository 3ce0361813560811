"""Shared vectors for the bitcoin primitive tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

VECTORS = Path(__file__).resolve().parent / "data"  # copies of shared/vectors (data/README.md)


@pytest.fixture(scope="session")
def block_413567_raw() -> bytes:
    """Mainnet block 413567 (Bitcoin Core's benchmark data, bench/data/block413567.raw)."""
    return (VECTORS / "mainnet-block-413567.raw").read_bytes()


@pytest.fixture(scope="session")
def block_702861_raw() -> bytes:
    """Mainnet block 702861, a segwit block (rust-bitcoin's test data, see data/README.md)."""
    return (VECTORS / "mainnet-block-702861.raw").read_bytes()


@pytest.fixture(scope="session")
def regtest_gbt() -> dict[str, Any]:
    """A real getblocktemplate answer from Bitcoin Core v31.1 on regtest."""
    data: dict[str, Any] = json.loads(
        (VECTORS / "regtest-getblocktemplate-bitcoind-v31.1.json").read_text()
    )
    return data
