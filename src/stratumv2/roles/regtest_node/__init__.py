"""An embedded Bitcoin regtest node: libbitcoinkernel validation behind bitcoind's RPC.

``RegtestNode`` (service.py) runs it; ``running_node`` (testing.py) starts one for tests.
"""

from stratumv2.roles.regtest_node.service import NodeConfig, RegtestNode

__all__ = ["NodeConfig", "RegtestNode"]
