"""Sans-IO Template Provider: getblocktemplate results in, Template Distribution messages out.

Nothing here touches a socket or a clock: every entry point that depends on time takes
``now`` (seconds, any monotonic origin), and the asyncio service in ``service.py`` pumps
node replies and client messages through :class:`TemplateProviderCore`.

What it does, following Bitcoin Core's sv2-tp (shared/sv2-spec/06-observed-sv2-tp.md):

* a getblocktemplate (GBT) result becomes a :class:`BlockTemplate` (validated; a malformed
  reply raises :class:`MalformedTemplate`, never a KeyError);
* each client's ``CoinbaseOutputConstraints`` reserves room in the block; when a template
  leaves too little, the client gets a variant with transactions trimmed from the tail;
* on a new tip every ready client gets ``NewTemplate{future=true}`` then ``SetNewPrevHash``;
  on the same tip, a ``NewTemplate{future=false}`` when fees rose by ``fee_delta`` sats, at
  most every ``min_interval`` seconds;
* ``RequestTransactionData`` is answered from the cache (``template-id-not-found`` /
  ``stale-template-id``), and ``SubmitSolution`` becomes a full block for ``submitblock``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stratumv2.bitcoin.errors import BitcoinDecodeError
from stratumv2.bitcoin.hashes import (
    hash_to_hex,
    hex_to_hash,
    merkle_branch,
    merkle_root,
    merkle_root_from_branch,
    sha256d,
)
from stratumv2.bitcoin.header import serialize_header
from stratumv2.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut, compact_size
from stratumv2.protocol import (
    CoinbaseOutputConstraints,
    NewTemplate,
    RequestTransactionData,
    RequestTransactionDataError,
    RequestTransactionDataSuccess,
    SetNewPrevHashTd,
    SubmitSolution,
)

__all__ = [
    "COINBASE_TX_SEQUENCE",
    "COINBASE_TX_VERSION",
    "MAX_BLOCK_SIGOPS_COST",
    "MAX_BLOCK_WEIGHT",
    "WITNESS_RESERVED_VALUE",
    "BlockTemplate",
    "ClientConstraints",
    "MalformedTemplate",
    "Send",
    "SolvedBlock",
    "TemplateError",
    "TemplateProviderCore",
    "TemplateVariant",
    "UnknownTemplate",
    "bip34_height_push",
    "block_from_solution",
    "coinbase_for_variant",
    "coinbase_reservation_weight",
    "fitting_tx_count",
    "make_variant",
    "parse_gbt",
    "witness_commitment_script",
]

MAX_BLOCK_WEIGHT = 4_000_000
MAX_BLOCK_SIGOPS_COST = 80_000
#: Bitcoin Core never reserves less than this for the coinbase (MINIMUM_BLOCK_RESERVED_WEIGHT).
MIN_RESERVED_WEIGHT = 2000
#: The coinbase's witness: one 32-byte stack item of zeros (BIP141); also sent as excess_data.
WITNESS_RESERVED_VALUE = b"\x00" * 32
#: What sv2-tp puts in NewTemplate (Bitcoin Core v31 coinbase): version 2, nSequence
#: 0xfffffffe, nLockTime = height - 1.
COINBASE_TX_VERSION = 2
COINBASE_TX_SEQUENCE = 0xFFFFFFFE
WITNESS_COMMITMENT_HEADER = bytes.fromhex("aa21a9ed")
ERROR_TEMPLATE_NOT_FOUND = "template-id-not-found"
ERROR_STALE_TEMPLATE = "stale-template-id"


class TemplateError(Exception):
    """Base class of the template provider's errors."""


class MalformedTemplate(TemplateError, ValueError):
    """The node's getblocktemplate reply is not usable; the message says which field."""


class UnknownTemplate(TemplateError, KeyError):
    """A client named a template id this provider does not (or no longer) know."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown template"


# ---- small helpers ---------------------------------------------------------------------------


def bip34_height_push(height: int) -> bytes:
    """The scriptSig start BIP34 requires: ``CScript() << height`` as Bitcoin Core writes it.

    Heights 1..16 are a single ``OP_1``..``OP_16``; others a minimal CScriptNum push.
    """
    if height < 0:
        raise ValueError("height must be non-negative")
    if height == 0:
        return b"\x00"
    if height <= 16:
        return bytes((0x50 + height,))
    num = height.to_bytes((height.bit_length() + 7) // 8, "little")
    if num[-1] & 0x80:
        num += b"\x00"
    return bytes((len(num),)) + num


def witness_commitment_script(wtxids: Sequence[bytes]) -> bytes:
    """``OP_RETURN aa21a9ed <commitment>`` for the non-coinbase wtxids (internal order)."""
    root = merkle_root([b"\x00" * 32, *wtxids])
    commitment = sha256d(root + WITNESS_RESERVED_VALUE)
    return b"\x6a\x24" + WITNESS_COMMITMENT_HEADER + commitment


def coinbase_reservation_weight(max_additional_size: int, segwit: bool = True) -> int:
    """Weight the client's coinbase, header and tx count need (spec 7.1, Core's 2000 floor)."""
    base = 1168 if segwit else 944
    return max(MIN_RESERVED_WEIGHT, base + 4 * max_additional_size)


# ---- the node's template -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockTemplate:
    """One getblocktemplate result, validated and converted to internal byte order.

    ``transactions`` are the raw (witness) serializations in block order; ``txids`` /
    ``wtxids`` match them; ``fees``, ``weights``, ``sigops`` are per transaction as the node
    reported them. ``coinbase_value`` is subsidy + fees of all the transactions.
    """

    height: int
    version: int
    prev_hash: bytes
    bits: int
    target: int
    curtime: int
    mintime: int
    coinbase_value: int
    transactions: tuple[bytes, ...]
    txids: tuple[bytes, ...]
    wtxids: tuple[bytes, ...]
    fees: tuple[int, ...]
    weights: tuple[int, ...]
    sigops: tuple[int, ...]
    segwit: bool
    longpollid: str | None = None

    @property
    def total_fees(self) -> int:
        """Sum of the transactions' fees (sats)."""
        return sum(self.fees)

    @property
    def total_weight(self) -> int:
        """Sum of the transactions' weights (without header and coinbase)."""
        return sum(self.weights)

    @property
    def total_sigops(self) -> int:
        """Sum of the transactions' sigop costs."""
        return sum(self.sigops)

    @property
    def prev_hash_hex(self) -> str:
        """The previous block hash as RPC shows it."""
        return hash_to_hex(self.prev_hash)


def _field(gbt: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in gbt:
        raise MalformedTemplate(f"getblocktemplate reply lacks {key!r}")
    value = gbt[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedTemplate(f"getblocktemplate {key!r} has the wrong type: {value!r:.80}")
    return value


def _hex32(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 64:
        raise MalformedTemplate(f"{what} is not a 32-byte hex hash: {value!r:.80}")
    try:
        return hex_to_hash(value)
    except ValueError:
        raise MalformedTemplate(f"{what} is not hex: {value!r:.80}") from None


def _u32(value: int, what: str) -> int:
    if not 0 <= value <= 0xFFFFFFFF:
        raise MalformedTemplate(f"{what} out of range: {value}")
    return value


def _checked_entry(
    entry: Any, index: int, cache: Mapping[bytes, bytes]
) -> tuple[bytes, bytes, bytes, int, int, int]:
    """One GBT transaction entry, checked field by field (errors name the field)."""
    where = f"transactions[{index}]"
    if not isinstance(entry, Mapping):
        raise MalformedTemplate(f"{where} is not an object")
    txid = _hex32(entry.get("txid"), f"{where}.txid")
    wtxid = _hex32(entry.get("hash", entry.get("txid")), f"{where}.hash")
    raw = cache.get(wtxid)
    if raw is None:
        data = entry.get("data")
        if not isinstance(data, str) or not data:
            raise MalformedTemplate(f"{where}.data is missing")
        try:
            raw = bytes.fromhex(data)
        except ValueError:
            raise MalformedTemplate(f"{where}.data is not hex") from None
    fee = entry.get("fee", 0)
    weight = entry.get("weight", 4 * len(raw))
    sigop = entry.get("sigops", 0)
    for name, value in (("fee", fee), ("weight", weight), ("sigops", sigop)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise MalformedTemplate(f"{where}.{name} is not a non-negative integer")
    return txid, wtxid, raw, fee, weight, sigop


def parse_gbt(gbt: Any, tx_cache: Mapping[bytes, bytes] | None = None) -> BlockTemplate:
    """Validate a getblocktemplate result and convert it to a :class:`BlockTemplate`.

    ``tx_cache`` (wtxid -> raw bytes) lets consecutive templates share the same bytes objects.
    Raises :class:`MalformedTemplate` naming the first bad field.
    """
    if not isinstance(gbt, Mapping):
        raise MalformedTemplate(f"getblocktemplate reply is not an object: {gbt!r:.80}")
    height = _field(gbt, "height", int)
    if height < 1:
        raise MalformedTemplate(f"getblocktemplate height out of range: {height}")
    version = _field(gbt, "version", int) & 0xFFFFFFFF
    prev_hash = _hex32(_field(gbt, "previousblockhash", str), "previousblockhash")
    bits_hex = _field(gbt, "bits", str)
    try:
        bits = _u32(int(bits_hex, 16), "bits")
    except ValueError:
        raise MalformedTemplate(f"getblocktemplate bits is not hex: {bits_hex!r:.80}") from None
    target = int.from_bytes(_hex32(gbt.get("target", ""), "target"), "little")
    curtime = _u32(_field(gbt, "curtime", int), "curtime")
    mintime_value = gbt.get("mintime")
    mintime = _u32(mintime_value if isinstance(mintime_value, int) else curtime, "mintime")
    coinbase_value = _field(gbt, "coinbasevalue", int)
    if not 0 <= coinbase_value < 21_000_000 * 100_000_000:
        raise MalformedTemplate(f"coinbasevalue out of range: {coinbase_value}")
    rules = gbt.get("rules", [])
    segwit = isinstance(rules, list) and any(r in ("segwit", "!segwit") for r in rules)
    entries = _field(gbt, "transactions", list)
    raws: list[bytes] = []
    txids: list[bytes] = []
    wtxids: list[bytes] = []
    fees: list[int] = []
    weights: list[int] = []
    sigops: list[int] = []
    cache = tx_cache or {}
    fromhex = bytes.fromhex
    for index, entry in enumerate(entries):
        # Fast path for well-formed entries; any surprise goes to the slow, precise checks.
        try:
            txid = fromhex(entry["txid"])[::-1]
            wtxid = fromhex(entry["hash"])[::-1]
            raw = cache.get(wtxid) or fromhex(entry["data"])
            fee = entry["fee"]
            weight = entry["weight"]
            sigop = entry["sigops"]
            ok = (
                len(txid) == 32
                and len(wtxid) == 32
                and raw
                and type(fee) is int
                and type(weight) is int
                and type(sigop) is int
                and fee >= 0
                and weight >= 0
                and sigop >= 0
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            ok = False
        if not ok:
            txid, wtxid, raw, fee, weight, sigop = _checked_entry(entry, index, cache)
        raws.append(raw)
        txids.append(txid)
        wtxids.append(wtxid)
        fees.append(fee)
        weights.append(weight)
        sigops.append(sigop)
    longpollid = gbt.get("longpollid")
    return BlockTemplate(
        height=height,
        version=version,
        prev_hash=prev_hash,
        bits=bits,
        target=target,
        curtime=curtime,
        mintime=mintime,
        coinbase_value=coinbase_value,
        transactions=tuple(raws),
        txids=tuple(txids),
        wtxids=tuple(wtxids),
        fees=tuple(fees),
        weights=tuple(weights),
        sigops=tuple(sigops),
        segwit=segwit,
        longpollid=longpollid if isinstance(longpollid, str) else None,
    )


# ---- what clients receive --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientConstraints:
    """A client's ``CoinbaseOutputConstraints``: room its own coinbase outputs need."""

    max_additional_size: int = 0
    max_additional_sigops: int = 400


@dataclass(slots=True)
class TemplateVariant:
    """A template as sent to clients: the node's template, possibly trimmed to ``n_txs``."""

    template_id: int
    base: BlockTemplate
    n_txs: int
    merkle_path: tuple[bytes, ...]
    coinbase_outputs: tuple[TxOut, ...]
    coinbase_value: int

    @property
    def prev_hash(self) -> bytes:
        """The block this template builds on."""
        return self.base.prev_hash

    @property
    def transactions(self) -> tuple[bytes, ...]:
        """Raw transactions of this variant, in block order."""
        return self.base.transactions[: self.n_txs]

    @property
    def coinbase_prefix(self) -> bytes:
        """The scriptSig start: the BIP34 height push only (as sv2-tp sends)."""
        return bip34_height_push(self.base.height)

    def new_template(self, future: bool) -> NewTemplate:
        """The ``NewTemplate`` message for this variant."""
        outputs = b"".join(out.serialize() for out in self.coinbase_outputs)
        return NewTemplate(
            template_id=self.template_id,
            future_template=future,
            version=self.base.version,
            coinbase_tx_version=COINBASE_TX_VERSION,
            coinbase_prefix=self.coinbase_prefix,
            coinbase_tx_input_sequence=COINBASE_TX_SEQUENCE,
            coinbase_tx_value_remaining=self.coinbase_value,
            coinbase_tx_outputs_count=len(self.coinbase_outputs),
            coinbase_tx_outputs=outputs,
            coinbase_tx_locktime=self.base.height - 1,
            merkle_path=self.merkle_path,
        )

    def set_new_prev_hash(self) -> SetNewPrevHashTd:
        """The ``SetNewPrevHash`` (TD) message activating this variant."""
        return SetNewPrevHashTd(
            template_id=self.template_id,
            prev_hash=self.base.prev_hash,
            header_timestamp=self.base.curtime,
            n_bits=self.base.bits,
            target=self.base.target.to_bytes(32, "little"),
        )


def make_variant(template_id: int, base: BlockTemplate, n_txs: int) -> TemplateVariant:
    """Build the variant of ``base`` keeping its first ``n_txs`` transactions."""
    txids = base.txids[:n_txs]
    removed_fees = sum(base.fees[n_txs:])
    outputs: tuple[TxOut, ...] = ()
    if base.segwit:
        outputs = (TxOut(0, witness_commitment_script(base.wtxids[:n_txs])),)
    return TemplateVariant(
        template_id=template_id,
        base=base,
        n_txs=n_txs,
        merkle_path=tuple(merkle_branch(txids)),
        coinbase_outputs=outputs,
        coinbase_value=base.coinbase_value - removed_fees,
    )


def fitting_tx_count(base: BlockTemplate, constraints: ClientConstraints) -> int:
    """How many of the template's transactions fit beside the client's coinbase outputs.

    Transactions are dropped from the tail; GBT lists parents before children, so this
    never leaves a child without its parent.
    """
    weight_budget = MAX_BLOCK_WEIGHT - coinbase_reservation_weight(
        constraints.max_additional_size, base.segwit
    )
    sigops_budget = MAX_BLOCK_SIGOPS_COST - constraints.max_additional_sigops
    weight = base.total_weight
    sigops = base.total_sigops
    n = len(base.transactions)
    while n and (weight > weight_budget or sigops > sigops_budget):
        n -= 1
        weight -= base.weights[n]
        sigops -= base.sigops[n]
    return n


# ---- solutions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SolvedBlock:
    """A full block built from a ``SubmitSolution``, ready for ``submitblock``."""

    template_id: int
    height: int
    block_hash: bytes
    raw: bytes
    meets_target: bool

    @property
    def hash_hex(self) -> str:
        """The block hash as RPC shows it."""
        return hash_to_hex(self.block_hash)


def block_from_solution(variant: TemplateVariant, solution: SubmitSolution) -> SolvedBlock:
    """Assemble header + the client's coinbase + the variant's transactions.

    Raises :class:`TemplateError` when the coinbase is not a parseable coinbase transaction.
    """
    coinbase_raw = bytes(solution.coinbase_tx)
    try:
        coinbase = Transaction.parse(coinbase_raw)
    except (BitcoinDecodeError, ValueError) as exc:
        raise TemplateError(f"solution's coinbase does not parse: {exc}") from None
    if not coinbase.is_coinbase:
        raise TemplateError("solution's coinbase_tx is not a coinbase transaction")
    root = merkle_root_from_branch(coinbase.txid, variant.merkle_path)
    header = serialize_header(
        solution.version & 0xFFFFFFFF,
        variant.base.prev_hash,
        root,
        solution.header_timestamp,
        variant.base.bits,
        solution.header_nonce,
    )
    block_hash = sha256d(header)
    txs = variant.transactions
    raw = b"".join((header, compact_size(len(txs) + 1), coinbase_raw, *txs))
    return SolvedBlock(
        template_id=variant.template_id,
        height=variant.base.height,
        block_hash=block_hash,
        raw=raw,
        meets_target=int.from_bytes(block_hash, "little") <= variant.base.target,
    )


# ---- the provider ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``message`` to client ``client_id``."""

    client_id: int
    message: Any


@dataclass(slots=True)
class _Client:
    constraints: ClientConstraints | None = None
    current_template_id: int | None = None


@dataclass(slots=True)
class _Pending:
    base: BlockTemplate
    since: float


@dataclass(slots=True)
class TemplateProviderCore:
    """The TP's state: clients, the current template, the cache of sent variants.

    ``fee_delta``: sats by which fees must rise before a same-tip template is pushed;
    ``min_interval``: seconds between two such pushes; ``keep_templates``: how many sent
    variants of older tips to remember for RequestTransactionData / SubmitSolution (those of
    the current tip are all kept, up to ``max_templates``).
    """

    fee_delta: int = 1000
    min_interval: float = 10.0
    keep_templates: int = 64
    max_templates: int = 4096
    current: BlockTemplate | None = None
    _clients: dict[int, _Client] = field(default_factory=dict)
    _variants: OrderedDict[int, TemplateVariant] = field(default_factory=OrderedDict)
    _by_count: dict[int, TemplateVariant] = field(default_factory=dict)
    _next_id: int = 1
    _last_sent_fees: int = 0
    _last_sent_at: float | None = None
    _pending: _Pending | None = None

    # -- clients --

    def add_client(self, client_id: int) -> None:
        """A client finished SetupConnection; it gets templates once it sends constraints."""
        self._clients[client_id] = _Client()

    def remove_client(self, client_id: int) -> None:
        """Forget a disconnected client."""
        self._clients.pop(client_id, None)

    @property
    def client_ids(self) -> list[int]:
        """Connected clients."""
        return list(self._clients)

    def handle_message(self, client_id: int, message: Any, now: float) -> list[Send]:
        """React to a client's message (TD messages only; others are the caller's business).

        ``SubmitSolution`` is not handled here: use :meth:`solve`.
        """
        if isinstance(message, CoinbaseOutputConstraints):
            return self.set_constraints(
                client_id,
                ClientConstraints(
                    message.coinbase_output_max_additional_size,
                    message.coinbase_output_max_additional_sigops,
                ),
            )
        if isinstance(message, RequestTransactionData):
            return [Send(client_id, self.transaction_data(message.template_id))]
        raise TemplateError(f"unexpected message {type(message).__name__}")

    def set_constraints(self, client_id: int, constraints: ClientConstraints) -> list[Send]:
        """Record constraints and send the current work: future NewTemplate + SetNewPrevHash."""
        client = self._clients.setdefault(client_id, _Client())
        client.constraints = constraints
        if self.current is None:
            return []
        variant = self._variant_for(self.current, constraints)
        if variant.template_id == client.current_template_id:
            # Never send the same id twice on a connection: ids strictly increase.
            variant = self._variant_for(self.current, constraints, fresh=True)
        client.current_template_id = variant.template_id
        return [
            Send(client_id, variant.new_template(future=True)),
            Send(client_id, variant.set_new_prev_hash()),
        ]

    # -- templates --

    def update_template(self, template: BlockTemplate, now: float) -> list[Send]:
        """A fresh template from the node: push it if the tip changed or fees rose enough."""
        previous = self.current
        if previous is None or template.prev_hash != previous.prev_hash:
            self.current = template
            self._pending = None
            self._by_count.clear()
            self._last_sent_fees = template.total_fees
            self._last_sent_at = now
            return self._broadcast(template, future=True)
        self.current = template
        if template.total_fees < self._last_sent_fees + self.fee_delta:
            # Not worth a push; a pending one stays pending with the newer transactions.
            if self._pending is not None:
                self._pending = _Pending(template, self._pending.since)
            return []
        self._pending = _Pending(template, now)
        return self.tick(now)

    def tick(self, now: float) -> list[Send]:
        """Push a held-back fee-rise template once ``min_interval`` has passed."""
        due = self.next_timer()
        if self._pending is None or due is None or now < due:
            return []
        template = self._pending.base
        self._pending = None
        self._last_sent_fees = template.total_fees
        self._last_sent_at = now
        self._by_count.clear()
        return self._broadcast(template, future=False)

    def next_timer(self) -> float | None:
        """When :meth:`tick` has something to do, or None."""
        if self._pending is None:
            return None
        if self._last_sent_at is None:
            return self._pending.since
        return max(self._pending.since, self._last_sent_at + self.min_interval)

    def _broadcast(self, template: BlockTemplate, future: bool) -> list[Send]:
        out: list[Send] = []
        for client_id, client in self._clients.items():
            if client.constraints is None:
                continue
            variant = self._variant_for(template, client.constraints)
            client.current_template_id = variant.template_id
            out.append(Send(client_id, variant.new_template(future=future)))
            if future:
                out.append(Send(client_id, variant.set_new_prev_hash()))
        return out

    def _variant_for(
        self, template: BlockTemplate, constraints: ClientConstraints, fresh: bool = False
    ) -> TemplateVariant:
        n = fitting_tx_count(template, constraints)
        cached = self._by_count.get(n)
        if cached is not None and cached.base is template and not fresh:
            return cached
        variant = make_variant(self._next_id, template, n)
        self._next_id += 1
        self._by_count[n] = variant
        self._variants[variant.template_id] = variant
        self._prune(template.prev_hash)
        return variant

    def _prune(self, tip: bytes) -> None:
        """Forget old templates: those of older tips first; the current tip's are kept (a
        solution may name any of them) unless there are more than ``max_templates``."""
        excess = len(self._variants) - self.keep_templates
        if excess <= 0:
            return
        for template_id in list(self._variants):
            if excess <= 0:
                break
            old = self._variants[template_id].prev_hash != tip
            if old or len(self._variants) > self.max_templates:
                del self._variants[template_id]
                excess -= 1

    def variant(self, template_id: int) -> TemplateVariant:
        """A sent template by id; raises :class:`UnknownTemplate`."""
        try:
            return self._variants[template_id]
        except KeyError:
            raise UnknownTemplate(f"unknown template id {template_id}") from None

    # -- requests --

    def transaction_data(
        self, template_id: int
    ) -> RequestTransactionDataSuccess | RequestTransactionDataError:
        """The answer to ``RequestTransactionData``."""
        variant = self._variants.get(template_id)
        if variant is None:
            return RequestTransactionDataError(
                template_id=template_id, error_code=ERROR_TEMPLATE_NOT_FOUND
            )
        if self.current is None or variant.prev_hash != self.current.prev_hash:
            return RequestTransactionDataError(
                template_id=template_id, error_code=ERROR_STALE_TEMPLATE
            )
        return RequestTransactionDataSuccess(
            template_id=template_id,
            excess_data=WITNESS_RESERVED_VALUE,
            transaction_list=variant.transactions,
        )

    def solve(self, solution: SubmitSolution) -> SolvedBlock:
        """Build the block for a ``SubmitSolution``; raises :class:`TemplateError`."""
        return block_from_solution(self.variant(solution.template_id), solution)

    def tx_cache(self) -> dict[bytes, bytes]:
        """wtxid -> raw bytes of the current template (to share bytes with the next one)."""
        if self.current is None:
            return {}
        return dict(zip(self.current.wtxids, self.current.transactions, strict=True))


def coinbase_for_variant(
    variant: TemplateVariant,
    payout_script: bytes,
    extranonce: bytes = b"",
) -> Transaction:
    """A valid coinbase for ``variant`` paying everything to ``payout_script`` (tests, tools).

    The scriptSig is ``coinbase_prefix ‖ extranonce`` padded to the 2-byte consensus minimum;
    outputs are the payout first, then the template's outputs; witness = reserved value.
    """
    script_sig = variant.coinbase_prefix + extranonce
    if len(script_sig) < 2:
        script_sig += b"\x00" * (2 - len(script_sig))
    witness: tuple[bytes, ...] = (WITNESS_RESERVED_VALUE,) if variant.coinbase_outputs else ()
    return Transaction(
        version=COINBASE_TX_VERSION,
        inputs=(TxIn(OutPoint.null(), script_sig, COINBASE_TX_SEQUENCE, witness),),
        outputs=(TxOut(variant.coinbase_value, payout_script), *variant.coinbase_outputs),
        locktime=variant.base.height - 1,
    )
