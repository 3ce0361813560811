"""An embedded Bitcoin regtest node: libbitcoinkernel validation behind bitcoind's RPC.

Modules: ``chain`` (kernel chainstate + our indexes), ``consensus`` (Core's checks with
Core's reject reasons), ``mempool``, ``template`` (getblocktemplate), ``rpc_server`` and
``methods`` (JSON-RPC), ``txgen`` + ``wallet`` (``--tx-rate``), ``service`` (the asyncio
node), ``testing`` (``running_node`` for tests).

RPC methods: getbestblockhash getblockcount getblockhash getblockchaininfo getblockheader
getblock getdifficulty getblocktemplate (template, long poll, proposal) submitblock
generatetoaddress getmininginfo sendrawtransaction testmempoolaccept decoderawtransaction
getrawmempool getmempoolentry getmempoolinfo getrawtransaction getnetworkinfo
getconnectioncount uptime stop help.
"""

from stratumv2.roles.regtest_node.service import NodeConfig, RegtestNode

__all__ = ["NodeConfig", "RegtestNode"]
