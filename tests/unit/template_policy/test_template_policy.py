"""Template policy on real transactions and Bitcoin Core's own getblocktemplate answer."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from stratumv2.mining.template_policy import (
    EXCLUDED,
    FEE_RATE,
    OP_RETURN,
    WEIGHT,
    WITH_ANCESTOR,
    Policy,
    Removed,
    apply_policy,
    op_return_data_size,
)

P2WPKH_SCRIPT = bytes.fromhex("0014") + bytes(20)
# Source: a real `getblocktemplate {"rules":["segwit"]}` from Bitcoin Core v31.1 (regtest),
# copied from shared/vectors into this folder's data/ (see data/README.md).
VECTOR = Path(__file__).resolve().parent / "data" / "regtest-getblocktemplate-bitcoind-v31.1.json"


def txids_of(template: dict[str, Any]) -> list[str]:
    return [tx["txid"] for tx in template["transactions"]]


def independent_commitment_hex(wtxids_rpc_hex: list[str]) -> str:
    """BIP141 written out with hashlib only: merkle of wtxids (coinbase = 0), then commit."""

    def dsha(b: bytes) -> bytes:
        return hashlib.sha256(hashlib.sha256(b).digest()).digest()

    level = [bytes(32)] + [bytes.fromhex(h)[::-1] for h in wtxids_rpc_hex]
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [dsha(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return "6a24aa21a9ed" + dsha(level[0] + bytes(32)).hex()


def check_consistent(template: dict[str, Any]) -> None:
    """Depends point backwards at kept txs; the commitment matches the kept wtxids."""
    txs = template["transactions"]
    for n, tx in enumerate(txs, start=1):
        assert all(1 <= d < n for d in tx["depends"])
    assert template["default_witness_commitment"] == independent_commitment_hex(
        [tx["hash"] for tx in txs]
    )


def test_empty_policy_is_identity_on_bitcoind_template() -> None:
    gbt = json.loads(VECTOR.read_text())
    before = copy.deepcopy(gbt)
    result = apply_policy(gbt, Policy())
    assert result.template == before
    assert result.removed == ()
    assert gbt == before  # input untouched


def test_recomputed_commitment_matches_bitcoind(builder: Any) -> None:
    # a no-op but non-empty policy recomputes the commitment: must equal bitcoind's own
    gbt = json.loads(VECTOR.read_text())
    result = apply_policy(gbt, Policy(min_fee_rate=1.0))
    assert result.removed == ()
    assert result.template["default_witness_commitment"] == gbt["default_witness_commitment"]
    assert (
        independent_commitment_hex([t["hash"] for t in gbt["transactions"]])
        == (gbt["default_witness_commitment"])
    )


def test_excluding_bitcoind_tx_updates_value_and_commitment() -> None:
    gbt = json.loads(VECTOR.read_text())
    txid = gbt["transactions"][0]["txid"]
    result = apply_policy(gbt, Policy(excluded_txids=frozenset({txid.upper()})))
    assert result.removed == (Removed(txid, EXCLUDED),)
    assert result.template["transactions"] == []
    assert result.template["coinbasevalue"] == 5_000_000_000
    # BIP141 with no transactions: commitment to the coinbase's zero wtxid alone
    assert result.template["default_witness_commitment"] == independent_commitment_hex([])


def test_excluded_parent_takes_children_and_grandchildren(builder: Any) -> None:
    a = builder.add(1000)
    b = builder.add(1000, parents=[a])
    c = builder.add(1000, parents=[b])
    d = builder.add(1000)
    e = builder.add(1000, parents=[d, b])
    f = builder.add(1000, parents=[d])
    gbt = builder.template()
    result = apply_policy(gbt, Policy(excluded_txids=frozenset({builder.txid(a)})))
    assert txids_of(result.template) == [builder.txid(d), builder.txid(f)]
    reasons = {r.txid: (r.reason, r.because_of) for r in result.removed}
    assert reasons == {
        builder.txid(a): (EXCLUDED, None),
        builder.txid(b): (WITH_ANCESTOR, builder.txid(a)),
        builder.txid(c): (WITH_ANCESTOR, builder.txid(a)),
        builder.txid(e): (WITH_ANCESTOR, builder.txid(a)),
    }
    assert result.template["transactions"][1]["depends"] == [1]  # f -> d re-indexed
    assert result.template["coinbasevalue"] == gbt["coinbasevalue"] - 4000
    check_consistent(result.template)


def test_fee_rate_is_package_aware(builder: Any) -> None:
    # vsizes are about 110 vB: fee 110 ~ 1 sat/vB
    low_parent = builder.add(0)
    paying_child = builder.add(5000, parents=[low_parent])  # pays for its parent
    lonely_low = builder.add(50)
    low_child_of_low = builder.add(10, parents=[lonely_low])
    rich = builder.add(3000)
    gbt = builder.template()
    result = apply_policy(gbt, Policy(min_fee_rate=2.0))
    kept = txids_of(result.template)
    assert kept == [builder.txid(i) for i in (low_parent, paying_child, rich)]
    assert {r.txid: r.reason for r in result.removed} == {
        builder.txid(lonely_low): FEE_RATE,
        builder.txid(low_child_of_low): FEE_RATE,
    }
    assert result.template["coinbasevalue"] == gbt["coinbasevalue"] - 60
    check_consistent(result.template)


def test_prioritised_go_first_and_survive_fee_rate(builder: Any) -> None:
    rich = builder.add(9000)
    parent = builder.add(0)
    cheap = builder.add(1, parents=[parent])
    gbt = builder.template()
    policy = Policy(min_fee_rate=5.0, prioritised_txids=(builder.txid(cheap),))
    result = apply_policy(gbt, policy)
    assert txids_of(result.template) == [builder.txid(i) for i in (parent, cheap, rich)]
    assert [tx["depends"] for tx in result.template["transactions"]] == [[], [1], []]
    assert result.removed == ()
    check_consistent(result.template)


def test_weight_cap(builder: Any) -> None:
    first = builder.add(100)
    second = builder.add(100)
    child = builder.add(100, parents=[second])
    third = builder.add(100)
    gbt = builder.template()
    w = [tx["weight"] for tx in gbt["transactions"]]
    cap = w[first] + w[second] + w[child] - 1  # the child does not fit; the third does not
    result = apply_policy(gbt, Policy(max_weight=cap))
    assert txids_of(result.template) == [builder.txid(first), builder.txid(second)]
    assert {r.txid: r.reason for r in result.removed} == {
        builder.txid(child): WEIGHT,
        builder.txid(third): WEIGHT,
    }
    assert sum(tx["weight"] for tx in result.template["transactions"]) <= cap
    # prioritised claim the space first (with their ancestors)
    result = apply_policy(
        gbt, Policy(max_weight=w[second] + w[child], prioritised_txids=(builder.txid(child),))
    )
    assert txids_of(result.template) == [builder.txid(second), builder.txid(child)]
    check_consistent(result.template)


def test_weight_removal_takes_descendants(builder: Any) -> None:
    big = builder.add(100, witness_size=2000)
    child = builder.add(100, parents=[big])
    gbt = builder.template()
    result = apply_policy(gbt, Policy(max_weight=gbt["transactions"][0]["weight"] - 1))
    assert result.removed == (
        Removed(builder.txid(big), WEIGHT),
        Removed(builder.txid(child), WITH_ANCESTOR, builder.txid(big)),
    )
    check_consistent(result.template)


def test_op_return_limit_with_real_transactions(builder: Any) -> None:
    small = builder.add(500, outputs=[P2WPKH_SCRIPT, b"\x6a\x14" + b"x" * 20])
    big = builder.add(500, outputs=[P2WPKH_SCRIPT, b"\x6a\x4c\x50" + b"y" * 80])
    two = builder.add(500, outputs=[b"\x6a\x0c" + b"z" * 12, b"\x6a\x0c" + b"w" * 12])
    spends_big = builder.add(500, parents=[big])
    gbt = builder.template()
    result = apply_policy(gbt, Policy(max_op_return_size=20))
    assert txids_of(result.template) == [builder.txid(small)]
    assert {r.txid: (r.reason, r.because_of) for r in result.removed} == {
        builder.txid(big): (OP_RETURN, None),
        builder.txid(two): (OP_RETURN, None),  # 12 + 12 bytes over two outputs
        builder.txid(spends_big): (WITH_ANCESTOR, builder.txid(big)),
    }
    check_consistent(result.template)
    assert apply_policy(gbt, Policy(max_op_return_size=80)).removed == ()


@pytest.mark.parametrize(
    ("script", "size"),
    [
        (P2WPKH_SCRIPT, 0),
        (b"\x6a", 0),
        (b"\x6a\x04abcd", 4),
        (b"\x6a\x4c\x03abc\x02de", 5),
        (b"\x6a\x4d\x02\x00ab", 2),
        (b"\x6a\x51\x01a", 1),  # OP_1 pushes no data bytes
        (b"\x6a\x10abc", 3),  # truncated push: what is there counts
    ],
)
def test_op_return_data_size(script: bytes, size: int) -> None:
    assert op_return_data_size(script) == size


def test_bad_depends_are_refused(builder: Any) -> None:
    builder.add(1)
    gbt = builder.template()
    gbt["transactions"][0]["depends"] = [1]
    with pytest.raises(ValueError):
        apply_policy(gbt, Policy(min_fee_rate=1.0))


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        Policy(min_fee_rate=-1)
    with pytest.raises(ValueError):
        Policy(max_weight=-5)
    assert Policy().is_empty and not Policy(prioritised_txids=("ab",)).is_empty
