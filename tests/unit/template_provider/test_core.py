"""The sans-IO template provider: GBT -> TD messages, scheduling, data requests, solutions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from stratumv2.bitcoin.hashes import hash_to_hex, merkle_root, sha256d
from stratumv2.bitcoin.tx import Transaction, TxOut
from stratumv2.protocol import (
    CoinbaseOutputConstraints,
    NewTemplate,
    RequestTransactionData,
    RequestTransactionDataError,
    RequestTransactionDataSuccess,
    SetNewPrevHashTd,
    SubmitSolution,
)
from stratumv2.roles.template_provider.core import (
    ClientConstraints,
    MalformedTemplate,
    TemplateError,
    TemplateProviderCore,
    UnknownTemplate,
    bip34_height_push,
    coinbase_for_variant,
    coinbase_reservation_weight,
    fitting_tx_count,
    parse_gbt,
    witness_commitment_script,
)

GbtFactory = Callable[..., dict[str, Any]]
TxFactory = Callable[..., Transaction]
PAYOUT = b"\x00\x14" + b"\x42" * 20


@pytest.mark.parametrize(
    ("height", "push"),
    [
        (1, "51"),
        (16, "60"),
        (17, "0111"),
        (102, "0166"),  # sv2-tp at height 102 (shared/sv2-spec/06-observed-sv2-tp.md)
        (127, "017f"),
        (128, "028000"),
        (255, "02ff00"),
        (256, "020001"),
        (840_000, "0340d10c"),  # mainnet block 840000's coinbase starts 0340d10c
        (8_388_608, "0400008000"),
    ],
)
def test_bip34_height_push(height: int, push: str) -> None:
    assert bip34_height_push(height).hex() == push


def test_empty_block_witness_commitment_matches_bitcoin_core() -> None:
    # Bitcoin Core's getblocktemplate default_witness_commitment with an empty mempool.
    expected = "6a24aa21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf9"
    assert witness_commitment_script([]).hex() == expected


def test_witness_commitment_uses_wtxids(tx_factory: TxFactory) -> None:
    txs = [tx_factory(i) for i in range(3)]
    root = merkle_root([b"\x00" * 32] + [t.wtxid for t in txs])
    script = witness_commitment_script([t.wtxid for t in txs])
    assert script[6:] == sha256d(root + b"\x00" * 32)
    assert script != witness_commitment_script([t.txid for t in txs])


def test_reservation_weight() -> None:
    assert coinbase_reservation_weight(0) == 2000  # Core's floor
    assert coinbase_reservation_weight(100) == 2000
    assert coinbase_reservation_weight(300) == 2368
    assert coinbase_reservation_weight(1000) == 5168
    assert coinbase_reservation_weight(1000, segwit=False) == 4944


def test_parse_gbt_fields(gbt_factory: GbtFactory, tx_factory: TxFactory) -> None:
    txs = [tx_factory(i) for i in range(4)]
    gbt = gbt_factory(txs, fees=[100, 200, 300, 400], height=500)
    t = parse_gbt(gbt)
    assert t.height == 500
    assert t.prev_hash == b"\x11" * 32
    assert t.bits == 0x207FFFFF
    assert t.target == 0x7FFFFF << (8 * 29)
    assert t.total_fees == 1000
    assert t.coinbase_value == 5_000_001_000
    assert t.txids == tuple(tx.txid for tx in txs)
    assert t.wtxids == tuple(tx.wtxid for tx in txs)
    assert t.transactions == tuple(tx.serialize() for tx in txs)
    assert t.segwit
    assert t.longpollid == gbt["longpollid"]


@pytest.mark.parametrize(
    ("mutate", "word"),
    [
        (lambda g: g.pop("height"), "height"),
        (lambda g: g.update(height="7"), "height"),
        (lambda g: g.update(previousblockhash="zz" * 32), "previousblockhash"),
        (lambda g: g.update(previousblockhash="00"), "previousblockhash"),
        (lambda g: g.update(bits="nothex"), "bits"),
        (lambda g: g.update(coinbasevalue=-1), "coinbasevalue"),
        (lambda g: g.update(transactions="x"), "transactions"),
        (lambda g: g["transactions"].append(5), "transactions[1]"),
        (lambda g: g["transactions"][0].update(data="xyz"), "transactions[0].data"),
        (lambda g: g["transactions"][0].update(fee=True), "transactions[0].fee"),
        (lambda g: g["transactions"][0].update(txid=None), "transactions[0].txid"),
    ],
)
def test_parse_gbt_rejects_garbage(
    gbt_factory: GbtFactory,
    tx_factory: TxFactory,
    mutate: Callable[[dict[str, Any]], Any],
    word: str,
) -> None:
    gbt = gbt_factory([tx_factory(1)])
    mutate(gbt)
    with pytest.raises(MalformedTemplate, match=word.replace("[", r"\[").replace("]", r"\]")):
        parse_gbt(gbt)


@pytest.mark.parametrize("reply", [None, [], "garbage", 42])
def test_parse_gbt_rejects_non_objects(reply: Any) -> None:
    with pytest.raises(MalformedTemplate):
        parse_gbt(reply)


def _ready(core: TemplateProviderCore, client: int, size: int = 50, sigops: int = 400) -> list[Any]:
    core.add_client(client)
    msg = CoinbaseOutputConstraints(
        coinbase_output_max_additional_size=size, coinbase_output_max_additional_sigops=sigops
    )
    return [s.message for s in core.handle_message(client, msg, now=0.0)]


def test_connect_gets_future_template_then_prev_hash(
    gbt_factory: GbtFactory, tx_factory: TxFactory
) -> None:
    txs = [tx_factory(i) for i in range(5)]
    gbt = gbt_factory(txs, height=102)
    core = TemplateProviderCore()
    core.update_template(parse_gbt(gbt), now=0.0)
    nt, snph = _ready(core, 7)
    assert isinstance(nt, NewTemplate) and isinstance(snph, SetNewPrevHashTd)
    assert nt.template_id == 1 and nt.future_template is True
    assert nt.version == 0x20000000
    assert nt.coinbase_tx_version == 2
    assert nt.coinbase_prefix == bytes.fromhex("0166")
    assert nt.coinbase_tx_input_sequence == 0xFFFFFFFE
    assert nt.coinbase_tx_locktime == 101
    assert nt.coinbase_tx_value_remaining == gbt["coinbasevalue"]
    assert nt.coinbase_tx_outputs_count == 1
    commitment = witness_commitment_script([t.wtxid for t in txs])
    assert nt.coinbase_tx_outputs == TxOut(0, commitment).serialize()
    # The merkle path rebuilds the same root as the full txid list.
    cb = coinbase_for_variant(core.variant(1), PAYOUT)
    node = cb.txid
    for sibling in nt.merkle_path:
        node = sha256d(node + sibling)
    assert node == merkle_root([cb.txid] + [t.txid for t in txs])
    assert snph.template_id == 1
    assert snph.prev_hash == b"\x11" * 32
    assert snph.header_timestamp == gbt["curtime"]
    assert snph.n_bits == 0x207FFFFF
    assert int.from_bytes(snph.target, "little") == 0x7FFFFF << (8 * 29)


def test_clients_wait_for_constraints_and_for_a_template(
    gbt_factory: GbtFactory, tx_factory: TxFactory
) -> None:
    core = TemplateProviderCore()
    assert _ready(core, 1) == []  # node not ready yet: nothing to send
    core.add_client(2)  # no constraints yet
    out = core.update_template(parse_gbt(gbt_factory([tx_factory(1)])), now=1.0)
    assert [(s.client_id, type(s.message).__name__) for s in out] == [
        (1, "NewTemplate"),
        (1, "SetNewPrevHashTd"),
    ]


def test_new_tip_sends_future_template_then_prev_hash_to_everyone(
    gbt_factory: GbtFactory, tx_factory: TxFactory
) -> None:
    core = TemplateProviderCore()
    core.update_template(parse_gbt(gbt_factory([tx_factory(1)])), now=0.0)
    _ready(core, 1)
    _ready(core, 2)
    out = core.update_template(parse_gbt(gbt_factory([], height=103, prev=b"\x22" * 32)), 1.0)
    assert [(s.client_id, type(s.message).__name__) for s in out] == [
        (1, "NewTemplate"),
        (1, "SetNewPrevHashTd"),
        (2, "NewTemplate"),
        (2, "SetNewPrevHashTd"),
    ]
    nt = out[0].message
    assert nt.future_template and nt.template_id == out[1].message.template_id
    assert out[1].message.prev_hash == b"\x22" * 32
    # Same constraints -> same template id shared by both clients.
    assert out[2].message.template_id == nt.template_id
    assert nt.coinbase_tx_value_remaining == 5_000_000_000


def test_fee_rise_is_pushed_when_big_enough_and_rate_limited(
    gbt_factory: GbtFactory, tx_factory: TxFactory
) -> None:
    txs = [tx_factory(i) for i in range(6)]
    core = TemplateProviderCore(fee_delta=1500, min_interval=10.0)
    core.update_template(parse_gbt(gbt_factory(txs[:1], fees=[1000])), now=0.0)
    _ready(core, 1)
    # +1000 sats: below the delta, nothing.
    assert core.update_template(parse_gbt(gbt_factory(txs[:2], fees=[1000, 1000])), 3.0) == []
    assert core.next_timer() is None
    # +2000 sats but only 4 s after the last push: held back until t=10.
    assert core.update_template(parse_gbt(gbt_factory(txs[:3], fees=[1000] * 3)), 4.0) == []
    assert core.next_timer() == 10.0
    assert core.tick(9.9) == []
    # A later template on the same tip replaces the pending one.
    assert core.update_template(parse_gbt(gbt_factory(txs[:4], fees=[1000] * 4)), 6.0) == []
    out = core.tick(10.0)
    assert len(out) == 1
    nt = out[0].message
    assert isinstance(nt, NewTemplate) and nt.future_template is False
    assert nt.coinbase_tx_value_remaining == 5_000_004_000
    assert core.next_timer() is None
    # Next rise is measured from what was sent (4000): +2000 at t=25 goes out at once.
    out = core.update_template(parse_gbt(gbt_factory(txs[:6], fees=[1000] * 6)), 25.0)
    assert len(out) == 1 and out[0].message.template_id == nt.template_id + 1


def test_constraints_trim_the_tail_and_keep_parents(
    gbt_factory: GbtFactory, tx_factory: TxFactory
) -> None:
    parent = tx_factory(1)
    child = tx_factory(2, parent=parent)
    other = tx_factory(3)
    gbt = gbt_factory([other, parent, child], fees=[300, 200, 100])
    # Make the template nearly full so a big coinbase does not fit beside it.
    gbt["transactions"][0]["weight"] = 4_000_000 - coinbase_reservation_weight(1000) - 100
    base = parse_gbt(gbt)
    assert fitting_tx_count(base, ClientConstraints(0, 400)) == 3
    assert fitting_tx_count(base, ClientConstraints(1000, 400)) == 1  # child and parent go
    assert fitting_tx_count(base, ClientConstraints(0, 80_000 - 8)) == 2  # sigops budget

    core = TemplateProviderCore()
    core.update_template(base, 0.0)
    small = _ready(core, 1, size=0)[0]
    big = _ready(core, 2, size=1000)[0]
    assert small.template_id != big.template_id
    assert big.coinbase_tx_value_remaining == base.coinbase_value - 300
    assert big.coinbase_tx_outputs == TxOut(0, witness_commitment_script([other.wtxid])).serialize()
    assert len(big.merkle_path) == 1 and big.merkle_path[0] == other.txid
    data = core.transaction_data(big.template_id)
    assert isinstance(data, RequestTransactionDataSuccess)
    assert data.transaction_list == (other.serialize(),)


def test_request_transaction_data(gbt_factory: GbtFactory, tx_factory: TxFactory) -> None:
    txs = [tx_factory(i) for i in range(3)]
    core = TemplateProviderCore()
    core.update_template(parse_gbt(gbt_factory(txs)), 0.0)
    nt = _ready(core, 1)[0]
    [reply] = core.handle_message(1, RequestTransactionData(template_id=nt.template_id), 0.0)
    assert reply.client_id == 1
    ok = reply.message
    assert isinstance(ok, RequestTransactionDataSuccess)
    assert ok.template_id == nt.template_id
    assert ok.excess_data == b"\x00" * 32
    assert ok.transaction_list == tuple(t.serialize() for t in txs)
    missing = core.transaction_data(999)
    assert isinstance(missing, RequestTransactionDataError)
    assert missing.error_code == "template-id-not-found"
    core.update_template(parse_gbt(gbt_factory([], height=103, prev=b"\x33" * 32)), 1.0)
    stale = core.transaction_data(nt.template_id)
    assert isinstance(stale, RequestTransactionDataError)
    assert stale.error_code == "stale-template-id"


def _solve(variant_header: bytes, target: int) -> int:
    for nonce in range(1 << 20):
        h = sha256d(variant_header[:76] + nonce.to_bytes(4, "little"))
        if int.from_bytes(h, "little") <= target:
            return nonce
    raise AssertionError("no nonce found")


def test_solution_becomes_a_full_block(gbt_factory: GbtFactory, tx_factory: TxFactory) -> None:
    parent = tx_factory(1)
    txs = [parent, tx_factory(2, parent=parent), tx_factory(3, witness=False)]
    gbt = gbt_factory(txs)
    core = TemplateProviderCore()
    core.update_template(parse_gbt(gbt), 0.0)
    nt, snph = _ready(core, 1)
    variant = core.variant(nt.template_id)
    cb = coinbase_for_variant(variant, PAYOUT, extranonce=b"\xab" * 8)
    assert cb.inputs[0].script_sig.startswith(nt.coinbase_prefix)
    sol = SubmitSolution(
        template_id=nt.template_id,
        version=nt.version | 0x4000,
        header_timestamp=snph.header_timestamp + 1,
        header_nonce=0,
        coinbase_tx=cb.serialize(),
    )
    block = core.solve(sol)
    header = block.raw[:80]
    assert header[4:36] == snph.prev_hash
    assert header[36:68] == merkle_root([cb.txid] + [t.txid for t in txs])
    assert int.from_bytes(header[:4], "little") == 0x20004000
    assert int.from_bytes(header[68:72], "little") == snph.header_timestamp + 1
    assert int.from_bytes(header[72:76], "little") == 0x207FFFFF
    assert block.block_hash == sha256d(header)
    assert block.raw[80] == 4  # tx count
    assert block.raw[81:] == cb.serialize() + b"".join(t.serialize() for t in txs)
    assert block.height == 102
    # Nonce search on the regtest target: the block then meets it.
    nonce = _solve(header, variant.base.target)
    solved = core.solve(
        SubmitSolution(
            template_id=sol.template_id,
            version=sol.version,
            header_timestamp=sol.header_timestamp,
            header_nonce=nonce,
            coinbase_tx=sol.coinbase_tx,
        )
    )
    assert solved.meets_target
    assert solved.hash_hex == hash_to_hex(sha256d(solved.raw[:80]))


def test_solution_errors(gbt_factory: GbtFactory, tx_factory: TxFactory) -> None:
    core = TemplateProviderCore()
    core.update_template(parse_gbt(gbt_factory([tx_factory(1)])), 0.0)
    nt = _ready(core, 1)[0]
    with pytest.raises(UnknownTemplate):
        core.solve(
            SubmitSolution(
                template_id=77, version=1, header_timestamp=0, header_nonce=0, coinbase_tx=b""
            )
        )
    with pytest.raises(TemplateError, match="does not parse"):
        core.solve(
            SubmitSolution(
                template_id=nt.template_id,
                version=1,
                header_timestamp=0,
                header_nonce=0,
                coinbase_tx=b"\x01\x02",
            )
        )
    not_cb = tx_factory(9).serialize()
    with pytest.raises(TemplateError, match="not a coinbase"):
        core.solve(
            SubmitSolution(
                template_id=nt.template_id,
                version=1,
                header_timestamp=0,
                header_nonce=0,
                coinbase_tx=not_cb,
            )
        )


def test_template_cache_is_bounded(gbt_factory: GbtFactory, tx_factory: TxFactory) -> None:
    core = TemplateProviderCore(keep_templates=3)
    _ready(core, 1)
    for h in range(10):
        core.update_template(parse_gbt(gbt_factory([], height=200 + h, prev=bytes([h]) * 32)), h)
    with pytest.raises(UnknownTemplate):
        core.variant(1)
    assert core.variant(10).base.height == 209
    assert core.transaction_data(8).error_code == "stale-template-id"  # type: ignore[union-attr]


def test_tx_bytes_are_shared_between_templates(
    gbt_factory: GbtFactory, tx_factory: TxFactory
) -> None:
    txs = [tx_factory(i) for i in range(3)]
    core = TemplateProviderCore()
    first = parse_gbt(gbt_factory(txs))
    core.update_template(first, 0.0)
    second = parse_gbt(gbt_factory(txs), tx_cache=core.tx_cache())
    assert all(a is b for a, b in zip(first.transactions, second.transactions, strict=True))


def test_current_tip_templates_are_kept(gbt_factory: GbtFactory, tx_factory: TxFactory) -> None:
    txs = [tx_factory(i) for i in range(12)]
    core = TemplateProviderCore(keep_templates=3, max_templates=8, fee_delta=1, min_interval=0)
    _ready(core, 1)
    core.update_template(parse_gbt(gbt_factory([], height=150, prev=b"\x01" * 32)), 0.0)
    for n in range(1, 7):  # six fee rises on the next tip
        core.update_template(parse_gbt(gbt_factory(txs[:n], height=151)), float(n))
    with pytest.raises(UnknownTemplate):
        core.variant(1)  # the old tip's template went first...
    assert [core.variant(i).template_id for i in range(2, 8)] == [2, 3, 4, 5, 6, 7]  # ...not these
    for n in range(7, 12):
        core.update_template(parse_gbt(gbt_factory(txs[:n], height=151)), float(n))
    with pytest.raises(UnknownTemplate):
        core.variant(2)  # past max_templates even the current tip's oldest go
    assert core.variant(12).n_txs == 11
