"""Whatever a device sends, the translator core answers or closes that device; it never raises
and the other devices keep their work."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_methods = st.sampled_from(
    [
        "mining.submit", "mining.subscribe", "mining.authorize", "mining.configure",
        "mining.suggest_difficulty", "mining.extranonce.subscribe", "mining.ping", "x",
    ]
)  # fmt: skip
_calls = st.builds(
    lambda i, m, p: json.dumps({"id": i, "method": m, "params": p}).encode() + b"\n",
    st.one_of(st.none(), st.integers(-5, 5), st.text(max_size=4)),
    _methods,
    st.lists(_json, max_size=7),
)
_chunks = st.lists(st.one_of(_calls, st.binary(max_size=80)), min_size=1, max_size=12)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(_chunks)
def test_random_input_never_breaks_the_translator(
    harness_factory: Any, esp_lines: tuple[str, ...], chunks: list[bytes]
) -> None:
    h = harness_factory()
    h.connect_upstream()
    good = h.new_device()
    good.send(*esp_lines)
    fuzzed = h.new_device()
    fuzzed.send(*esp_lines)
    for chunk in chunks:
        if fuzzed.closed is not None:
            break
        fuzzed.send_raw(chunk)
    job_id, en2, ntime, nonce, _ = good.solve()
    good.send(
        {"id": 99, "method": "mining.submit",
         "params": ["alice.bitaxe", job_id, en2, ntime, f"{nonce:08x}"]}
    )  # fmt: skip
    assert good.answer(99)["result"] is True
    assert good.closed is None
