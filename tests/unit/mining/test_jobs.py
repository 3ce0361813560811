"""JobFactory: SRI's coinbase layout, payouts, template and tip bookkeeping."""

from __future__ import annotations

from typing import Any

import pytest

from stratumv2.bitcoin.hashes import sha256d
from stratumv2.bitcoin.tx import Transaction
from stratumv2.mining.errors import NoTemplateError
from stratumv2.mining.jobs import JobFactory, Payout
from stratumv2.protocol import NewTemplate

# SRI test_new_pool_job (sv2/channels-sv2/src/server/jobs/factory.rs), digest 00 §7.
SRI_OUTPUTS = bytes.fromhex(
    "0000000000000000266a24aa21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf9"
)
SRI_PREFIX = bytes.fromhex(
    "02000000010000000000000000000000000000000000000000000000000000000000000000ffffffff3d5200"
    "195376322f5374726174756d2056322053524920506f6f6c2f2f20"
)
SRI_SUFFIX = bytes.fromhex(
    "ffffffff0200f2052a01000000160014ebe1b7dcc293ccaa0ee743a86f89df8258c208fc0000000000000000"
    "266a24aa21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf900000000"
)
SRI_EXTRANONCE_PREFIX = bytes.fromhex("5374726174756d2056322053524920506f6f6c0000000000000001")


def sri_template(**changes: Any) -> NewTemplate:
    fields: dict[str, Any] = {
        "template_id": 1,
        "future_template": True,
        "version": 0x20000000,
        "coinbase_tx_version": 2,
        "coinbase_prefix": bytes.fromhex("5200"),
        "coinbase_tx_input_sequence": 0xFFFFFFFF,
        "coinbase_tx_value_remaining": 5_000_000_000,
        "coinbase_tx_outputs_count": 1,
        "coinbase_tx_outputs": SRI_OUTPUTS,
        "coinbase_tx_locktime": 0,
        "merkle_path": (),
    }
    fields.update(changes)
    return NewTemplate(**fields)


def sri_factory() -> JobFactory:
    payout = Payout.to_script(bytes.fromhex("0014ebe1b7dcc293ccaa0ee743a86f89df8258c208fc"))
    return JobFactory(payout, pool_tag="Stratum V2 SRI Pool", full_extranonce_size=32)


def test_sri_worked_coinbase_vector() -> None:
    factory = sri_factory()
    factory.on_new_template(sri_template())
    job = factory.job(1)
    assert job.coinbase_tx_prefix == SRI_PREFIX
    assert job.coinbase_tx_suffix == SRI_SUFFIX
    extranonce = SRI_EXTRANONCE_PREFIX + bytes(5)
    assert job.merkle_root(extranonce).hex() == (
        "78e94937f5580fa4b92a6e418d0f56eaa4c624825b67aa47195f042dbf084d0b"
    )
    sibling = bytes.fromhex("1a6240823de4c8d6aaf826851bdf2b0e8d5acf7c31e8578cff4c394b5a32bd4e")
    factory.on_new_template(sri_template(template_id=2, merkle_path=(sibling,)))
    assert factory.job(2).merkle_root(extranonce).hex() == (
        "d22e3ae570d7353ec42c9fa0d66fd81ec2fe5db21acba136bb02e747cdad32a5"
    )
    # The full coinbase keeps its witness (one 32-byte zero item) and has the same txid.
    full = Transaction.parse(job.coinbase_with_witness(extranonce))
    assert full.inputs[0].witness == (bytes(32),)
    assert full.txid == sha256d(SRI_PREFIX + extranonce + SRI_SUFFIX)
    assert full.serialize(include_witness=False) == SRI_PREFIX + extranonce + SRI_SUFFIX


def test_legacy_template_has_no_witness() -> None:
    factory = sri_factory()
    legacy_output = bytes(8) + b"\x01\x51"
    factory.on_new_template(sri_template(coinbase_tx_outputs=legacy_output))
    job = factory.job(1)
    extranonce = bytes(32)
    assert job.coinbase_with_witness(extranonce) == job.coinbase_tx(extranonce)
    assert not Transaction.parse(job.coinbase_tx(extranonce)).has_witness


def test_payout_split_by_weight() -> None:
    payout = Payout((b"\x51", b"\x52", b"\x53"), (97, 3, 0))
    assert payout.values(1001) == [971, 30, 0]
    factory = JobFactory(payout, pool_tag="p", full_extranonce_size=8)
    factory.on_new_template(sri_template(coinbase_tx_value_remaining=1001))
    tx = Transaction.parse(factory.job(1).coinbase_tx(bytes(8)))
    assert [(o.value, o.script_pubkey) for o in tx.outputs[:3]] == [
        (971, b"\x51"),
        (30, b"\x52"),
        (0, b"\x53"),
    ]
    assert tx.outputs[3].script_pubkey.startswith(bytes.fromhex("6a24aa21a9ed"))
    assert sum(o.value for o in tx.outputs) == 1001
    with pytest.raises(ValueError):
        Payout((b"\x51",), (0,))


def test_templates_and_tips() -> None:
    factory = sri_factory()
    with pytest.raises(NoTemplateError):
        factory.current_job()
    with pytest.raises(NoTemplateError):  # a non-future template needs a tip
        factory.on_new_template(sri_template(future_template=False))
    factory.on_new_template(sri_template(template_id=5))
    assert factory.is_future(5)
    with pytest.raises(NoTemplateError):
        factory.on_set_new_prev_hash(_prev(4))
    tip = factory.on_set_new_prev_hash(_prev(5))
    assert tip.template_id == 5 and tip.min_ntime == 1234 and tip.nbits == 0x207FFFFF
    assert tip.network_target == 0x7FFFFF << (8 * 29)
    assert factory.current_template_id == 5 and not factory.is_future(5)
    factory.on_new_template(sri_template(template_id=6, future_template=False))
    assert factory.current_template_id == 6
    assert factory.current_job().template_id == 6
    factory.on_new_template(sri_template(template_id=7))  # next tip's future template
    factory.on_set_new_prev_hash(_prev(7))
    with pytest.raises(NoTemplateError):
        factory.job(6)  # templates of the old tip are gone


def test_template_ids_restart_with_the_template_provider() -> None:
    factory = sri_factory()
    for template_id in (40, 41):
        factory.on_new_template(sri_template(template_id=template_id))
    factory.on_set_new_prev_hash(_prev(41))
    # The TP restarted: ids start again at 1, and the old session's templates must go.
    factory.on_new_template(sri_template(template_id=1, coinbase_tx_value_remaining=7))
    tip = factory.on_set_new_prev_hash(_prev(1))
    assert tip.template_id == 1 and factory.current_job().coinbase_value == 7
    with pytest.raises(NoTemplateError):
        factory.job(41)
    factory.on_new_template(sri_template(template_id=2))
    factory.on_new_template(sri_template(template_id=41))  # reused id, newer than the tip
    factory.on_set_new_prev_hash(_prev(2))
    assert factory.job(41).template_id == 41
    with pytest.raises(NoTemplateError):
        factory.job(1)


def test_script_sig_limit() -> None:
    factory = JobFactory(Payout.to_script(b"\x51"), pool_tag="x" * 60, full_extranonce_size=32)
    with pytest.raises(ValueError):
        factory.on_new_template(sri_template())
    with pytest.raises(ValueError):
        factory.on_new_template(sri_template(coinbase_tx_outputs_count=2))


def _prev(template_id: int) -> Any:
    from stratumv2.protocol import SetNewPrevHashTd

    return SetNewPrevHashTd(
        template_id=template_id,
        prev_hash=bytes(32),
        header_timestamp=1234,
        n_bits=0x207FFFFF,
        target=bytes(32),
    )


def test_coinbase_merkle_root_equals_the_bitcoin_helper() -> None:
    from stratumv2.bitcoin.hashes import merkle_root_from_branch
    from stratumv2.mining.jobs import coinbase_merkle_root

    for depth in (0, 1, 11):
        path = [bytes([i + 1]) * 32 for i in range(depth)]
        coinbase = bytes(range(200))
        expected = merkle_root_from_branch(sha256d(coinbase), path)
        assert coinbase_merkle_root(coinbase, path) == expected
