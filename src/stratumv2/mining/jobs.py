"""From Template Distribution templates to mining jobs (sans-IO).

:class:`JobFactory` keeps the templates and the chain tip received from a Template Provider
and turns a template plus a :class:`Payout` into a :class:`MiningJob`: the coinbase split
around the extranonce (BIP141-stripped, as ``NewExtendedMiningJob`` carries it), the merkle
path and the header version. A job is independent of any channel: channels give it a job id
and their own extranonce (see :mod:`stratumv2.mining.standard`, ``extended``, ``group``).

Coinbase layout (SRI job factory, digest 00 §7 and 04 §C.3)::

    version | 01 | null outpoint | len | template.coinbase_prefix
            | <push> "Sv2/" pool_tag "/" miner_tag "/" | <push N> || N extranonce bytes ||
    sequence | count | pool payout outputs | template outputs | locktime

``coinbase_tx_value_remaining`` goes to the pool payout outputs (split by weight). When the
template's outputs carry a witness commitment, the full coinbase (``SubmitSolution``) has the
BIP141 marker/flag and one 32-byte zero witness item; the job's prefix/suffix never do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from stratumv2.bitcoin.block import WITNESS_COMMITMENT_HEADER
from stratumv2.bitcoin.coinbase import (
    MAX_EXTRANONCE_SIZE,
    CoinbaseParts,
    build_coinbase,
    parse_outputs,
    sri_coinbase_tag,
)
from stratumv2.bitcoin.errors import BitcoinError
from stratumv2.bitcoin.hashes import sha256_small
from stratumv2.bitcoin.target import bits_to_target
from stratumv2.bitcoin.tx import NULL_HASH, Reader, TxOut, compact_size
from stratumv2.mining.errors import MiningError, NoTemplateError
from stratumv2.protocol import NewTemplate, SetCustomMiningJob, SetNewPrevHashTd

__all__ = [
    "ChainTip",
    "JobFactory",
    "MiningJob",
    "Payout",
    "coinbase_merkle_root",
    "custom_job",
    "payout_for_scripts",
]


@dataclass(frozen=True, slots=True)
class Payout:
    """The outputs a pool puts first in the coinbase: scripts sharing the remaining value.

    ``coinbase_tx_value_remaining`` is split in proportion to ``weights``; the rounding
    remainder goes to the first script. A weight of 0 makes a zero-value output.
    """

    scripts: tuple[bytes, ...]
    weights: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.scripts or len(self.scripts) != len(self.weights):
            raise ValueError("a payout needs one weight per script, and at least one script")
        if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
            raise ValueError("payout weights must be >= 0 with a positive sum")

    @classmethod
    def to_script(cls, script_pubkey: bytes) -> Payout:
        """Everything to one script (a pool wallet, or a solo miner's address)."""
        return cls((script_pubkey,), (1,))

    def values(self, total: int) -> list[int]:
        """Satoshis per script for ``total`` available."""
        weight_sum = sum(self.weights)
        values = [total * w // weight_sum for w in self.weights]
        values[0] += total - sum(values)
        return values

    def tx_outs(self, total: int) -> list[TxOut]:
        """The payout outputs for ``total`` satoshis."""
        return [
            TxOut(value, script)
            for script, value in zip(self.scripts, self.values(total), strict=True)
        ]


@dataclass(frozen=True, slots=True)
class MiningJob:
    """Work derived from one template for one payout, before a channel gives it an id.

    ``coinbase`` is the coinbase cut around a ``full_extranonce_size``-byte extranonce; its
    BIP141-stripped ``prefix``/``suffix`` are what ``NewExtendedMiningJob`` sends.
    ``template_id`` is None for jobs that do not come from our Template Provider.
    """

    template_id: int | None
    version: int
    merkle_path: tuple[bytes, ...]
    coinbase: CoinbaseParts
    coinbase_value: int = 0
    version_rolling_allowed: bool = True

    @property
    def coinbase_tx_prefix(self) -> bytes:
        """Stripped coinbase bytes before the extranonce (ends with the push opcode)."""
        return self.coinbase.prefix

    @property
    def coinbase_tx_suffix(self) -> bytes:
        """Stripped coinbase bytes after the extranonce (sequence, outputs, locktime)."""
        return self.coinbase.suffix

    @property
    def full_extranonce_size(self) -> int:
        """Length of the full extranonce between prefix and suffix."""
        return self.coinbase.extranonce_size

    def coinbase_tx(self, full_extranonce: bytes) -> bytes:
        """The coinbase without its witness (hashes to the txid)."""
        return self.coinbase.serialize(full_extranonce, include_witness=False)

    def coinbase_with_witness(self, full_extranonce: bytes) -> bytes:
        """The full coinbase as a block carries it (``SubmitSolution.coinbase_tx``)."""
        return self.coinbase.serialize(full_extranonce)

    def merkle_root(self, full_extranonce: bytes) -> bytes:
        """Header merkle root with this extranonce (what ``NewMiningJob`` carries)."""
        cb = self.coinbase
        return coinbase_merkle_root(cb.prefix + full_extranonce + cb.suffix, self.merkle_path)


def coinbase_merkle_root(coinbase: bytes, merkle_path: Sequence[bytes]) -> bytes:
    """Merkle root of a block whose coinbase (without witness) is ``coinbase``.

    Same result as ``merkle_root_from_branch(sha256d(coinbase), merkle_path)``, with the
    small-input SHA-256 (a third cheaper per call): a standard channel pays one per job.
    """
    sha256 = sha256_small
    node = sha256(sha256(coinbase).digest()).digest()
    for sibling in merkle_path:
        node = sha256(sha256(node + sibling).digest()).digest()
    return node


@dataclass(frozen=True, slots=True)
class ChainTip:
    """The current chain tip from TD ``SetNewPrevHash``, in the terms jobs need.

    ``min_ntime`` is the TD ``header_timestamp`` (SRI sends it as the Mining
    ``SetNewPrevHash.min_ntime`` and rejects shares below it).
    """

    template_id: int
    prev_hash: bytes
    min_ntime: int
    nbits: int
    network_target: int


@dataclass(slots=True)
class _TemplateEntry:
    template: NewTemplate
    outputs: tuple[TxOut, ...]
    segwit: bool
    jobs: dict[Payout, MiningJob] = field(default_factory=dict)


class JobFactory:
    """Templates and chain tip from a Template Provider, turned into :class:`MiningJob`\\ s.

    ``pool_tag`` / ``miner_tag`` go into the scriptSig as ``"Sv2/<pool>/<miner>/"``;
    ``full_extranonce_size`` is the extranonce length every channel fed by this factory
    uses (the allocator's ``full_size``). Jobs are cached per (template, payout), so many
    channels with one payout share one coinbase build.
    """

    def __init__(
        self,
        default_payout: Payout,
        *,
        pool_tag: str = "",
        miner_tag: str = "",
        full_extranonce_size: int = 20,
        version_rolling_allowed: bool = True,
    ) -> None:
        if not 0 < full_extranonce_size <= MAX_EXTRANONCE_SIZE:
            raise ValueError(f"full_extranonce_size must be 1..{MAX_EXTRANONCE_SIZE}")
        self.default_payout = default_payout
        self.full_extranonce_size = full_extranonce_size
        self.version_rolling_allowed = version_rolling_allowed
        self._tag = sri_coinbase_tag(pool_tag, miner_tag)
        self._templates: dict[int, _TemplateEntry] = {}
        self._tip: ChainTip | None = None
        self._current_template_id: int | None = None

    # ---- Template Distribution input --------------------------------------------------

    def on_new_template(self, template: NewTemplate) -> None:
        """Remember a template (future ones wait for their ``SetNewPrevHash``).

        A non-future template replaces the current one on the current tip.
        Raises a ``BitcoinError`` (a ValueError) for a template whose outputs do not parse
        or whose coinbase cannot hold our tag and extranonce.
        """
        outputs = parse_outputs(template.coinbase_tx_outputs, template.coinbase_tx_outputs_count)
        segwit = any(
            o.script_pubkey.startswith(WITNESS_COMMITMENT_HEADER) and len(o.script_pubkey) >= 38
            for o in outputs
        )
        entry = _TemplateEntry(template, outputs, segwit)
        entry.jobs[self.default_payout] = self._build(entry, self.default_payout)  # fail early
        # Re-insert so that the dict's order is arrival order (a restarted TP reuses ids).
        self._templates.pop(template.template_id, None)
        self._templates[template.template_id] = entry
        if not template.future_template:
            if self._tip is None:
                raise NoTemplateError("a non-future template arrived before any SetNewPrevHash")
            self._current_template_id = template.template_id

    def on_set_new_prev_hash(self, message: SetNewPrevHashTd) -> ChainTip:
        """A new chain tip: its future template becomes current, older templates go."""
        if message.template_id not in self._templates:
            raise NoTemplateError(f"SetNewPrevHash for unknown template {message.template_id}")
        tip = ChainTip(
            template_id=message.template_id,
            prev_hash=message.prev_hash,
            min_ntime=message.header_timestamp,
            nbits=message.n_bits,
            network_target=bits_to_target(message.n_bits),
        )
        # Keep the tip's template and those that arrived after it (in arrival order, not by
        # id: template ids restart at 1 when the Template Provider restarts).
        ids = list(self._templates)
        keep = ids[ids.index(message.template_id) :]
        self._templates = {tid: self._templates[tid] for tid in keep}
        self._tip = tip
        self._current_template_id = message.template_id
        return tip

    # ---- state ------------------------------------------------------------------------

    @property
    def tip(self) -> ChainTip | None:
        """The current chain tip, once a ``SetNewPrevHash`` arrived."""
        return self._tip

    @property
    def current_template_id(self) -> int | None:
        """The newest template for the current tip (new channels start on it)."""
        return self._current_template_id

    def template(self, template_id: int) -> NewTemplate:
        """A known template (raise NoTemplateError otherwise)."""
        try:
            return self._templates[template_id].template
        except KeyError:
            raise NoTemplateError(f"unknown template {template_id}") from None

    def is_future(self, template_id: int) -> bool:
        """True if the template still waits for its ``SetNewPrevHash``."""
        tip = self._tip
        entry = self._templates.get(template_id)
        if entry is None:
            raise NoTemplateError(f"unknown template {template_id}")
        return entry.template.future_template and (tip is None or tip.template_id != template_id)

    # ---- jobs -------------------------------------------------------------------------

    def job(self, template_id: int, payout: Payout | None = None) -> MiningJob:
        """The job for ``template_id`` paying ``payout`` (the default payout if None)."""
        payout = payout or self.default_payout
        entry = self._templates.get(template_id)
        if entry is None:
            raise NoTemplateError(f"unknown template {template_id}")
        job = entry.jobs.get(payout)
        if job is None:
            job = self._build(entry, payout)
            entry.jobs[payout] = job
        return job

    def current_job(self, payout: Payout | None = None) -> MiningJob:
        """The job on the current tip's newest template (for a channel that just opened)."""
        if self._current_template_id is None:
            raise NoTemplateError("no template on the current chain tip yet")
        return self.job(self._current_template_id, payout)

    def _build(self, entry: _TemplateEntry, payout: Payout) -> MiningJob:
        t = entry.template
        parts = build_coinbase(
            height_push=t.coinbase_prefix,
            extranonce_size=self.full_extranonce_size,
            outputs=payout.tx_outs(t.coinbase_tx_value_remaining),
            template_outputs=entry.outputs,
            tag=self._tag,
            version=t.coinbase_tx_version,
            sequence=t.coinbase_tx_input_sequence,
            locktime=t.coinbase_tx_locktime,
            witness_reserved_value=bytes(32) if entry.segwit else None,
        )
        return MiningJob(
            template_id=t.template_id,
            version=t.version,
            merkle_path=tuple(t.merkle_path),
            coinbase=parts,
            coinbase_value=t.coinbase_tx_value_remaining,
            version_rolling_allowed=self.version_rolling_allowed,
        )


def payout_for_scripts(scripts: Sequence[tuple[bytes, int]]) -> Payout:
    """A :class:`Payout` from ``(script_pubkey, weight)`` pairs."""
    return Payout(tuple(s for s, _ in scripts), tuple(w for _, w in scripts))


def custom_job(message: SetCustomMiningJob, full_extranonce_size: int) -> MiningJob:
    """The job a ``SetCustomMiningJob`` describes (JDC work selection), for our channel.

    As SRI's pool: scriptSig = ``coinbase_prefix`` (which already ends with the extranonce
    push opcode) followed by the channel's full extranonce; ``coinbase_tx_outputs`` is a
    CompactSize-prefixed output vector. The coinbase gets the 32-byte zero witness when the
    outputs carry a witness commitment. Raises :class:`MiningError` with the
    ``SetCustomMiningJob.Error`` code for a malformed job.
    """
    try:
        reader = Reader(message.coinbase_tx_outputs)
        count = reader.compact_size()
        outputs = [TxOut(reader.i64(), reader.var_bytes()) for _ in range(count)]
    except (BitcoinError, ValueError) as exc:
        raise MiningError(f"bad coinbase outputs: {exc}", "invalid-coinbase-tx-outputs") from None
    if reader.remaining() or not outputs:
        raise MiningError("bad coinbase output vector", "invalid-coinbase-tx-outputs")
    script_len = len(message.coinbase_prefix) + full_extranonce_size
    if not message.coinbase_prefix or script_len > 100:
        raise MiningError(f"scriptSig of {script_len} bytes", "invalid-coinbase-prefix")
    segwit = any(
        o.script_pubkey.startswith(WITNESS_COMMITMENT_HEADER) and len(o.script_pubkey) >= 38
        for o in outputs
    )
    prefix = b"".join(
        (
            (message.coinbase_tx_version & 0xFFFFFFFF).to_bytes(4, "little"),
            b"\x01",
            NULL_HASH,
            b"\xff\xff\xff\xff",
            compact_size(script_len),
            message.coinbase_prefix,
        )
    )
    suffix = b"".join(
        (
            message.coinbase_tx_input_n_sequence.to_bytes(4, "little"),
            message.coinbase_tx_outputs,
            message.coinbase_tx_locktime.to_bytes(4, "little"),
        )
    )
    parts = CoinbaseParts(prefix, suffix, full_extranonce_size, (bytes(32),) if segwit else ())
    return MiningJob(
        template_id=None,
        version=message.version,
        merkle_path=tuple(message.merkle_path),
        coinbase=parts,
        coinbase_value=sum(o.value for o in outputs),
    )
