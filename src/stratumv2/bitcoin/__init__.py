"""Sans-IO Bitcoin primitives: hashes and merkle trees, headers, transactions, blocks,
the SV2 coinbase, targets and difficulty, payout addresses.

Modules: ``hashes``, ``header``, ``tx``, ``block``, ``coinbase``, ``target``, ``address``,
``errors``. Hashes are 32 bytes in internal byte order everywhere; reverse them (``hashes.
hash_to_hex``) only for display and RPC.
"""
