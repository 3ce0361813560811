"""TranslatorCore against the real PoolCore in memory: device orders, shares, blocks, errors."""

from __future__ import annotations

import json
from typing import Any

from stratumv2.protocol import (
    OpenExtendedMiningChannel,
    SubmitSharesError,
    SubmitSharesExtended,
    UpdateChannel,
)


def submit(
    device: Any, request_id: int, user: str, share: tuple[Any, ...], bits: str | None
) -> None:
    job_id, en2, ntime, nonce = share[:4]
    params = [user, job_id, en2, ntime, f"{nonce:08x}"]
    if bits is not None:
        params.append(bits)
    device.send({"id": request_id, "method": "mining.submit", "params": params})


def test_esp_miner_v2_9_mines_a_block_with_version_rolling(
    harness_factory: Any, esp_lines: tuple[str, ...]
) -> None:
    h = harness_factory()
    h.connect_upstream()
    dev = h.new_device()
    dev.send(*esp_lines)
    opens = [m for m in h.upstream_log if isinstance(m, OpenExtendedMiningChannel)]
    assert len(opens) == 1 and opens[0].user_identity == "alice.bitaxe"
    assert dev.answer(1)["result"]["version-rolling"] is True
    assert dev.mask == 0x1FFFE000
    assert dev.answer(3)["result"] is True
    assert dev.extranonce2_size == 4 and len(dev.extranonce1) > 4
    methods = [m.get("method") for m in dev.lines if m.get("method")]
    assert methods.index("mining.set_difficulty") < methods.index("mining.notify")
    rolled = 0x00006000
    job_id, en2, ntime, nonce, version = dev.solve(rolled_bits=rolled)
    job = dev.jobs[job_id]
    submit(dev, 5, "alice.bitaxe", (job_id, en2, ntime, nonce), f"{version ^ job.version:08x}")
    assert dev.answer(5)["result"] is True
    shares = [m for m in h.upstream_log if isinstance(m, SubmitSharesExtended)]
    assert len(shares) == 1 and shares[0].version == 0x20006000
    assert len(h.blocks) == 1
    stats = h.core.stats(dev.id)
    assert stats.shares_accepted == 1 and stats.blocks == 1 and stats.bytes_in > 0


def test_job_version_with_bit_inside_mask(harness_factory: Any, esp_lines: tuple[str, ...]) -> None:
    """Regtest heights 144-431 give version 0x30000000: the OR rule rebuilds the header."""
    h = harness_factory(version=0x30000000)
    h.connect_upstream()
    dev = h.new_device()
    dev.send(*esp_lines)
    job = dev.jobs[dev.last_job]
    assert job.version == 0x30000000
    job_id, en2, ntime, nonce, version = dev.solve(rolled_bits=0x1000E000)
    submit(dev, 5, "alice.bitaxe", (job_id, en2, ntime, nonce), f"{version ^ job.version:08x}")
    assert dev.answer(5)["result"] is True
    assert len(h.blocks) == 1
    shares = [m for m in h.upstream_log if isinstance(m, SubmitSharesExtended)]
    assert shares[0].version == 0x3000E000


def test_suggest_after_authorize_updates_channel(
    harness_factory: Any, bits: dict[str, int], esp_lines: tuple[str, ...]
) -> None:
    """ESP-Miner >= v2.9 suggests 1000 once authorized: the next job carries it and the pool
    hears the implied hashrate (1000 * 2**32 * 18 / 60 H/s)."""
    h = harness_factory(bits=bits["hard"])
    h.connect_upstream()
    dev = h.new_device()
    dev.send(*esp_lines)
    first_job = dev.last_job
    dev.send('{"id":4,"method":"mining.suggest_difficulty","params":[1000]}')
    assert dev.difficulty == 1000 and dev.last_job != first_job
    update = [m for m in h.upstream_log if isinstance(m, UpdateChannel)][-1]
    assert abs(update.nominal_hash_rate / (1000 * 2**32 * 18 / 60) - 1) < 1e-3


def test_old_esp_order_suggest_before_authorize(harness_factory: Any, bits: dict[str, int]) -> None:
    h = harness_factory(bits=bits["hard"])
    h.connect_upstream()
    dev = h.new_device()
    dev.send(
        '{"id": 1, "method": "mining.subscribe", "params": ["bitaxe/BM1366/v2.3.0"]}',
        '{"id": 2, "method": "mining.configure", "params": [["version-rolling"], '
        '{"version-rolling.mask": "ffffffff"}]}',
        '{"id": 3, "method": "mining.suggest_difficulty", "params": [1000]}',
        '{"id": 4, "method": "mining.authorize", "params": ["bob.rig", "x"]}',
    )
    assert isinstance(dev.answer(1)["result"], list)
    assert dev.difficulty == 1000
    assert dev.last_job is not None


def test_cpuminer_waits_for_subscribe_answer(harness_factory: Any) -> None:
    """cpuminer sends authorize only after the subscribe answer: the channel opens after the
    identity wait, named after the configured identity."""
    h = harness_factory(user_identity="farm", identity_wait=1.0)
    h.connect_upstream()
    dev = h.new_device()
    dev.send('{"id": 1, "method": "mining.subscribe", "params": ["cpuminer/2.5.1"]}')
    assert dev.lines == []
    h.tick(1.5)
    assert isinstance(dev.answer(1)["result"], list)
    opens = [m for m in h.upstream_log if isinstance(m, OpenExtendedMiningChannel)]
    assert opens[0].user_identity == "farm.miner1"
    dev.send('{"id": 2, "method": "mining.authorize", "params": ["carol", "x"]}')
    assert dev.answer(2)["result"] is True
    job_id, en2, ntime, nonce, _ = dev.solve()
    submit(dev, 4, "carol", (job_id, en2, ntime, nonce), None)
    assert dev.answer(4)["result"] is True
    assert len(h.blocks) == 1


def test_low_difficulty_share_rejected_locally(harness_factory: Any, bits: dict[str, int],
                                               esp_lines: tuple[str, ...]) -> None:  # fmt: skip
    h = harness_factory(bits=bits["hard"])
    h.connect_upstream()
    dev = h.new_device()
    dev.send(*esp_lines)
    job_id, en2, ntime, nonce = dev.low_share()
    submit(dev, 5, "alice.bitaxe", (job_id, en2, ntime, nonce), None)
    answer = dev.answer(5)
    assert answer["result"] is False and answer["error"][0] == 23
    assert not [m for m in h.upstream_log if isinstance(m, SubmitSharesExtended)]
    assert h.core.stats(dev.id).shares_rejected == {"low-difficulty": 1}


def test_share_below_channel_target_is_not_forwarded(
    harness_factory: Any, bits: dict[str, int], esp_lines: tuple[str, ...]
) -> None:
    h = harness_factory(bits=bits["hard"], device_hashrate=1e3)
    h.connect_upstream()
    dev = h.new_device()
    dev.send(*esp_lines)
    channel = next(iter(h.core.channels.values()))
    channel.target = 1 << 200  # the pool asks for harder shares than the device gives
    job_id, en2, ntime, nonce, _ = dev.solve()
    submit(dev, 5, "alice.bitaxe", (job_id, en2, ntime, nonce), None)
    assert dev.answer(5)["result"] is True
    assert not [m for m in h.upstream_log if isinstance(m, SubmitSharesExtended)]


def test_shares_reach_pool_and_are_acknowledged(
    harness_factory: Any, bits: dict[str, int], esp_lines: tuple[str, ...]
) -> None:
    h = harness_factory(bits=bits["hard"], device_hashrate=1e3)
    h.connect_upstream()
    dev = h.new_device()
    dev.send(*esp_lines)
    for i in range(3):
        job_id, en2, ntime, nonce, _ = dev.solve(extranonce2=bytes([i, 0, 0, 0]))
        submit(dev, 10 + i, "alice.bitaxe", (job_id, en2, ntime, nonce), None)
        assert dev.answer(10 + i)["result"] is True
    stats = h.core.stats(dev.id)
    assert stats.shares_forwarded == 3
    assert stats.upstream_accepted == 3, (stats, h.core.upstream_errors)
    assert h.blocks == []


def test_errors_answered_and_other_devices_unaffected(
    harness_factory: Any, esp_lines: tuple[str, ...]
) -> None:
    h = harness_factory()
    h.connect_upstream()
    good = h.new_device()
    good.send(*esp_lines)
    bad = h.new_device()
    bad.send('{"id": 1, "method": "mining.submit", "params": ["a", "1", "00", "00", "00"]}')
    assert bad.answer(1)["error"][0] == 25  # submit before subscribe
    bad.send('{"id": 2, "method": "mining.subscribe", "params": ["x"]}')
    bad.send_raw(b'{"id": 3, "method": \n')  # malformed JSON
    assert bad.lines[-1]["id"] is None and bad.lines[-1]["error"][0] == 20
    bad.send('{"id": 4, "method": "mining.frobnicate", "params": []}')
    assert bad.answer(4)["error"][1] == "Method not found"
    bad.send('{"id": 5, "method": "mining.authorize", "params": ["dave.x", "x"]}')
    assert bad.answer(5)["result"] is True
    assert bad.closed is None
    job_id, en2, ntime, nonce, _ = bad.solve()
    submit(bad, 6, "dave.x", ("999999", en2, ntime, nonce), None)
    assert bad.answer(6)["error"][0] == 21  # unknown job
    submit(bad, 7, "dave.x", (job_id, en2 + "00", ntime, nonce), None)
    assert bad.answer(7)["error"][1] == "Invalid extranonce2 size"
    submit(bad, 8, "dave.x", (job_id, en2, ntime, nonce), "00000001")
    assert bad.answer(8)["error"][1] == "Invalid version mask"
    submit(bad, 9, "nobody", (job_id, en2, ntime, nonce), None)
    assert bad.answer(9)["error"][0] == 24
    # a new block: the old job is stale
    h.new_block(2, 0x207FFFFF, bytes(range(1, 33)))
    submit(bad, 10, "dave.x", (job_id, en2, ntime, nonce), None)
    assert bad.answer(10)["error"][0] == 21
    assert bad.answer(10)["error"][1] == "Stale"
    # the other device still mines
    job_id, en2, ntime, nonce, _ = good.solve()
    submit(good, 5, "alice.bitaxe", (job_id, en2, ntime, nonce), None)
    assert good.answer(5)["result"] is True
    assert good.closed is None and bad.closed is None
    # a line over the limit closes only that device
    bad.send_raw(b"{" + b" " * 20000)
    assert bad.closed is not None and good.closed is None
    assert h.core.stats(bad.id) is None


def test_submit_after_subscribe_before_authorize(harness_factory: Any) -> None:
    h = harness_factory(identity_wait=0.5)
    h.connect_upstream()
    dev = h.new_device()
    dev.send('{"id": 1, "method": "mining.subscribe", "params": ["cpuminer/2.5.1"]}')
    h.tick(1.0)
    assert isinstance(dev.answer(1)["result"], list)
    job_id, en2, ntime, nonce, _ = dev.solve()
    submit(dev, 4, "carol", (job_id, en2, ntime, nonce), None)
    assert dev.answer(4)["error"][0] == 24
    assert dev.closed is None and h.blocks == []


def test_aggregate_mode_splits_the_extranonce(
    harness_factory: Any, esp_lines: tuple[str, ...]
) -> None:
    h = harness_factory(aggregate=True, user_identity="farm")
    h.connect_upstream()
    devices = [h.new_device() for _ in range(3)]
    for dev in devices:
        dev.send(*esp_lines)
    opens = [m for m in h.upstream_log if isinstance(m, OpenExtendedMiningChannel)]
    assert len(opens) == 1 and opens[0].user_identity == "farm"
    assert opens[0].min_extranonce_size == 4 + 2
    extranonces = {dev.extranonce1 for dev in devices}
    assert len(extranonces) == 3
    assert len({len(e) for e in extranonces}) == 1
    for i, dev in enumerate(devices):
        job_id, en2, ntime, nonce, _ = dev.solve()
        submit(dev, 5, "alice.bitaxe", (job_id, en2, ntime, nonce), None)
        assert dev.answer(5)["result"] is True
        assert len(h.blocks) == i + 1
    shares = [m for m in h.upstream_log if isinstance(m, SubmitSharesExtended)]
    assert len({s.channel_id for s in shares}) == 1
    assert len({s.extranonce for s in shares}) == 3
    updates = [m for m in h.upstream_log if isinstance(m, UpdateChannel)]
    assert updates and updates[-1].nominal_hash_rate > 0


def test_upstream_lost_devices_told_to_reconnect(
    harness_factory: Any, esp_lines: tuple[str, ...]
) -> None:
    h = harness_factory()
    h.connect_upstream()
    dev = h.new_device()
    dev.send(*esp_lines)
    h.drop_upstream()
    assert dev.lines[-1]["method"] == "client.reconnect"
    assert dev.closed == "upstream lost"
    # the device comes back while the upstream is down: it waits, then gets its channel
    again = h.new_device()
    again.send(*esp_lines)
    assert [m for m in again.lines if m.get("id") == 2] == []
    h.connect_upstream()
    assert isinstance(again.answer(2)["result"], list)
    job_id, en2, ntime, nonce, _ = again.solve()
    submit(again, 5, "alice.bitaxe", (job_id, en2, ntime, nonce), None)
    assert again.answer(5)["result"] is True


def test_upstream_lost_devices_kept_waiting(
    harness_factory: Any, esp_lines: tuple[str, ...]
) -> None:
    h = harness_factory()
    h.connect_upstream()
    sub = h.new_device()
    sub.send(*esp_lines, '{"id": 4, "method": "mining.extranonce.subscribe", "params": []}')
    plain = h.new_device()
    plain.send(*esp_lines)
    h.drop_upstream(reconnect_devices=False)
    assert sub.closed is None and plain.closed is None
    job_id, en2, ntime, nonce, _ = sub.solve()
    submit(sub, 5, "alice.bitaxe", (job_id, en2, ntime, nonce), None)
    assert sub.answer(5)["result"] is False
    assert h.core.stats(sub.id).blocks == 1  # a block while the upstream is away: logged whole
    h.connect_upstream()
    assert any(m.get("method") == "mining.set_extranonce" for m in sub.lines)
    assert plain.closed is not None and plain.lines[-1]["method"] == "client.reconnect"
    job_id, en2, ntime, nonce, _ = sub.solve()
    submit(sub, 6, "alice.bitaxe", (job_id, en2, ntime, nonce), None)
    assert sub.answer(6)["result"] is True


def test_upstream_rejection_counted(harness_factory: Any, esp_lines: tuple[str, ...]) -> None:
    h = harness_factory()
    h.connect_upstream()
    dev = h.new_device()
    dev.send(*esp_lines)
    job_id, en2, ntime, nonce, _ = dev.solve()
    h.connected = False  # hold the share: the pool does not see it
    submit(dev, 5, "alice.bitaxe", (job_id, en2, ntime, nonce), None)
    share = [m for m in h.upstream_log if isinstance(m, SubmitSharesExtended)][-1]
    h.connected = True
    h.run(
        h.core.on_upstream_message(
            SubmitSharesError(
                channel_id=share.channel_id,
                sequence_number=share.sequence_number,
                error_code="stale-share",
            ),
            h.now,
        )
    )
    assert h.core.stats(dev.id).upstream_rejected == {"stale-share": 1}


def test_vardiff_raises_difficulty_and_updates_channel(
    harness_factory: Any, bits: dict[str, int], esp_lines: tuple[str, ...]
) -> None:
    h = harness_factory(bits=bits["hard"], device_hashrate=1e3)
    h.connect_upstream()
    dev = h.new_device()
    dev.send(*esp_lines)
    start = dev.difficulty
    assert start is not None
    for i in range(60):
        h.now += 0.05
        job_id, en2, ntime, nonce, _ = dev.solve(extranonce2=i.to_bytes(4, "little"))
        submit(dev, 100 + i, "alice.bitaxe", (job_id, en2, ntime, nonce), None)
        if dev.difficulty != start:
            break
    assert dev.difficulty is not None and dev.difficulty > start
    assert "#" in (dev.last_job or "")  # the job re-sent under a new id
    assert [m for m in h.upstream_log if isinstance(m, UpdateChannel)]


def test_block_header_rebuilt_by_pool_matches_device(
    harness_factory: Any, esp_lines: tuple[str, ...]
) -> None:
    h = harness_factory()
    h.connect_upstream()
    dev = h.new_device()
    dev.send(*esp_lines)
    job_id, en2, ntime, nonce, version = dev.solve(rolled_bits=0x2000)
    job = dev.jobs[job_id]
    submit(dev, 5, "alice.bitaxe", (job_id, en2, ntime, nonce), f"{version ^ job.version:08x}")
    solution = h.blocks[0].solution
    assert solution.version == version and solution.header_nonce == nonce
    assert json.dumps(dev.answer(5)["result"]) == "true"
