"""Share validation never raises: any SubmitShares a client can encode gets a result."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratumv2.bitcoin.target import MAX_TARGET
from stratumv2.mining.extended import ExtendedChannel
from stratumv2.mining.extranonce import ExtranonceAllocator
from stratumv2.mining.shares import BlockFound, Rejected, Valid
from stratumv2.mining.standard import StandardChannel
from stratumv2.protocol import SubmitSharesExtended, SubmitSharesStandard

u32 = st.integers(0, 0xFFFFFFFF)
results = (Valid, BlockFound, Rejected)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    job_id=st.one_of(st.integers(0, 3), u32),
    nonce=u32,
    ntime=st.one_of(u32, st.integers(1_699_999_980, 1_700_010_000)),
    version=st.one_of(u32, st.integers(0x20000000, 0x3FFFFFFF)),
    extranonce=st.binary(max_size=32),
)
def test_any_share_gets_a_result(
    regtest: Any, job_id: int, nonce: int, ntime: int, version: int, extranonce: bytes
) -> None:
    sc = regtest
    alloc = ExtranonceAllocator(20)
    tip = sc.factory.tip
    std = StandardChannel(1, "s", alloc.allocate_standard(), requested_target=MAX_TARGET >> 8)
    ext = ExtendedChannel(2, "e", alloc.allocate_extended(), requested_target=MAX_TARGET >> 8)
    for ch in (std, ext):
        ch.new_job(sc.factory.current_job(), future=True, now=sc.now)
        ch.on_new_prev_hash(tip)
    common = {"sequence_number": 1, "job_id": job_id, "nonce": nonce, "ntime": ntime}
    r1 = std.validate_share(SubmitSharesStandard(channel_id=1, version=version, **common), sc.now)
    r2 = ext.validate_share(
        SubmitSharesExtended(channel_id=2, version=version, extranonce=extranonce, **common),
        sc.now,
    )
    for result in (r1, r2):
        assert isinstance(result, results)
        if isinstance(result, Rejected):
            assert result.response.error_code == result.error_code
        if result.accepted:
            assert job_id == 1 and (version ^ 0x20000000) & ~0x1FFFFFE0 & 0xFFFFFFFF == 0
            assert tip.min_ntime <= ntime <= sc.now + 7200
    if r2.accepted:
        assert len(extranonce) == ext.extranonce_size
