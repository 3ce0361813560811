"""Job Declaration server (``sv2 jds``, or embedded in ``sv2 pool --jds-listen``).

``core``: sans-IO token allocation, declaration checks, solutions; ``service``: asyncio
server, mempool lookups over JSON-RPC, block submission; ``settings``: the TOML/flag schema.
"""
