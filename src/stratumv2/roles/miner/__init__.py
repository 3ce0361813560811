"""``sv2 miner``: a CPU mining device (SV2 standard or extended channel, or SV1).

``core`` is the sans-IO device state machine, ``workers`` the hashing processes,
``service`` the asyncio pump for SV2 and ``sv1_client`` the SV1 (cpuminer-like) client.
"""
