"""Extranonce prefix allocation: no two channels ever search the same space.

Layout of a channel's full extranonce (the bytes pushed at the end of the coinbase
scriptSig), as in SRI's ``extranonce_manager``::

    upstream_prefix | static_prefix | index | rollable
    └ fixed above us ┘ └ e.g. server id ┘ └ unique per channel ┘ └ the channel's own part ┘

* An extended channel gets ``extranonce_prefix = upstream | static | index`` and
  ``extranonce_size = full_size - len(prefix)`` rollable bytes.
* A standard channel cannot roll: its ``extranonce_prefix`` is the whole full extranonce,
  ``upstream | static | index`` padded with zero bytes.

Every channel of one allocator has the same full extranonce size, so any of them can share
a group job. Indexes are unique among live channels. A freed index is quarantined until the
next chain tip (:meth:`ExtranonceAllocator.on_new_prev_hash`): until then the closed
channel's shares could be replayed onto a new channel holding the same prefix.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from stratumv2.mining.errors import (
    MIN_EXTRANONCE_SIZE_TOO_LARGE,
    ChannelOpenError,
    ExtranonceExhausted,
)

__all__ = [
    "MAX_EXTRANONCE_SIZE",
    "ExtranonceAllocation",
    "ExtranonceAllocator",
]

MAX_EXTRANONCE_SIZE = 32
"""Maximum full extranonce length (SRI ``MAX_EXTRANONCE_LEN``, B0_32 on the wire)."""


@dataclass(frozen=True, slots=True)
class ExtranonceAllocation:
    """One channel's share of the extranonce space.

    ``prefix`` goes into ``Open*MiningChannel.Success.extranonce_prefix``; ``size`` is the
    rollable length granted to an extended channel (0 for a standard channel).
    """

    index: int
    prefix: bytes
    size: int

    @property
    def full_size(self) -> int:
        """Length of the full extranonce in the coinbase (prefix plus rollable part)."""
        return len(self.prefix) + self.size


class ExtranonceAllocator:
    """Hands out unique extranonce prefixes for one pool (or one proxy's upstream channel).

    ``full_size`` is the total extranonce length every channel ends up with (SRI pool: 20),
    ``upstream_prefix`` the bytes fixed by our own upstream (empty for a pool),
    ``static_prefix`` constant bytes such as a server id, ``index_size`` the bytes of the
    per-channel counter (it bounds the number of live channels to ``256**index_size``).
    """

    def __init__(
        self,
        full_size: int = 20,
        *,
        upstream_prefix: bytes = b"",
        static_prefix: bytes = b"",
        index_size: int = 4,
    ) -> None:
        fixed = len(upstream_prefix) + len(static_prefix) + index_size
        if not 0 < index_size <= 8:
            raise ValueError(f"index_size must be 1..8, got {index_size}")
        if not 0 < full_size <= MAX_EXTRANONCE_SIZE:
            raise ValueError(f"full_size must be 1..{MAX_EXTRANONCE_SIZE}, got {full_size}")
        if fixed > full_size:
            raise ValueError(f"prefix of {fixed} bytes does not fit a {full_size}-byte extranonce")
        self.full_size = full_size
        self.upstream_prefix = upstream_prefix
        self.static_prefix = static_prefix
        self.index_size = index_size
        self._fixed = upstream_prefix + static_prefix
        self._capacity = 1 << (8 * index_size)
        self._next_fresh = 0
        self._free: deque[int] = deque()
        self._quarantine: list[int] = []
        self._live: set[int] = set()

    @property
    def rollable_size(self) -> int:
        """Bytes an extended channel may roll (``extranonce_size`` in its open-Success)."""
        return self.full_size - len(self._fixed) - self.index_size

    @property
    def live_count(self) -> int:
        """Number of allocations currently held by channels."""
        return len(self._live)

    def _take_index(self) -> int:
        if self._next_fresh < self._capacity:
            index = self._next_fresh
            self._next_fresh += 1
        elif self._free:
            index = self._free.popleft()
        else:
            raise ExtranonceExhausted(
                f"all {self._capacity} extranonce prefixes are in use or awaiting a new tip"
            )
        self._live.add(index)
        return index

    def _prefix(self, index: int) -> bytes:
        return self._fixed + index.to_bytes(self.index_size, "big")

    def allocate_extended(self, min_extranonce_size: int = 0) -> ExtranonceAllocation:
        """Allocation for an extended channel that needs ``min_extranonce_size`` rollable bytes.

        Grants all the rollable bytes (at least the request); raises
        :class:`ChannelOpenError` ``min-extranonce-size-too-large`` when the request does not
        fit, :class:`ExtranonceExhausted` when no prefix is free.
        """
        if min_extranonce_size > self.rollable_size or min_extranonce_size < 0:
            raise ChannelOpenError(
                f"min_extranonce_size {min_extranonce_size} > {self.rollable_size} available",
                MIN_EXTRANONCE_SIZE_TOO_LARGE,
            )
        index = self._take_index()
        return ExtranonceAllocation(index, self._prefix(index), self.rollable_size)

    def allocate_standard(self) -> ExtranonceAllocation:
        """Allocation for a standard channel: a fixed full extranonce, nothing to roll."""
        index = self._take_index()
        prefix = self._prefix(index)
        return ExtranonceAllocation(index, prefix + bytes(self.full_size - len(prefix)), 0)

    def free(self, allocation: ExtranonceAllocation) -> None:
        """Give back a closed channel's allocation; reusable after the next chain tip."""
        index = allocation.index
        if index not in self._live:
            raise ValueError(f"extranonce index {index} is not allocated")
        self._live.remove(index)
        self._quarantine.append(index)

    def on_new_prev_hash(self) -> None:
        """A new chain tip: prefixes freed before it can no longer replay shares, reuse them."""
        if self._quarantine:
            self._free.extend(self._quarantine)
            self._quarantine.clear()
