"""Job Declaration client (``sv2 jdc``): the miner's own templates declared to a pool.

``core``: sans-IO (downstream pool, JDS and pool links, solo fallback); ``service``:
asyncio glue; ``settings``: the TOML/flag schema.
"""
