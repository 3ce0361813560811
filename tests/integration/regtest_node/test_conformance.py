"""Shape of our answers against a real bitcoind's, proposals, and dispatcher robustness."""

from __future__ import annotations

import json
import random
from pathlib import Path

from stratumv2.roles.regtest_node.consensus import bits_to_target, block_subsidy
from stratumv2.roles.regtest_node.script import count_sigops
from stratumv2.roles.regtest_node.testing import block_from_gbt, running_node
from stratumv2.roles.regtest_node.txgen import TxGenerator

# A real `getblocktemplate {"rules": ["segwit"]}` answer of Bitcoin Core v31.1 on regtest
# (copied from shared/vectors, where it was produced by running bitcoind).
VECTOR = Path(__file__).with_name("data") / "regtest-getblocktemplate-bitcoind-v31.1.json"


def test_script_and_target_helpers() -> None:
    assert bits_to_target(0x207FFFFF) == 0x7FFFFF << 232
    assert bits_to_target(0x1D00FFFF) == 0xFFFF << 208
    assert bits_to_target(0x04923456) == 0  # negative: Core refuses it, so do we (high-hash)
    assert block_subsidy(149) == 5_000_000_000 and block_subsidy(150) == 2_500_000_000
    p2pkh = bytes.fromhex("76a914") + b"\x00" * 20 + bytes.fromhex("88ac")
    assert count_sigops(p2pkh) == 1
    assert count_sigops(b"\x00\x14" + b"\xac" * 20) == 0  # a push, not an opcode
    multisig = b"\x52" + (b"\x21" + b"\x02" * 33) * 3 + b"\x53\xae"
    assert count_sigops(multisig) == 20 and count_sigops(multisig, accurate=True) == 3


async def test_template_has_bitcoinds_fields(tmp_path: Path) -> None:
    reference = json.loads(VECTOR.read_text())
    async with running_node(tmp_path) as handle, handle.rpc() as rpc:
        generator = TxGenerator(handle.node, rate=1.0, seed=11)
        await generator.ensure_funds()
        assert generator.step()
        gbt = await rpc.getblocktemplate()
        assert set(gbt) == set(reference)
        for key, value in reference.items():
            assert type(gbt[key]) is type(value), key
        assert set(gbt["transactions"][0]) == set(reference["transactions"][0])
        for key in ("rules", "mutable", "noncerange", "sigoplimit", "sizelimit", "weightlimit"):
            assert gbt[key] == reference[key], key
        assert gbt["bits"] == reference["bits"] and gbt["target"] == reference["target"]
        assert gbt["transactions"][0]["sigops"] == 1  # one P2WPKH input, as in the vector
        assert gbt["longpollid"].startswith(gbt["previousblockhash"])
        assert gbt["curtime"] >= gbt["mintime"]


async def test_proposal_mode(tmp_path: Path) -> None:
    async with running_node(tmp_path) as handle, handle.rpc() as rpc:
        gbt = await rpc.getblocktemplate()
        unsolved = block_from_gbt(gbt, solve_pow=False)
        proposal = {"mode": "proposal", "data": unsolved.hex()}
        assert await rpc.call("getblocktemplate", proposal) is None
        bad = block_from_gbt(dict(gbt, height=gbt["height"] + 5), solve_pow=False)
        answer = await rpc.call("getblocktemplate", {"mode": "proposal", "data": bad.hex()})
        assert answer == "bad-cb-height"
        assert await rpc.getblockcount() == 0


async def test_getblock_verbosity_two_and_named_params(tmp_path: Path) -> None:
    async with running_node(tmp_path) as handle, handle.rpc() as rpc:
        [block_hash] = await rpc.call("generatetoaddress", 1, handle.address)
        block = await rpc.call("getblock", block_hash, 2)
        coinbase = block["tx"][0]
        assert "coinbase" in coinbase["vin"][0]
        assert coinbase["vout"][0]["value"] == 50.0
        assert block["weight"] == block["strippedsize"] * 3 + block["size"]
        header_hex = await rpc.call("getblockheader", block_hash, False)
        assert len(header_hex) == 160


async def test_dispatcher_survives_random_bodies(tmp_path: Path) -> None:
    rng = random.Random(1234)
    seeds = [
        b'{"id": 1, "method": "getblockhash", "params": [0]}',
        b'{"jsonrpc": "2.0", "id": 2, "method": "getblock", "params": {"blockhash": "00"}}',
        b'[{"id": 1, "method": "getblockcount"}, {"id": 2, "method": "submitblock"}]',
        b'{"id": 3, "method": "getblocktemplate", "params": [{"rules": ["segwit"]}]}',
        b'{"id": 4, "method": "sendrawtransaction", "params": ["0200"]}',
    ]
    async with running_node(tmp_path) as handle:
        dispatcher = handle.node.dispatcher
        for _ in range(400):
            body = bytearray(rng.choice(seeds))
            for _flip in range(rng.randrange(1, 4)):
                body[rng.randrange(len(body))] = rng.randrange(256)
            reply, status = await dispatcher.call_body(bytes(body))
            assert status in (200, 204, 400, 404, 500)
            json.dumps(reply)  # always serializable
            if isinstance(reply, dict) and reply.get("error"):
                assert isinstance(reply["error"]["code"], int)
        assert handle.node.chain.height == 0
