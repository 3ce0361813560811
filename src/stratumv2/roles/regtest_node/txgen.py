"""``--tx-rate``: a steady stream of fee-paying transactions, some chained, at varied fee rates.

The generator spends coins of its own key (``datadir/regtest/txgen.key``). With no mature
coins it first mines the blocks it needs to that key (and says so in the log).
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from typing import TYPE_CHECKING

from stratumv2.bitcoin.tx import OutPoint, Transaction, TxOut
from stratumv2.roles.regtest_node.consensus import COINBASE_MATURITY
from stratumv2.roles.regtest_node.mempool import MempoolReject
from stratumv2.roles.regtest_node.wallet import P2wpkhKey

if TYPE_CHECKING:
    from stratumv2.roles.regtest_node.service import RegtestNode

log = logging.getLogger(__name__)

P2WPKH_INPUT_VBYTES = 68
P2WPKH_OUTPUT_VBYTES = 31
TX_OVERHEAD_VBYTES = 11
DUST = 1_000
FAN_OUT = 10
MAX_ANCESTORS = 20
BOOTSTRAP_BLOCKS = COINBASE_MATURITY + 10
MAX_MEMPOOL_WEIGHT = 3 * 4_000_000
"""The generator pauses while the mempool holds more than three blocks' worth."""


class TxGenerator:
    """Makes ``rate`` transactions per second into ``node``'s mempool."""

    def __init__(self, node: RegtestNode, rate: float, seed: int | None = None) -> None:
        self.node = node
        self.rate = rate
        self.rng = random.Random(seed)
        self.key = P2wpkhKey.load_or_create(node.net_dir / "txgen.key", secrets.token_bytes(32))
        self.made = 0
        self._coins: list[tuple[OutPoint, int]] = []

    def _scan_chain(self) -> list[tuple[OutPoint, int]]:
        """Our confirmed, mature coins that no mempool transaction spends."""
        chain = self.node.chain
        mempool = self.node.mempool
        script = self.key.script_pubkey
        height = chain.height + 1
        found: list[tuple[OutPoint, int]] = []
        for op, coin in chain.coins().items():
            if coin.script_pubkey != script or mempool.spender(op) is not None:
                continue
            if coin.is_coinbase and height - coin.height < COINBASE_MATURITY:
                continue
            found.append((op, coin.value))
        return found

    async def ensure_funds(self) -> None:
        """Mine to our key until at least one coin is mature."""
        if self._scan_chain():
            return
        log.info(
            "tx generator has no mature coins: mining %d blocks to its own key", BOOTSTRAP_BLOCKS
        )
        await self.node.generate(BOOTSTRAP_BLOCKS, self.key.script_pubkey)

    def _pick(self) -> tuple[OutPoint, int] | None:
        """A random spendable coin of ours (confirmed or in the mempool), taken off the list."""
        mempool = self.node.mempool
        height = self.node.chain.height + 1
        for _attempt in range(2):
            while self._coins:
                index = self.rng.randrange(len(self._coins))
                self._coins[index], self._coins[-1] = self._coins[-1], self._coins[index]
                op, value = self._coins.pop()
                coin = mempool.coin(op)
                if coin is None or coin.script_pubkey != self.key.script_pubkey:
                    continue
                if coin.is_coinbase and height - coin.height < COINBASE_MATURITY:
                    continue
                if op.txid in mempool and len(mempool.ancestors(op.txid)) >= MAX_ANCESTORS:
                    continue
                return op, value
            self._coins = self._scan_chain()
        return None

    def make_transaction(self) -> Transaction | None:
        """One signed transaction, or None when there is nothing to spend."""
        picked = self._pick()
        if picked is None:
            return None
        op, value = picked
        fee_rate = self.rng.choice((1, 2, 3, 5, 8, 12, 20, 35, 50))
        n_out = FAN_OUT if value > 100 * DUST * FAN_OUT else (2 if value > 20 * DUST else 1)
        vbytes = TX_OVERHEAD_VBYTES + P2WPKH_INPUT_VBYTES + P2WPKH_OUTPUT_VBYTES * n_out
        fee = fee_rate * vbytes
        remaining = value - fee
        if remaining < DUST * n_out:
            return None
        share = remaining // n_out
        amounts = [share] * (n_out - 1) + [remaining - share * (n_out - 1)]
        outputs = [TxOut(a, self.key.script_pubkey) for a in amounts]
        return self.key.spend([(op, value)], outputs)

    def mempool_full(self) -> bool:
        """True while the mempool holds more than ``MAX_MEMPOOL_WEIGHT``."""
        return self.node.mempool.total_weight > MAX_MEMPOOL_WEIGHT

    def step(self) -> bool:
        """Make and submit one transaction; True if the mempool took it."""
        tx = self.make_transaction()
        if tx is None:
            return False
        try:
            self.node.accept_transaction(tx, max_fee_rate=None)
        except MempoolReject as exc:
            log.debug("generated transaction refused: %s", exc.reason)
            return False
        self.made += 1
        self._coins.extend((OutPoint(tx.txid, i), o.value) for i, o in enumerate(tx.outputs))
        return True

    async def run(self) -> None:
        """Generate forever at ``rate`` per second (cancel to stop)."""
        await self.ensure_funds()
        log.info("tx generator: %.3g transactions per second", self.rate)
        loop = asyncio.get_running_loop()
        start = loop.time()
        attempts = 0
        while True:
            due = int((loop.time() - start) * self.rate) - attempts
            if due > 0 and self.mempool_full():
                attempts += due  # nobody mines: skip these rather than pile them up
                due = 0
            for _ in range(max(0, due)):
                attempts += 1
                if not self.step() and not self._coins:
                    await self.ensure_funds()
            await asyncio.sleep(min(0.25, 1.0 / self.rate))
