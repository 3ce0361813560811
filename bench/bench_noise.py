"""Noise transport cost: handshakes per second and encrypted frame round trips.

Each figure is printed beside its floor measured in the same run:

* handshake: the libsecp256k1 calls alone (through cffi with preallocated buffers) that the
  same side(s) must make: key generation + ElligatorSwift encoding, the two BIP324 x-only
  ECDHs, and on the initiator the static-key decode and the BIP340 verification;
* frames: the raw ChaCha20-Poly1305 calls alone (header and payload chunks, both ways).

Timing is CPU time of this process (best of several batches, ours and floor alternated).
Goals: responder handshake within 1.3x of its crypto floor; a 64-byte frame round trip within
2x of its AEAD calls. SRI's Rust benchmark (noise-sv2) is printed for reference: ~317 us per
full handshake and 5.2 us per 64-byte round trip.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from bench.common import print_table
from stratumv2.connection import Connection
from stratumv2.noise import (
    CipherState,
    InitiatorHandshake,
    Keypair,
    NoiseTransport,
    ResponderHandshake,
    ResponderIdentity,
)
from stratumv2.noise.certificate import signed_message
from stratumv2.noise.transport import MAX_CHUNK_PLAINTEXT
from stratumv2.protocol import SubmitSharesStandard

SRI_HANDSHAKE_US = 317.0
SRI_ROUND_TRIP_64_US = 5.2

_CTX: Any = GLOBAL_CONTEXT.ctx
_HASHFP: Any = lib.secp256k1_ellswift_xdh_hash_function_bip324


def _cpu_per_second(fn: Callable[[], object], short: bool) -> float:
    """Calls of ``fn`` per second of this process's CPU time (best of several batches).

    CPU time rather than wall time: other processes on a shared machine then disturb the
    figures (and the ratios to the floors) much less.
    """
    budget = 0.02 if short else 0.2
    n = 1
    while True:
        start = time.process_time()
        for _ in range(n):
            fn()
        elapsed = time.process_time() - start
        if elapsed >= budget / 4 or n >= 1 << 22:
            break
        n *= 4
    best = elapsed / n
    for _ in range(1 if short else 4):
        start = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - start) / n)
    return 1.0 / best if best > 0 else float("inf")


def _compare(
    fn: Callable[[], object], floor: Callable[[], object], short: bool
) -> tuple[float, float]:
    """Rates of ``fn`` and ``floor``, measured alternately (best of 3 each) so that load
    changes hit both alike."""
    ours = base = 0.0
    for _ in range(1 if short else 3):
        ours = max(ours, _cpu_per_second(fn, short))
        base = max(base, _cpu_per_second(floor, short))
    return ours, base


def _secret(i: int) -> bytes:
    return bytes([i]) * 32


def _handshake_rows(short: bool) -> list[list[object]]:
    now = time.time()
    authority = Keypair(_secret(1))
    identity = ResponderIdentity(authority, _secret(2))
    identity.certificate(now)
    init_eph, resp_eph = _secret(3), _secret(4)
    act1 = InitiatorHandshake(authority.public_key, init_eph).write_act1()
    act2, _ = ResponderHandshake(identity, resp_eph).read_act1(act1, now)

    def responder() -> None:
        ResponderHandshake(identity, resp_eph).read_act1(act1, now)

    def both() -> None:
        initiator = InitiatorHandshake(authority.public_key, init_eph)
        a2, _ = ResponderHandshake(identity, resp_eph).read_act1(initiator.write_act1(), now)
        initiator.read_act2(a2, now)

    # floors: the same libsecp256k1 calls, nothing else
    pubkey = ffi.new("secp256k1_pubkey *")
    ell = ffi.new("unsigned char[64]")
    out32 = ffi.new("unsigned char[32]")
    xonly = ffi.new("secp256k1_xonly_pubkey *")
    zero32 = bytes(32)
    static_ell = identity.static_ellswift
    static_sk = identity.static_secret
    cert = identity.certificate(now)
    msg = signed_message(0, cert.valid_from, cert.not_valid_after, identity.static_xonly)
    sig = cert.signature
    auth_key = ffi.new("secp256k1_xonly_pubkey *")
    lib.secp256k1_xonly_pubkey_parse(_CTX, auth_key, authority.public_key.data)
    re = act2[:64]

    def responder_floor() -> None:
        lib.secp256k1_ec_pubkey_create(_CTX, pubkey, resp_eph)
        lib.secp256k1_ellswift_encode(_CTX, ell, pubkey, zero32)
        lib.secp256k1_ellswift_xdh(_CTX, out32, act1, re, resp_eph, 1, _HASHFP, ffi.NULL)
        lib.secp256k1_ellswift_xdh(_CTX, out32, act1, static_ell, static_sk, 1, _HASHFP, ffi.NULL)

    def initiator_floor() -> None:
        lib.secp256k1_ec_pubkey_create(_CTX, pubkey, init_eph)
        lib.secp256k1_ellswift_encode(_CTX, ell, pubkey, zero32)
        lib.secp256k1_ellswift_xdh(_CTX, out32, act1, re, init_eph, 0, _HASHFP, ffi.NULL)
        lib.secp256k1_ellswift_xdh(_CTX, out32, act1, static_ell, init_eph, 0, _HASHFP, ffi.NULL)
        lib.secp256k1_ellswift_decode(_CTX, pubkey, static_ell)
        lib.secp256k1_xonly_pubkey_from_pubkey(_CTX, xonly, ffi.NULL, pubkey)
        lib.secp256k1_xonly_pubkey_serialize(_CTX, out32, xonly)
        lib.secp256k1_schnorrsig_verify(_CTX, sig, msg, 32, auth_key)

    def both_floor() -> None:
        responder_floor()
        initiator_floor()

    rows: list[list[object]] = []
    for name, fn, floor, sri in [
        ("handshake, responder side", responder, responder_floor, "-"),
        ("handshake, both sides", both, both_floor, SRI_HANDSHAKE_US),
    ]:
        ours, base = _compare(fn, floor, short)
        rows.append([name, ours, 1e6 / ours, 1e6 / base, base / ours, sri])
    return rows


def _frame_case(size: int) -> tuple[Callable[[], None], Callable[[], None]]:
    """(our encrypt+decrypt of one frame, the same ChaCha20-Poly1305 calls alone)."""
    k1, k2 = _secret(5), _secret(6)
    sender = NoiseTransport(CipherState(k1), CipherState(k2))
    receiver = NoiseTransport(CipherState(k2), CipherState(k1))
    header = b"\x00\x00\x15" + size.to_bytes(3, "little")
    payload = os.urandom(size)

    def round_trip() -> None:
        receiver.feed(sender.encrypt_frame(header, payload))

    enc = ChaCha20Poly1305(k1).encrypt
    dec = ChaCha20Poly1305(k1).decrypt
    nonce = bytes(12)
    chunks = [payload[i : i + MAX_CHUNK_PLAINTEXT] for i in range(0, size, MAX_CHUNK_PLAINTEXT)]
    sealed = [enc(nonce, c, None) for c in chunks]
    sealed_header = enc(nonce, header, None)

    def aead_floor() -> None:
        enc(nonce, header, None)
        for c in chunks:
            enc(nonce, c, None)
        dec(nonce, sealed_header, None)
        for s in sealed:
            dec(nonce, s, None)

    return round_trip, aead_floor


def _message_case() -> tuple[Callable[[], None], Callable[[], None]]:
    """The whole Connection path (codec included) for one SubmitSharesStandard."""
    authority = Keypair(_secret(1))
    identity = ResponderIdentity(authority, _secret(2))
    client = Connection.initiator(authority.public_key, _secret(3), time.time())
    server = Connection.responder(identity, _secret(4), time.time())
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.events()
    share = SubmitSharesStandard(1, 7, 2, 0x12345678, 0x66000000, 0x20000000)

    def message_round_trip() -> None:
        client.send(share)
        server.receive_data(client.data_to_send())
        server.next_event()

    enc = ChaCha20Poly1305(_secret(7)).encrypt
    dec = ChaCha20Poly1305(_secret(7)).decrypt
    nonce, header, body = bytes(12), bytes(6), bytes(22)
    sealed_header, sealed_body = enc(nonce, header, None), enc(nonce, body, None)

    def aead_floor() -> None:
        enc(nonce, header, None)
        enc(nonce, body, None)
        dec(nonce, sealed_header, None)
        dec(nonce, sealed_body, None)

    return message_round_trip, aead_floor


def _frame_rows(short: bool) -> list[list[object]]:
    rows: list[list[object]] = []
    for label, size in [("64 B", 64), ("1 KiB", 1024), ("64 KiB", 65536)]:
        ours, base = _compare(*_frame_case(size), short)
        sri = SRI_ROUND_TRIP_64_US if size == 64 else "-"
        rows.append([f"frame round trip, {label}", ours, 1e6 / ours, 1e6 / base, base / ours, sri])
    ours, base = _compare(*_message_case(), short)
    rows.append(
        ["Connection: SubmitSharesStandard", ours, 1e6 / ours, 1e6 / base, base / ours, "-"]
    )
    return rows


def main(short: bool) -> None:
    """Print the handshake and frame tables."""
    headers = ["operation", "per second", "us each", "floor us", "x floor", "SRI us"]
    print_table(
        "Noise handshake (floor: the libsecp256k1 calls alone)", headers, _handshake_rows(short)
    )
    print_table(
        "Encrypted frames, encrypt + decrypt (floor: the ChaCha20-Poly1305 calls alone)",
        headers,
        _frame_rows(short),
    )
