"""The JSON-RPC methods of the regtest node, with bitcoind's parameters, fields and errors."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from stratumv2.bitcoin.address import address_to_script
from stratumv2.bitcoin.errors import BitcoinDecodeError
from stratumv2.bitcoin.hashes import hash_to_hex, hex_to_hash
from stratumv2.bitcoin.tx import Transaction
from stratumv2.roles.regtest_node.chain import BlockInfo
from stratumv2.roles.regtest_node.consensus import (
    COIN,
    POW_LIMIT,
    BlockDecodeError,
    bits_to_target,
    parse_block,
)
from stratumv2.roles.regtest_node.mempool import MempoolReject
from stratumv2.roles.regtest_node.rpc_server import (
    RPC_DESERIALIZATION_ERROR,
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_INVALID_PARAMETER,
    RPC_MISC_ERROR,
    RPC_TYPE_ERROR,
    RpcDispatcher,
    RpcMethodError,
)
from stratumv2.roles.regtest_node.template import template_json

if TYPE_CHECKING:
    from stratumv2.roles.regtest_node.service import RegtestNode

VERSION = 310100
SUBVERSION = "/stratumv2-regtest:0.1.0/"
DIFF1_TARGET = 0x00000000FFFF0000000000000000000000000000000000000000000000000000
_HEX = re.compile(r"^[0-9a-fA-F]*$")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _expect(value: Any, kind: str) -> None:
    ok = {
        "string": isinstance(value, str),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
    }[kind]
    if not ok:
        raise RpcMethodError(
            RPC_TYPE_ERROR,
            f"JSON value of type {_type_name(value)} is not of expected type {kind}",
        )


def _arg(args: list[Any], index: int, default: Any = None) -> Any:
    return args[index] if index < len(args) and args[index] is not None else default


def _int(value: Any) -> int:
    _expect(value, "number")
    if isinstance(value, float) and not value.is_integer():
        raise RpcMethodError(RPC_TYPE_ERROR, "JSON integer out of range")
    return int(value)


def _hash_param(value: Any, name: str) -> bytes:
    _expect(value, "string")
    if len(value) != 64:
        raise RpcMethodError(
            RPC_INVALID_PARAMETER, f"{name} must be of length 64 (not {len(value)}, for '{value}')"
        )
    if not _HEX.match(value):
        raise RpcMethodError(
            RPC_INVALID_PARAMETER, f"{name} must be hexadecimal string (not '{value}')"
        )
    return hex_to_hash(value)


def _hex_param(value: Any) -> bytes:
    _expect(value, "string")
    if len(value) % 2 or not _HEX.match(value):
        raise ValueError("not hex")
    return bytes.fromhex(value)


def difficulty(bits: int) -> float:
    """bitcoind's ``difficulty`` field."""
    return DIFF1_TARGET / bits_to_target(bits)


def address_script(address: str) -> bytes:
    """Output script of a regtest address (ValueError if it is not one)."""
    return address_to_script(address, "regtest")


def register_methods(dispatcher: RpcDispatcher, node: RegtestNode) -> None:
    """Register every supported method on ``dispatcher``, bound to ``node``."""

    def header_json(info: BlockInfo) -> dict[str, Any]:
        chain = node.chain
        header = info.header
        work_per_block = (1 << 256) // (bits_to_target(header.bits) + 1)
        doc: dict[str, Any] = {
            "hash": hash_to_hex(info.hash),
            "confirmations": chain.height - info.height + 1,
            "height": info.height,
            "version": header.version - (1 << 32) if header.version >= 1 << 31 else header.version,
            "versionHex": f"{header.version:08x}",
            "merkleroot": hash_to_hex(header.merkle_root),
            "time": header.time,
            "mediantime": chain.median_time_past(info.height),
            "nonce": header.nonce,
            "bits": f"{header.bits:08x}",
            "target": f"{bits_to_target(header.bits):064x}",
            "difficulty": difficulty(header.bits),
            "chainwork": f"{work_per_block * (info.height + 1):064x}",
            "nTx": info.n_tx,
        }
        if info.height > 0:
            doc["previousblockhash"] = hash_to_hex(header.prev_hash)
        if info.height < chain.height:
            doc["nextblockhash"] = hash_to_hex(chain.info_at(info.height + 1).hash)
        return doc

    def find_block(block_hash: bytes) -> BlockInfo:
        height = node.chain.height_of(block_hash)
        if height is None:
            raise RpcMethodError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
        return node.chain.info_at(height)

    def tx_json(tx: Transaction) -> dict[str, Any]:
        return {
            "txid": hash_to_hex(tx.txid),
            "hash": hash_to_hex(tx.wtxid),
            "version": tx.version,
            "size": len(tx.serialize()),
            "vsize": tx.vsize,
            "weight": tx.weight,
            "locktime": tx.locktime,
            "vin": [
                {"coinbase": i.script_sig.hex(), "sequence": i.sequence}
                if tx.is_coinbase
                else {
                    "txid": hash_to_hex(i.prevout.txid),
                    "vout": i.prevout.vout,
                    "scriptSig": {"hex": i.script_sig.hex()},
                    "txinwitness": [w.hex() for w in i.witness],
                    "sequence": i.sequence,
                }
                for i in tx.inputs
            ],
            "vout": [
                {
                    "value": o.value / COIN,
                    "n": n,
                    "scriptPubKey": {"hex": o.script_pubkey.hex()},
                }
                for n, o in enumerate(tx.outputs)
            ],
            "hex": tx.serialize().hex(),
        }

    # ---- blockchain ------------------------------------------------------------------------

    async def getbestblockhash(args: list[Any]) -> Any:
        return hash_to_hex(node.chain.tip.hash)

    async def getblockcount(args: list[Any]) -> Any:
        return node.chain.height

    async def getblockhash(args: list[Any]) -> Any:
        height = _int(args[0])
        if not 0 <= height <= node.chain.height:
            raise RpcMethodError(RPC_INVALID_PARAMETER, "Block height out of range")
        return hash_to_hex(node.chain.info_at(height).hash)

    async def getblockchaininfo(args: list[Any]) -> Any:
        tip = node.chain.tip
        return {
            "chain": "regtest",
            "blocks": tip.height,
            "headers": tip.height,
            "bestblockhash": hash_to_hex(tip.hash),
            "bits": f"{tip.header.bits:08x}",
            "target": f"{bits_to_target(tip.header.bits):064x}",
            "difficulty": difficulty(tip.header.bits),
            "time": tip.header.time,
            "mediantime": node.chain.median_time_past(),
            "verificationprogress": 1,
            "initialblockdownload": False,
            "chainwork": header_json(tip)["chainwork"],
            "size_on_disk": 0,
            "pruned": False,
            "warnings": [],
        }

    async def getblockheader(args: list[Any]) -> Any:
        info = find_block(_hash_param(args[0], "blockhash"))
        verbose = _arg(args, 1, True)
        _expect(verbose, "bool")
        if not verbose:
            return info.header.serialize().hex()
        return header_json(info)

    async def getblock(args: list[Any]) -> Any:
        info = find_block(_hash_param(args[0], "blockhash"))
        verbosity = _arg(args, 1, 1)
        verbosity = int(verbosity) if isinstance(verbosity, bool) else _int(verbosity)
        raw = node.chain.raw_block(info.hash)
        if raw is None:
            raise RpcMethodError(RPC_MISC_ERROR, "Block not available (not fully downloaded)")
        if verbosity <= 0:
            return raw.hex()
        block = parse_block(raw)
        doc = header_json(info)
        doc.update({"strippedsize": info.stripped_size, "size": info.size, "weight": info.weight})
        if verbosity == 1:
            doc["tx"] = [hash_to_hex(tx.txid) for tx in block.txs]
        else:
            doc["tx"] = [tx_json(tx) for tx in block.txs]
        return doc

    async def getdifficulty(args: list[Any]) -> Any:
        return difficulty(node.chain.tip.header.bits)

    # ---- mining ----------------------------------------------------------------------------

    async def getblocktemplate(args: list[Any]) -> Any:
        request = _arg(args, 0, {})
        _expect(request, "object")
        mode = request.get("mode", "template")
        if mode == "proposal":
            return proposal(request)
        if mode != "template":
            raise RpcMethodError(RPC_INVALID_PARAMETER, "Invalid mode")
        rules = request.get("rules")
        if not isinstance(rules, list) or "segwit" not in rules:
            raise RpcMethodError(
                RPC_INVALID_PARAMETER,
                'getblocktemplate must be called with the segwit rule set (call with {"rules": '
                '["segwit"]})',
            )
        longpollid = request.get("longpollid")
        if longpollid is not None:
            _expect(longpollid, "string")
            await node.wait_for_template_change(longpollid, None)
        return template_json(node.template())

    def proposal(request: dict[str, Any]) -> Any:
        data = request.get("data")
        if not isinstance(data, str):
            raise RpcMethodError(RPC_TYPE_ERROR, "Missing data String key for proposal")
        try:
            block = parse_block(_hex_param(data))
        except (ValueError, BlockDecodeError):
            raise RpcMethodError(RPC_DESERIALIZATION_ERROR, "Block decode failed") from None
        known = node.chain.known_result(block.hash)
        if known:
            return known
        if block.header.prev_hash != node.chain.tip.hash:
            return "inconclusive-not-best-prevblk"
        return node.chain.precheck(block, node.now(), check_pow=False)

    async def submitblock(args: list[Any]) -> Any:
        try:
            raw = _hex_param(args[0])
            return await node.submit_block(raw)
        except (ValueError, BlockDecodeError) as exc:
            message = str(exc)
            if "coinbase" not in message:
                message = "Block decode failed"
            raise RpcMethodError(RPC_DESERIALIZATION_ERROR, message) from None

    async def generatetoaddress(args: list[Any]) -> Any:
        count = _int(args[0])
        _expect(args[1], "string")
        try:
            script = address_script(args[1])
        except ValueError:
            raise RpcMethodError(RPC_INVALID_ADDRESS_OR_KEY, "Error: Invalid address") from None
        if count < 0:
            raise RpcMethodError(RPC_INVALID_PARAMETER, "Invalid nblocks")
        hashes = await node.generate(count, script)
        return [hash_to_hex(h) for h in hashes]

    async def getmininginfo(args: list[Any]) -> Any:
        tip = node.chain.tip
        return {
            "blocks": tip.height,
            "bits": f"{tip.header.bits:08x}",
            "difficulty": difficulty(tip.header.bits),
            "target": f"{POW_LIMIT:064x}",
            "networkhashps": 0,
            "pooledtx": len(node.mempool),
            "chain": "regtest",
            "warnings": [],
        }

    # ---- transactions -------------------------------------------------------------------

    async def sendrawtransaction(args: list[Any]) -> Any:
        try:
            tx = Transaction.parse(_hex_param(args[0]))
        except (ValueError, BitcoinDecodeError):
            raise RpcMethodError(
                RPC_DESERIALIZATION_ERROR,
                "TX decode failed. Make sure the tx has at least one input.",
            ) from None
        max_fee_rate = _arg(args, 1, 0.10)
        _expect(max_fee_rate, "number")
        sat_per_kvb = round(float(max_fee_rate) * COIN)
        try:
            entry = node.accept_transaction(tx, sat_per_kvb or None)
        except MempoolReject as exc:
            raise RpcMethodError(exc.code, exc.reason) from None
        return hash_to_hex(entry.txid)

    async def testmempoolaccept(args: list[Any]) -> Any:
        rawtxs = args[0]
        _expect(rawtxs, "array")
        if len(rawtxs) != 1:
            raise RpcMethodError(
                RPC_INVALID_PARAMETER, "Array must contain between 1 and 1 transactions."
            )
        max_fee_rate = _arg(args, 1, 0.10)
        _expect(max_fee_rate, "number")
        try:
            tx = Transaction.parse(_hex_param(rawtxs[0]))
        except (ValueError, BitcoinDecodeError):
            raise RpcMethodError(
                RPC_DESERIALIZATION_ERROR,
                "TX decode failed: " + str(rawtxs[0])[:40],
            ) from None
        result: dict[str, Any] = {"txid": hash_to_hex(tx.txid), "wtxid": hash_to_hex(tx.wtxid)}
        try:
            entry = node.mempool.accept(
                tx, node.now(), round(float(max_fee_rate) * COIN) or None, test_only=True
            )
        except MempoolReject as exc:
            result.update({"allowed": False, "reject-reason": exc.reason})
        else:
            result.update(
                {"allowed": True, "vsize": entry.vsize, "fees": {"base": entry.fee / COIN}}
            )
        return [result]

    async def decoderawtransaction(args: list[Any]) -> Any:
        try:
            tx = Transaction.parse(_hex_param(args[0]))
        except (ValueError, BitcoinDecodeError):
            raise RpcMethodError(RPC_DESERIALIZATION_ERROR, "TX decode failed") from None
        doc = tx_json(tx)
        del doc["hex"]
        return doc

    def entry_json(txid: bytes) -> dict[str, Any]:
        mempool = node.mempool
        entry = mempool.entries[txid]
        ancestors = [mempool.entries[a] for a in mempool.ancestors(txid)]
        descendants = [mempool.entries[d] for d in mempool.descendants(txid)]
        return {
            "vsize": entry.vsize,
            "weight": entry.weight,
            "time": entry.time,
            "height": entry.height,
            "descendantcount": 1 + len(descendants),
            "descendantsize": entry.vsize + sum(d.vsize for d in descendants),
            "ancestorcount": 1 + len(ancestors),
            "ancestorsize": entry.vsize + sum(a.vsize for a in ancestors),
            "wtxid": hash_to_hex(entry.tx.wtxid),
            "fees": {
                "base": entry.fee / COIN,
                "modified": entry.fee / COIN,
                "ancestor": (entry.fee + sum(a.fee for a in ancestors)) / COIN,
                "descendant": (entry.fee + sum(d.fee for d in descendants)) / COIN,
            },
            "depends": sorted(hash_to_hex(p) for p in entry.parents),
            "spentby": sorted(hash_to_hex(c) for c in entry.children),
            "bip125-replaceable": False,
            "unbroadcast": False,
        }

    async def getrawmempool(args: list[Any]) -> Any:
        verbose = _arg(args, 0, False)
        _expect(verbose, "bool")
        if verbose:
            return {hash_to_hex(t): entry_json(t) for t in node.mempool.entries}
        return [hash_to_hex(t) for t in node.mempool.entries]

    async def getmempoolentry(args: list[Any]) -> Any:
        txid = _hash_param(args[0], "txid")
        if txid not in node.mempool:
            raise RpcMethodError(RPC_INVALID_ADDRESS_OR_KEY, "Transaction not in mempool")
        return entry_json(txid)

    async def getmempoolinfo(args: list[Any]) -> Any:
        entries = node.mempool.entries.values()
        return {
            "loaded": True,
            "size": len(node.mempool),
            "bytes": sum(e.vsize for e in entries),
            "usage": sum(len(e.tx.serialize()) for e in entries),
            "total_fee": sum(e.fee for e in entries) / COIN,
            "minrelaytxfee": node.mempool.min_relay_fee / COIN,
            "mempoolminfee": node.mempool.min_relay_fee / COIN,
        }

    async def getrawtransaction(args: list[Any]) -> Any:
        txid = _hash_param(args[0], "parameter 1")
        verbosity = _arg(args, 1, 0)
        verbosity = int(verbosity) if isinstance(verbosity, bool) else _int(verbosity)
        entry = node.mempool.get(txid)
        info: BlockInfo | None = None
        if entry is not None:
            tx = entry.tx
        else:
            found = node.chain.find_transaction(txid)
            if found is None:
                raise RpcMethodError(
                    RPC_INVALID_ADDRESS_OR_KEY,
                    "No such mempool or blockchain transaction. Use gettransaction for wallet "
                    "transactions.",
                )
            tx, info = found
        if verbosity <= 0:
            return tx.serialize().hex()
        doc = tx_json(tx)
        if info is not None:
            doc.update(
                {
                    "blockhash": hash_to_hex(info.hash),
                    "confirmations": node.chain.height - info.height + 1,
                    "time": info.header.time,
                    "blocktime": info.header.time,
                }
            )
        return doc

    # ---- control and network ----------------------------------------------------------

    async def getnetworkinfo(args: list[Any]) -> Any:
        return {
            "version": VERSION,
            "subversion": SUBVERSION,
            "protocolversion": 70016,
            "localservices": "0000000000000c09",
            "localservicesnames": ["NETWORK", "WITNESS", "NETWORK_LIMITED", "P2P_V2"],
            "localrelay": True,
            "timeoffset": 0,
            "networkactive": True,
            "connections": 0,
            "connections_in": 0,
            "connections_out": 0,
            "networks": [],
            "relayfee": node.mempool.min_relay_fee / COIN,
            "incrementalfee": node.mempool.min_relay_fee / COIN,
            "localaddresses": [],
            "warnings": [],
        }

    async def getconnectioncount(args: list[Any]) -> Any:
        return 0

    async def uptime(args: list[Any]) -> Any:
        return int(time.time() - node.started_at)

    async def stop(args: list[Any]) -> Any:
        node.request_stop()
        return "Bitcoin Core stopping"

    async def help_(args: list[Any]) -> Any:
        return "\n".join(sorted(m.usage for m in dispatcher.methods.values()))

    table: list[tuple[str, Any, tuple[str, ...], int]] = [
        ("getbestblockhash", getbestblockhash, (), 0),
        ("getblockcount", getblockcount, (), 0),
        ("getblockhash", getblockhash, ("height",), 1),
        ("getblockchaininfo", getblockchaininfo, (), 0),
        ("getblockheader", getblockheader, ("blockhash", "verbose"), 1),
        ("getblock", getblock, ("blockhash", "verbosity"), 1),
        ("getdifficulty", getdifficulty, (), 0),
        ("getblocktemplate", getblocktemplate, ("template_request",), 0),
        ("submitblock", submitblock, ("hexdata", "dummy"), 1),
        ("generatetoaddress", generatetoaddress, ("nblocks", "address", "maxtries"), 2),
        ("getmininginfo", getmininginfo, (), 0),
        ("sendrawtransaction", sendrawtransaction, ("hexstring", "maxfeerate", "maxburnamount"), 1),
        ("getrawmempool", getrawmempool, ("verbose", "mempool_sequence"), 0),
        ("getmempoolentry", getmempoolentry, ("txid",), 1),
        ("testmempoolaccept", testmempoolaccept, ("rawtxs", "maxfeerate"), 1),
        ("decoderawtransaction", decoderawtransaction, ("hexstring", "iswitness"), 1),
        ("getmempoolinfo", getmempoolinfo, (), 0),
        ("getrawtransaction", getrawtransaction, ("txid", "verbosity", "blockhash"), 1),
        ("getnetworkinfo", getnetworkinfo, (), 0),
        ("getconnectioncount", getconnectioncount, (), 0),
        ("uptime", uptime, (), 0),
        ("stop", stop, (), 0),
        ("help", help_, ("command",), 0),
    ]
    for name, handler, params, required in table:
        dispatcher.register(name, handler, params, required)
