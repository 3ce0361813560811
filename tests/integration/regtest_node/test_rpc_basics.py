"""The node's JSON-RPC over real HTTP: chain queries, mining, restart, malformed requests."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import aiohttp
import pytest

from stratumv2.net.rpc import BitcoinRpc, RpcAuthError, RpcConnectionError, RpcError
from stratumv2.roles.regtest_node.service import NodeConfig, RegtestNode
from stratumv2.roles.regtest_node.testing import running_node

GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"


async def test_fresh_node_answers_like_bitcoind(tmp_path: Path) -> None:
    async with running_node(tmp_path) as handle:
        assert handle.cookie_path.read_text().startswith("__cookie__:")
        async with handle.rpc() as rpc:
            assert await rpc.getblockcount() == 0
            assert await rpc.getbestblockhash() == GENESIS
            info = await rpc.getblockchaininfo()
            assert info["chain"] == "regtest"
            assert info["initialblockdownload"] is False
            assert await rpc.call("getblockhash", 0) == GENESIS
            with pytest.raises(RpcError) as err:
                await rpc.call("getblockhash", 1)
            assert err.value.code == -8
            with pytest.raises(RpcError) as err:
                await rpc.call("getblock", "00" * 32)
            assert err.value.code == -5
            assert (await rpc.call("getnetworkinfo"))["connections"] == 0
            assert await rpc.call("uptime") >= 0
    assert not handle.cookie_path.exists()


async def test_generate_then_restart_keeps_chain(tmp_path: Path) -> None:
    async with running_node(tmp_path) as handle, handle.rpc() as rpc:
        hashes = await rpc.call("generatetoaddress", 3, handle.address)
        assert len(hashes) == 3
        assert await rpc.getbestblockhash() == hashes[-1]
        block = await rpc.call("getblock", hashes[0])
        assert block["height"] == 1 and block["nextblockhash"] == hashes[1]
        header = await rpc.call("getblockheader", hashes[1])
        assert header["previousblockhash"] == hashes[0]
        raw = await rpc.call("getblock", hashes[2], 0)
        assert len(raw) > 160
        coinbase_txid = block["tx"][0]
        assert await rpc.getrawtransaction(coinbase_txid)
    async with running_node(tmp_path) as handle, handle.rpc() as rpc:
        assert await rpc.getblockcount() == 3
        assert await rpc.getbestblockhash() == hashes[-1]
        assert await rpc.getrawtransaction(coinbase_txid)


async def _post(url: str, auth: str | None, body: bytes) -> tuple[int, str]:
    headers = {"Authorization": auth} if auth else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as response,
    ):
        return response.status, await response.text()


async def test_malformed_requests_get_json_rpc_errors(tmp_path: Path) -> None:
    async with running_node(tmp_path) as handle:
        auth = "Basic " + base64.b64encode(handle.cookie_path.read_bytes()).decode()
        url = handle.url
        status, text = await _post(url, None, b"{}")
        assert status == 401
        bad = "Basic " + base64.b64encode(b"__cookie__:wrong").decode()
        status, _ = await _post(url, bad, b'{"method": "getblockcount"}')
        assert status == 401
        status, text = await _post(url, auth, b"{not json")
        assert status == 500 and json.loads(text)["error"]["code"] == -32700
        status, text = await _post(url, auth, b'{"id": 1}')
        assert status == 400 and json.loads(text)["error"]["code"] == -32600
        status, text = await _post(url, auth, b'{"id": 1, "method": "nope"}')
        assert status == 404 and json.loads(text)["error"]["code"] == -32601
        status, text = await _post(url, auth, b'{"id": 1, "method": "getblockhash"}')
        assert json.loads(text)["error"]["code"] == -1
        status, text = await _post(
            url, auth, b'{"id": 1, "method": "getblockhash", "params": ["x"]}'
        )
        assert json.loads(text)["error"]["code"] == -3
        status, text = await _post(url, auth, b'{"id": 1, "method": 5}')
        assert json.loads(text)["error"]["code"] == -32600
        status, text = await _post(url, auth, b'{"id": 1, "method": "getblockcount", "params": 7}')
        assert json.loads(text)["error"]["code"] == -32600
        status, text = await _post(url, auth, b"[]")
        assert json.loads(text)["error"]["code"] == -32600
        status, text = await _post(url, auth, b'[1, {"id": 2, "method": "getblockcount"}]')
        replies = json.loads(text)
        assert status == 200 and replies[0]["error"]["code"] == -32600
        assert replies[1] == {"result": 0, "error": None, "id": 2}
        v2 = b'{"jsonrpc": "2.0", "id": 3, "method": "nope"}'
        status, text = await _post(url, auth, v2)
        assert status == 200 and json.loads(text)["error"]["code"] == -32601
        status, text = await _post(
            url, auth, b'{"id": 4, "method": "submitblock", "params": ["zz"]}'
        )
        assert json.loads(text)["error"]["code"] == -22
        named = b'{"id": 5, "method": "getblockhash", "params": {"height": 0}}'
        status, text = await _post(url, auth, named)
        assert json.loads(text)["result"] == GENESIS
        # still alive
        async with handle.rpc() as rpc:
            assert await rpc.getblockcount() == 0


async def test_client_errors_are_distinct(tmp_path: Path) -> None:
    async with running_node(tmp_path) as handle:
        wrong = BitcoinRpc(handle.url, user="a", password="b")
        with pytest.raises(RpcAuthError):
            await wrong.getblockcount()
        await wrong.close()
        async with handle.rpc() as rpc:
            results = await rpc.batch([("getblockcount", []), ("nope", [])])
            assert results[0] == 0
            assert isinstance(results[1], RpcError) and results[1].code == -32601
        port = handle.port
    gone = BitcoinRpc(f"http://127.0.0.1:{port}", user="a", password="b", timeout=2)
    with pytest.raises(RpcConnectionError):
        await gone.getblockcount()
    await gone.close()


async def test_rpcuser_and_rpcpassword_replace_the_cookie(tmp_path: Path) -> None:
    node = RegtestNode(NodeConfig(tmp_path, rpcport=0, rpcuser="alice", rpcpassword="s3cret"))
    await node.start()
    try:
        assert not node.cookie_path.exists()  # bitcoind writes no cookie with rpcpassword
        async with BitcoinRpc(node.url, user="alice", password="s3cret") as rpc:
            assert await rpc.getblockcount() == 0
        for user, password in (("alice", "wrong"), ("bob", "s3cret")):
            wrong = BitcoinRpc(node.url, user=user, password=password)
            with pytest.raises(RpcAuthError):
                await wrong.getblockcount()
            await wrong.close()
    finally:
        await node.stop()


async def test_saved_index_is_used_and_a_damaged_one_is_rebuilt(tmp_path: Path) -> None:
    async with running_node(tmp_path) as handle, handle.rpc() as rpc:
        hashes = await rpc.call("generatetoaddress", 5, handle.address)
        coins = dict(handle.node.chain.coins())
    index = tmp_path / "regtest" / "node-index.json"
    assert index.exists()
    async with running_node(tmp_path) as handle, handle.rpc() as rpc:
        assert handle.node.chain.coins() == coins
        hashes += await rpc.call("generatetoaddress", 2, handle.address)
        coins = dict(handle.node.chain.coins())
    index.write_text('{"version": 1, "blocks": [["zz"')
    async with running_node(tmp_path) as handle, handle.rpc() as rpc:
        assert await rpc.getbestblockhash() == hashes[-1]
        assert handle.node.chain.coins() == coins
        assert await rpc.call("getblockhash", 3) == hashes[2]


async def test_client_rereads_the_cookie_after_a_node_restart(tmp_path: Path) -> None:
    from stratumv2.roles.regtest_node.service import NodeConfig, RegtestNode

    first = RegtestNode(NodeConfig(datadir=tmp_path, rpcport=0))
    await first.start()
    port = first.port
    rpc = BitcoinRpc(first.url, cookie_file=first.cookie_path)
    try:
        assert await rpc.getblockcount() == 0
        old_cookie = first.cookie_path.read_text()
        await first.stop()
        with pytest.raises(RpcConnectionError):
            await rpc.getblockcount()
        second = RegtestNode(NodeConfig(datadir=tmp_path, rpcport=port))
        await second.start()
        try:
            assert second.cookie_path.read_text() != old_cookie
            assert await rpc.getblockcount() == 0  # 401 once, then the new cookie
        finally:
            await second.stop()
    finally:
        await rpc.close()
