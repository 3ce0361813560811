"""Building the coinbase transaction the way Stratum V2 carries it.

The coinbase scriptSig is::

    height push (NewTemplate.coinbase_prefix) || [push tag] || <N> || N extranonce bytes

and the transaction is cut exactly around the N-byte *full* extranonce (upstream
``extranonce_prefix`` followed by the miner's rollable part)::

    coinbase = coinbase_tx_prefix || extranonce || coinbase_tx_suffix

``NewExtendedMiningJob`` (and SV1 coinb1/coinb2) carry the **stripped** (non-witness) prefix and
suffix, so ``txid = sha256d(prefix + extranonce + suffix)``. ``SubmitSolution`` and
``DeclareMiningJob`` carry the witness serialization (marker/flag, and one 32-byte witness item:
the BIP141 reserved value). Outputs: the pool's payout outputs first, then the template's
required outputs (the witness commitment last). Same layout as SRI's job factory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stratumv2.bitcoin.block import (
    WITNESS_COMMITMENT_HEADER,
    WITNESS_RESERVED_VALUE,
    Block,
    find_witness_commitment,
)
from stratumv2.bitcoin.errors import BitcoinDecodeError, CoinbaseError
from stratumv2.bitcoin.hashes import merkle_root, merkle_root_from_branch, sha256d
from stratumv2.bitcoin.header import BlockHeader
from stratumv2.bitcoin.tx import (
    OutPoint,
    Reader,
    Transaction,
    TxIn,
    TxOut,
    compact_size,
)

__all__ = [
    "MAX_EXTRANONCE_SIZE",
    "MAX_SCRIPT_SIG_SIZE",
    "CoinbaseParts",
    "assemble_block",
    "bip34_height_push",
    "build_coinbase",
    "coinbase_from_parts",
    "coinbase_height",
    "outputs_sigop_cost",
    "parse_outputs",
    "push_data",
    "serialize_outputs",
    "sri_coinbase_tag",
    "strip_bip141",
]

MAX_SCRIPT_SIG_SIZE = 100  # consensus: coinbase scriptSig is 2..100 bytes
MIN_SCRIPT_SIG_SIZE = 2
MAX_EXTRANONCE_SIZE = 32  # SV2 (SRI MAX_EXTRANONCE_LEN)
_NULL_PREVOUT = OutPoint.null().serialize()


def push_data(data: bytes) -> bytes:
    """Minimal script push of ``data`` (direct opcode up to 75 bytes, else OP_PUSHDATA1/2)."""
    n = len(data)
    if n <= 75:
        return bytes((n,)) + data
    if n <= 0xFF:
        return b"\x4c" + bytes((n,)) + data
    if n <= 0xFFFF:
        return b"\x4d" + n.to_bytes(2, "little") + data
    raise CoinbaseError("push too large")


def bip34_height_push(height: int) -> bytes:
    """The BIP34 height as Bitcoin Core writes it (``CScript() << height``).

    0 is OP_0, 1..16 are OP_1..OP_16, larger heights a minimal little-endian script number.
    """
    if height < 0:
        raise CoinbaseError("height must be non-negative")
    if height == 0:
        return b"\x00"
    if height <= 16:
        return bytes((0x50 + height,))
    num = height.to_bytes((height.bit_length() + 7) // 8, "little")
    if num[-1] & 0x80:  # keep the script number positive
        num += b"\x00"
    return push_data(num)


def coinbase_height(script_sig: bytes) -> int:
    """Read the BIP34 height at the start of a coinbase scriptSig (inverse of bip34_height_push)."""
    if not script_sig:
        raise BitcoinDecodeError("empty coinbase scriptSig")
    op = script_sig[0]
    if op == 0:
        return 0
    if 0x51 <= op <= 0x60:
        return op - 0x50
    if 1 <= op <= 8 and len(script_sig) >= 1 + op:
        return int.from_bytes(script_sig[1 : 1 + op], "little")
    raise BitcoinDecodeError(f"coinbase scriptSig does not start with a height push: {op:#x}")


def sri_coinbase_tag(pool_tag: str, miner_tag: str = "") -> bytes:
    """SRI's tag text ``Sv2/<pool_tag>/<miner_tag>/`` (pass it as ``tag`` to build_coinbase)."""
    return f"Sv2/{pool_tag}/{miner_tag}/".encode()


def serialize_outputs(outputs: Sequence[TxOut]) -> bytes:
    """Outputs concatenated without a count, as ``NewTemplate.coinbase_tx_outputs`` carries them.

    Its length is also what ``CoinbaseOutputConstraints.coinbase_output_max_additional_size``
    counts for the outputs a pool adds.
    """
    return b"".join(txout.serialize() for txout in outputs)


def parse_outputs(data: bytes, count: int | None = None) -> tuple[TxOut, ...]:
    """Parse concatenated outputs (no count prefix); if ``count`` is given it must match."""
    r = Reader(data)
    outputs: list[TxOut] = []
    while r.remaining():
        value = r.i64()
        outputs.append(TxOut(value, r.var_bytes()))
    if count is not None and count != len(outputs):
        raise BitcoinDecodeError(f"expected {count} coinbase outputs, found {len(outputs)}")
    return tuple(outputs)


@dataclass(frozen=True, slots=True)
class CoinbaseParts:
    """A coinbase cut around its ``extranonce_size``-byte full extranonce.

    ``prefix``/``suffix`` are the stripped (non-witness) bytes of ``NewExtendedMiningJob``.
    ``witness`` is the coinbase input's witness stack: ``(reserved_value,)`` for segwit
    blocks, ``()`` for a legacy coinbase.
    """

    prefix: bytes
    suffix: bytes
    extranonce_size: int
    witness: tuple[bytes, ...] = (WITNESS_RESERVED_VALUE,)

    def serialize(self, extranonce: bytes, include_witness: bool = True) -> bytes:
        """The whole coinbase for a full extranonce (witness serialization by default)."""
        self._check(extranonce)
        if include_witness and self.witness:
            return self.witness_prefix() + extranonce + self.witness_suffix()
        return self.prefix + extranonce + self.suffix

    def transaction(self, extranonce: bytes) -> Transaction:
        """The coinbase as a Transaction (with its witness)."""
        return Transaction.parse(self.serialize(extranonce))

    def txid(self, extranonce: bytes) -> bytes:
        """Coinbase txid (internal order) for a full extranonce."""
        self._check(extranonce)
        return sha256d(self.prefix + extranonce + self.suffix)

    def merkle_root(self, extranonce: bytes, merkle_path: Sequence[bytes]) -> bytes:
        """Header merkle root for a full extranonce and the job's merkle path."""
        return merkle_root_from_branch(self.txid(extranonce), merkle_path)

    def witness_prefix(self) -> bytes:
        """Prefix with BIP141 marker and flag (``DeclareMiningJob`` form)."""
        if not self.witness:
            return self.prefix
        return self.prefix[:4] + b"\x00\x01" + self.prefix[4:]

    def witness_suffix(self) -> bytes:
        """Suffix with the input's witness before the locktime (``DeclareMiningJob`` form)."""
        if not self.witness:
            return self.suffix
        stack = TxIn(OutPoint.null(), witness=self.witness).serialize_witness()
        return self.suffix[:-4] + stack + self.suffix[-4:]

    def _check(self, extranonce: bytes) -> None:
        if len(extranonce) != self.extranonce_size:
            raise CoinbaseError(
                f"extranonce must be {self.extranonce_size} bytes, got {len(extranonce)}"
            )


def build_coinbase(
    *,
    height_push: bytes,
    extranonce_size: int,
    outputs: Sequence[TxOut],
    template_outputs: Sequence[TxOut] = (),
    tag: bytes = b"",
    version: int = 2,
    sequence: int = 0xFFFFFFFF,
    locktime: int = 0,
    witness_reserved_value: bytes | None = WITNESS_RESERVED_VALUE,
    value_remaining: int | None = None,
) -> CoinbaseParts:
    """Build the coinbase and cut it around the extranonce.

    ``height_push``: start of the scriptSig, i.e. ``NewTemplate.coinbase_prefix`` (or
    ``bip34_height_push(height)``). ``tag``: optional pool tag (pushed as one script item;
    omitted when empty; see :func:`sri_coinbase_tag`). ``extranonce_size``: the full
    extranonce length (upstream prefix + miner part), at most 32. ``outputs``: the pool's payout
    outputs, placed before ``template_outputs`` (``NewTemplate.coinbase_tx_outputs``).
    ``version``, ``sequence``, ``locktime``: the template's ``coinbase_tx_*`` fields.
    ``witness_reserved_value``: the coinbase witness item, used only when an output carries a
    BIP141 witness commitment (None = never a witness).
    ``value_remaining``: if given, the payout outputs must not spend more than it.

    Raises CoinbaseError when the scriptSig would leave the 2..100 byte consensus range.
    """
    if not 0 <= extranonce_size <= MAX_EXTRANONCE_SIZE:
        raise CoinbaseError(f"extranonce_size must be 0..{MAX_EXTRANONCE_SIZE}")
    if value_remaining is not None:
        paid = sum(txout.value for txout in outputs)
        if paid > value_remaining:
            raise CoinbaseError(f"outputs pay {paid} sat, only {value_remaining} available")
    if any(txout.value < 0 for txout in (*outputs, *template_outputs)):
        raise CoinbaseError("negative output value")
    all_outputs = (*outputs, *template_outputs)
    if not all_outputs:
        raise CoinbaseError("a coinbase needs at least one output")
    if witness_reserved_value is not None and len(witness_reserved_value) != 32:
        raise CoinbaseError("witness reserved value must be 32 bytes")
    if not 0 <= sequence <= 0xFFFFFFFF or not 0 <= locktime <= 0xFFFFFFFF:
        raise CoinbaseError("sequence and locktime must be u32")

    script_head = height_push + (push_data(tag) if tag else b"") + bytes((extranonce_size,))
    script_len = len(script_head) + extranonce_size
    if not MIN_SCRIPT_SIG_SIZE <= script_len <= MAX_SCRIPT_SIG_SIZE:
        raise CoinbaseError(
            f"coinbase scriptSig would be {script_len} bytes (consensus allows 2..100)"
        )

    prefix = b"".join(
        (
            (version & 0xFFFFFFFF).to_bytes(4, "little"),
            b"\x01",
            _NULL_PREVOUT,
            compact_size(script_len),
            script_head,
        )
    )
    suffix = b"".join(
        (
            sequence.to_bytes(4, "little"),
            compact_size(len(all_outputs)),
            serialize_outputs(all_outputs),
            locktime.to_bytes(4, "little"),
        )
    )
    # A witness without a commitment output makes the block invalid ("unexpected-witness").
    commits = any(_is_commitment(txout.script_pubkey) for txout in all_outputs)
    witness = (witness_reserved_value,) if witness_reserved_value is not None and commits else ()
    return CoinbaseParts(prefix, suffix, extranonce_size, witness)


def _is_commitment(script: bytes) -> bool:
    return len(script) >= 38 and script.startswith(WITNESS_COMMITMENT_HEADER)


def _with_reserved_value(tx: Transaction, reserved_value: bytes | None) -> Transaction:
    if tx.has_witness or reserved_value is None or find_witness_commitment(tx) is None:
        return tx
    txin = tx.inputs[0]
    witness_in = TxIn(txin.prevout, txin.script_sig, txin.sequence, (reserved_value,))
    return Transaction(tx.version, (witness_in,), tx.outputs, tx.locktime)


def outputs_sigop_cost(outputs: Sequence[TxOut]) -> int:
    """Sigop cost of coinbase outputs (legacy count x 4), for CoinbaseOutputConstraints.

    Counts like Bitcoin Core's inaccurate GetSigOpCount: CHECKSIG(VERIFY) 1,
    CHECKMULTISIG(VERIFY) 20. Witness programs (P2WPKH, P2TR...) cost nothing here.
    """
    return 4 * sum(_legacy_sigops(txout.script_pubkey) for txout in outputs)


def _legacy_sigops(script: bytes) -> int:
    count = 0
    i = 0
    n = len(script)
    while i < n:
        op = script[i]
        i += 1
        if op <= 0x4B:
            i += op
        elif op == 0x4C:
            i += 1 + (script[i] if i < n else 0)
        elif op == 0x4D:
            i += 2 + int.from_bytes(script[i : i + 2], "little")
        elif op == 0x4E:
            i += 4 + int.from_bytes(script[i : i + 4], "little")
        elif op in (0xAC, 0xAD):
            count += 1
        elif op in (0xAE, 0xAF):
            count += 20
    return count


def strip_bip141(prefix: bytes, suffix: bytes) -> tuple[bytes, bytes]:
    """Drop marker/flag and the coinbase witness from a witness-serialized prefix/suffix pair.

    Same rule as SRI's ``try_strip_bip141``: only a one-item 32-byte witness (``01 20`` + 32
    bytes before the locktime) is recognised; a pair without marker/flag is returned unchanged.
    """
    if len(prefix) < 6 or not (prefix[4] == 0x00 and prefix[5] != 0x00):
        return prefix, suffix
    if len(suffix) < 38 or suffix[-38:-36] != b"\x01\x20":
        raise BitcoinDecodeError("witness coinbase suffix does not end with a 32-byte witness")
    return prefix[:4] + prefix[6:], suffix[:-38] + suffix[-4:]


def coinbase_from_parts(
    coinbase_tx_prefix: bytes,
    extranonce: bytes,
    coinbase_tx_suffix: bytes,
    witness_reserved_value: bytes | None = WITNESS_RESERVED_VALUE,
) -> Transaction:
    """Coinbase transaction from stripped prefix/extranonce/suffix (as a miner submits them).

    The witness (the reserved value) is added when the coinbase carries a BIP141 witness
    commitment and ``witness_reserved_value`` is not None.
    """
    tx = Transaction.parse(coinbase_tx_prefix + extranonce + coinbase_tx_suffix)
    if not tx.is_coinbase:
        raise BitcoinDecodeError("not a coinbase transaction")
    return _with_reserved_value(tx, witness_reserved_value)


def assemble_block(
    *,
    version: int,
    prev_hash: bytes,
    time: int,
    bits: int,
    nonce: int,
    coinbase: Transaction | bytes,
    transactions: Sequence[Transaction | bytes],
    witness_reserved_value: bytes | None = WITNESS_RESERVED_VALUE,
) -> Block:
    """The full block for ``submitblock``: header fields + coinbase + template transactions.

    ``coinbase`` is a Transaction or its serialization (e.g. ``SubmitSolution.coinbase_tx``,
    or ``CoinbaseParts.serialize(extranonce)``); ``transactions`` are the template's other
    transactions in block order (objects or witness-serialized bytes, as
    ``RequestTransactionData.Success`` carries them). The merkle root is computed here.
    A stripped coinbase that carries a witness commitment gets ``witness_reserved_value`` as
    its witness (as bitcoind's submitblock would add it). Use ``coinbase_from_parts`` when you
    hold a stripped prefix/extranonce/suffix.
    """
    cb = coinbase if isinstance(coinbase, Transaction) else Transaction.parse(coinbase)
    if not cb.is_coinbase:
        raise BitcoinDecodeError("first transaction is not a coinbase")
    cb = _with_reserved_value(cb, witness_reserved_value)
    txs = [tx if isinstance(tx, Transaction) else Transaction.parse(tx) for tx in transactions]
    all_txs = (cb, *txs)
    root = merkle_root([tx.txid for tx in all_txs])
    header = BlockHeader(version & 0xFFFFFFFF, prev_hash, root, time, bits, nonce)
    return Block(header, all_txs)
