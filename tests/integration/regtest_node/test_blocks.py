"""getblocktemplate -> block -> submitblock against the kernel, and bitcoind's reject reasons."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from stratumv2.bitcoin.hashes import hash_to_hex, hex_to_hash, merkle_root
from stratumv2.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut
from stratumv2.net.rpc import RpcError
from stratumv2.roles.regtest_node import service
from stratumv2.roles.regtest_node.consensus import ParsedBlock, parse_block
from stratumv2.roles.regtest_node.template import solve
from stratumv2.roles.regtest_node.testing import block_from_gbt, running_node
from stratumv2.roles.regtest_node.txgen import TxGenerator

PAYOUT = bytes.fromhex("0014751e76e8199196d454941c45d1b3a323f1433bd6")


def _resolve(block: ParsedBlock) -> bytes:
    """Recompute the merkle root, grind the nonce, serialize."""
    header = dataclasses.replace(
        block.header, merkle_root=merkle_root([tx.txid for tx in block.txs]), nonce=0
    )
    solved = solve(header)
    assert solved is not None
    return ParsedBlock.build(solved, block.txs).serialize()


@pytest.mark.parametrize("threaded", [False, True])
async def test_template_block_is_accepted_and_restart_keeps_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threaded: bool
) -> None:
    if threaded:  # every block through the worker-thread path that large blocks take
        monkeypatch.setattr(service, "THREAD_BLOCK_SIZE", 0)
    async with running_node(tmp_path) as handle, handle.rpc() as rpc:
        gbt = await rpc.getblocktemplate()
        assert gbt["height"] == 1
        assert gbt["rules"] == ["csv", "!segwit", "taproot"]
        assert gbt["bits"] == "207fffff" and gbt["target"].startswith("7fffff")
        assert gbt["coinbasevalue"] == 50 * 100_000_000
        assert gbt["default_witness_commitment"].startswith("6a24aa21a9ed")
        block = block_from_gbt(gbt)
        assert await rpc.submitblock(block.hex()) is None
        assert await rpc.getblockcount() == 1
        assert await rpc.submitblock(block.hex()) == "duplicate"
        tip = await rpc.getbestblockhash()
    async with running_node(tmp_path) as handle, handle.rpc() as rpc:
        assert await rpc.getbestblockhash() == tip
        assert (await rpc.getblocktemplate())["height"] == 2
        hashes = await rpc.call("generatetoaddress", 3, handle.address)
        assert await rpc.getbestblockhash() == hashes[-1]


async def test_bad_blocks_get_bitcoind_reasons_and_chain_is_unchanged(tmp_path: Path) -> None:
    async with running_node(tmp_path) as handle, handle.rpc() as rpc:
        await rpc.call("generatetoaddress", 101, handle.address)
        gbt = await rpc.getblocktemplate()
        good = parse_block(block_from_gbt(gbt))
        tip = await rpc.getbestblockhash()

        bad_root = dataclasses.replace(good.header, merkle_root=b"\x11" * 32)
        solved = solve(bad_root)
        assert solved is not None
        cases = {"bad-txnmrklroot": ParsedBlock.build(solved, good.txs).serialize()}

        header = good.header
        nonce = 0
        while int.from_bytes(dataclasses.replace(header, nonce=nonce).hash(), "little") <= (
            0x7FFFFF << 232
        ):
            nonce += 1
        cases["high-hash"] = ParsedBlock.build(
            dataclasses.replace(header, nonce=nonce), good.txs
        ).serialize()

        wrong_height = dict(gbt, height=gbt["height"] + 1)
        cases["bad-cb-height"] = block_from_gbt(wrong_height)

        greedy = dict(gbt, coinbasevalue=gbt["coinbasevalue"] + 1)
        cases["bad-cb-amount"] = block_from_gbt(greedy)

        missing = Transaction(2, (TxIn(OutPoint(b"\x42" * 32, 0)),), (TxOut(1000, PAYOUT),))
        cases["bad-txns-inputs-missingorspent"] = block_from_gbt(
            dict(gbt, transactions=[{"data": missing.serialize().hex()}])
        )

        # A transaction spending a mature coinbase with an empty (invalid) witness.
        coinbase_txid = (await rpc.call("getblock", await rpc.call("getblockhash", 1)))["tx"][0]
        unsigned = Transaction(
            2, (TxIn(OutPoint(hex_to_hash(coinbase_txid), 0)),), (TxOut(1000, PAYOUT),)
        )
        cases["block-script-verify-flag-failed"] = block_from_gbt(
            dict(gbt, transactions=[{"data": unsigned.serialize().hex()}])
        )
        old = dataclasses.replace(header, time=1)
        cases["time-too-old"] = _resolve(ParsedBlock.build(old, good.txs))
        for reason, raw in cases.items():
            answer = await rpc.submitblock(raw.hex())
            assert answer is not None and answer.startswith(reason), (reason, answer)
            assert await rpc.getbestblockhash() == tip
        assert await rpc.submitblock(good.serialize().hex()) is None
        assert await rpc.getblockcount() == 102


async def test_generated_transactions_make_a_valid_block(tmp_path: Path) -> None:
    async with running_node(tmp_path) as handle, handle.rpc() as rpc:
        generator = TxGenerator(handle.node, rate=1.0, seed=7)
        await generator.ensure_funds()
        for _ in range(40):
            generator.step()
        assert generator.made >= 30
        gbt = await rpc.getblocktemplate()
        assert len(gbt["transactions"]) == generator.made
        assert any(t["depends"] for t in gbt["transactions"])
        for index, entry in enumerate(gbt["transactions"], start=1):
            assert all(0 < d < index for d in entry["depends"])
            assert entry["fee"] > 0 and entry["weight"] > 0 and entry["sigops"] >= 1
        assert handle.node.mempool.total_weight == sum(t["weight"] for t in gbt["transactions"])
        fees = sum(t["fee"] for t in gbt["transactions"])
        assert gbt["coinbasevalue"] == 50 * 100_000_000 + fees
        mempool = await rpc.getrawmempool()
        assert len(mempool) == generator.made
        entry = await rpc.call("getmempoolentry", mempool[0])
        assert entry["vsize"] > 0 and entry["ancestorcount"] == 1
        child = next(t for t in gbt["transactions"] if t["depends"])
        child_entry = await rpc.call("getmempoolentry", child["txid"])
        assert child_entry["ancestorcount"] >= 2 and child_entry["depends"]
        parent = await rpc.call("getmempoolentry", child_entry["depends"][0])
        assert child["txid"] in parent["spentby"] and parent["descendantcount"] >= 2
        block = parse_block(block_from_gbt(gbt))
        commitment = block.txs[0].outputs[-1].script_pubkey.hex()
        assert commitment == gbt["default_witness_commitment"]
        assert await rpc.submitblock(block.serialize().hex()) is None
        assert await rpc.getrawmempool() == []
        assert handle.node.mempool.total_weight == 0
        confirmed = await rpc.call("getrawtransaction", mempool[0], 1)
        assert confirmed["confirmations"] == 1


async def test_sendrawtransaction_rejections(tmp_path: Path) -> None:
    async with running_node(tmp_path) as handle, handle.rpc() as rpc:
        generator = TxGenerator(handle.node, rate=1.0, seed=1)
        await generator.ensure_funds()
        tx = generator.make_transaction()
        assert tx is not None
        [verdict] = await rpc.call("testmempoolaccept", [tx.serialize().hex()])
        assert verdict["allowed"] is True and verdict["txid"] == hash_to_hex(tx.txid)
        assert await rpc.getrawmempool() == []  # testing did not add it
        decoded = await rpc.call("decoderawtransaction", tx.serialize().hex())
        assert decoded["txid"] == hash_to_hex(tx.txid) and len(decoded["vout"]) >= 1
        txid = await rpc.sendrawtransaction(tx.serialize().hex())
        [again] = await rpc.call("testmempoolaccept", [tx.serialize().hex()])
        assert again["allowed"] is False and again["reject-reason"] == "txn-already-in-mempool"
        assert txid == hash_to_hex(tx.txid)
        assert await rpc.sendrawtransaction(tx.serialize().hex()) == txid
        double = generator.key.spend(
            [(tx.inputs[0].prevout, 50 * 100_000_000)], [TxOut(49 * 100_000_000, PAYOUT)]
        )
        with pytest.raises(RpcError) as err:
            await rpc.sendrawtransaction(double.serialize().hex())
        assert err.value.code == -26 and err.value.message == "txn-mempool-conflict"
        forged = Transaction(
            2,
            (TxIn(OutPoint(tx.txid, 0), b"", 0xFFFFFFFD, (b"\x30" * 70, b"\x02" * 33)),),
            (TxOut(1000, PAYOUT),),
        )
        with pytest.raises(RpcError) as err:
            await rpc.call("sendrawtransaction", forged.serialize().hex(), 0)
        assert err.value.code == -26 and "script-verify" in err.value.message
        with pytest.raises(RpcError) as err:
            await rpc.sendrawtransaction("00")
        assert err.value.code == -22
        missing = Transaction(2, (TxIn(OutPoint(b"\x42" * 32, 0)),), (TxOut(1000, PAYOUT),))
        with pytest.raises(RpcError) as err:
            await rpc.sendrawtransaction(missing.serialize().hex())
        assert err.value.code == -25


async def test_longpoll_returns_when_a_block_arrives(tmp_path: Path) -> None:
    async with running_node(tmp_path) as handle, handle.rpc() as rpc, handle.rpc() as miner:
        gbt = await rpc.getblocktemplate()
        poll = asyncio.create_task(rpc.getblocktemplate(longpollid=gbt["longpollid"]))
        await asyncio.sleep(0.2)
        assert not poll.done()
        await miner.call("generatetoaddress", 1, handle.address)
        fresh = await asyncio.wait_for(poll, 5)
        assert fresh["height"] == gbt["height"] + 1
        # a stale longpollid returns at once
        again = await asyncio.wait_for(rpc.getblocktemplate(longpollid=gbt["longpollid"]), 5)
        assert again["previousblockhash"] == fresh["previousblockhash"]


async def test_longpoll_returns_on_mempool_change_after_delay(tmp_path: Path) -> None:
    async with running_node(tmp_path, longpoll_mempool_delay=0.3) as handle, handle.rpc() as rpc:
        generator = TxGenerator(handle.node, rate=1.0, seed=3)
        await generator.ensure_funds()
        gbt = await rpc.getblocktemplate()
        poll = asyncio.create_task(rpc.getblocktemplate(longpollid=gbt["longpollid"]))
        await asyncio.sleep(0.5)
        assert not poll.done()  # nothing changed: keeps waiting
        assert generator.step()
        fresh = await asyncio.wait_for(poll, 5)
        assert len(fresh["transactions"]) == 1


def _on_top_of(gbt: dict[str, Any], parent: bytes, height: int, extra: bytes) -> bytes:
    """An empty block on ``parent`` (a side branch) built from a template's fields."""
    fields = dict(
        gbt,
        height=height,
        previousblockhash=hash_to_hex(parse_block(parent).hash),
        curtime=gbt["curtime"] + height,
        transactions=[],
        coinbasevalue=50 * 100_000_000,
    )
    return block_from_gbt(fields, extra=extra)


async def test_reorg_to_a_longer_branch_resurrects_transactions(tmp_path: Path) -> None:
    async with running_node(tmp_path) as handle, handle.rpc() as rpc:
        generator = TxGenerator(handle.node, rate=1.0, seed=5)
        await generator.ensure_funds()
        fork_point = await rpc.getbestblockhash()
        height = await rpc.getblockcount()
        gbt = await rpc.getblocktemplate()
        a1 = block_from_gbt(gbt, extra=b"A")
        b1 = block_from_gbt(gbt, extra=b"B")
        assert await rpc.submitblock(a1.hex()) is None
        assert generator.step()
        [txid] = await rpc.getrawmempool()
        a2 = block_from_gbt(await rpc.getblocktemplate(), extra=b"A")
        assert await rpc.submitblock(a2.hex()) is None
        assert await rpc.getrawmempool() == []
        a_tip = await rpc.getbestblockhash()
        # same work as the tip: stored, not connected (bitcoind says "inconclusive")
        assert await rpc.submitblock(b1.hex()) == "inconclusive"
        b2 = _on_top_of(gbt, b1, height + 2, b"B")
        assert await rpc.submitblock(b2.hex()) == "inconclusive"
        assert await rpc.getbestblockhash() == a_tip
        b3 = _on_top_of(gbt, b2, height + 3, b"B")
        assert await rpc.submitblock(b3.hex()) is None
        assert await rpc.getblockcount() == height + 3
        assert await rpc.call("getblockhash", height + 1) == hash_to_hex(parse_block(b1).hash)
        assert await rpc.call("getblockhash", height) == fork_point
        assert await rpc.getrawmempool() == [txid]  # back from the disconnected branch
        block = block_from_gbt(await rpc.getblocktemplate())
        assert await rpc.submitblock(block.hex()) is None
        assert await rpc.getrawmempool() == []
        assert (await rpc.call("getrawtransaction", txid, 1))["confirmations"] == 1


async def test_second_node_on_same_datadir_is_refused(tmp_path: Path) -> None:
    from stratumv2.roles.regtest_node.chain import ChainOpenError

    async with running_node(tmp_path) as first:
        with pytest.raises(ChainOpenError):
            async with running_node(tmp_path):
                pass
        async with first.rpc() as rpc:  # the first node's cookie still works
            assert await rpc.getblockcount() == 0


async def test_stop_ends_a_pending_longpoll_quickly(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    async with running_node(tmp_path) as handle:
        rpc = handle.rpc()
        gbt = await rpc.getblocktemplate()
        poll = asyncio.create_task(rpc.getblocktemplate(longpollid=gbt["longpollid"]))
        await asyncio.sleep(0.1)
        started = loop.time()
    assert loop.time() - started < 5
    with pytest.raises(RpcError) as err:
        await asyncio.wait_for(poll, 5)
    assert err.value.code == -28
    await rpc.close()


async def test_a_client_that_hangs_up_ends_its_longpoll(tmp_path: Path) -> None:
    async with running_node(tmp_path) as handle, handle.rpc() as rpc:
        gbt = await rpc.getblocktemplate()
        quitter = handle.rpc()
        poll = asyncio.create_task(quitter.getblocktemplate(longpollid=gbt["longpollid"]))
        for _ in range(100):
            if handle.node.pending_longpolls:
                break
            await asyncio.sleep(0.02)
        assert handle.node.pending_longpolls == 1
        poll.cancel()
        await quitter.close()
        for _ in range(100):
            if not handle.node.pending_longpolls:
                break
            await asyncio.sleep(0.02)
        assert handle.node.pending_longpolls == 0
        assert await rpc.getblockcount() == 0


async def test_relative_lock_times_at_the_boundary(tmp_path: Path) -> None:
    async with running_node(tmp_path) as handle, handle.rpc() as rpc:
        generator = TxGenerator(handle.node, rate=1.0, seed=9)
        await generator.ensure_funds()
        chain = handle.node.chain
        key = generator.key
        mine = [
            (op, coin)
            for op, coin in chain.coins().items()
            if coin.script_pubkey == key.script_pubkey and chain.height - coin.height >= 100
        ]
        (op, coin), (op2, coin2) = mine[0], mine[1]
        depth = chain.height - coin.height + 1
        outputs = [TxOut(coin.value - 10_000, key.script_pubkey)]
        too_early = key.spend([(op, coin.value)], outputs, sequence=depth + 1)
        with pytest.raises(RpcError) as err:
            await rpc.sendrawtransaction(too_early.serialize().hex())
        assert err.value.code == -26 and err.value.message == "non-BIP68-final"
        gbt = await rpc.getblocktemplate()
        refused = block_from_gbt(dict(gbt, transactions=[{"data": too_early.serialize().hex()}]))
        answer = await rpc.submitblock(refused.hex())
        assert answer == "bad-txns-nonfinal"
        # the kernel alone (our pre-checks bypassed) refuses it too: same rule, same boundary
        assert chain._process(parse_block(refused), refused).reason is not None
        assert chain.height == gbt["height"] - 1
        just_in_time = key.spend([(op, coin.value)], outputs, sequence=depth)
        await rpc.sendrawtransaction(just_in_time.serialize().hex())
        depth2 = chain.height - coin2.height + 1
        by_time = key.spend(
            [(op2, coin2.value)],
            [TxOut(coin2.value - 10_000, key.script_pubkey)],
            sequence=(1 << 22) | 0,  # time lock of 0 units: always met
        )
        await rpc.sendrawtransaction(by_time.serialize().hex())
        assert depth2 > 0
        block = block_from_gbt(await rpc.getblocktemplate())
        assert await rpc.submitblock(block.hex()) is None  # the kernel agrees
        assert await rpc.getrawmempool() == []


async def test_unexplained_kernel_rejection_evicts_the_blocks_mempool_txs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stratumv2.roles.regtest_node.mempool import MempoolEntry

    async with running_node(tmp_path) as handle, handle.rpc() as rpc:
        generator = TxGenerator(handle.node, rate=1.0, seed=9)
        await generator.ensure_funds()
        node = handle.node
        chain = node.chain
        key = generator.key
        op, coin = next(
            (op, coin)
            for op, coin in chain.coins().items()
            if coin.script_pubkey == key.script_pubkey and chain.height - coin.height >= 100
        )
        locked = key.spend(
            [(op, coin.value)], [TxOut(coin.value - 10_000, key.script_pubkey)], sequence=500
        )
        # smuggle a transaction our checks would refuse into the mempool and the template
        node.mempool._add(
            MempoolEntry(locked, locked.serialize(), 10_000, locked.weight, 1, 0, chain.height)
        )
        monkeypatch.setattr(chain, "precheck", lambda *args, **kwargs: None)
        block = block_from_gbt(await rpc.getblocktemplate())
        assert await rpc.submitblock(block.hex()) == "bad-block-consensus"
        assert await rpc.getrawmempool() == []  # evicted: the next template is sound
        monkeypatch.undo()
        block = block_from_gbt(await rpc.getblocktemplate())
        assert await rpc.submitblock(block.hex()) is None
