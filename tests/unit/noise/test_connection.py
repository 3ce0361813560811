"""The sans-IO Connection: both sides in memory, whole and one byte at a time."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratumv2.connection import (
    Connection,
    ConnectionStateError,
    HandshakeComplete,
    MessageReceived,
    Role,
    UnknownMessageReceived,
)
from stratumv2.noise import (
    BadCertificate,
    DecryptError,
    FrameTooLarge,
    HandshakeError,
    Keypair,
    NoiseError,
    ResponderIdentity,
    XOnlyPublicKey,
)
from stratumv2.protocol import (
    NewTemplate,
    ProtocolError,
    RequestTransactionDataSuccess,
    SetupConnection,
    SetupConnectionSuccess,
    decode_frame,
)

NOW = 1700000000
SETUP = SetupConnection(0, 2, 2, 4, "0.0.0.0", 3333, "SRI", "Translator Proxy", "", "")


def _h(v: dict[str, Any], key: str) -> bytes:
    return bytes.fromhex(v[key])


def _vector_pair(v: dict[str, Any]) -> tuple[Connection, Connection]:
    identity = ResponderIdentity(
        Keypair(_h(v, "authority_secret_key_hex")), _h(v, "responder_static_sk"), backdate=0
    )
    client = Connection.initiator(
        XOnlyPublicKey(_h(v, "authority_public_key_xonly_hex")),
        _h(v, "initiator_ephemeral_sk"),
        NOW,
    )
    server = Connection.responder(identity, _h(v, "responder_ephemeral_sk"), NOW)
    return client, server


def _pump(src: Connection, dst: Connection, one_byte: bool = False) -> None:
    data = src.data_to_send()
    if one_byte:
        for i in range(len(data)):
            dst.receive_data(data[i : i + 1])
    else:
        dst.receive_data(data)


@pytest.mark.parametrize("one_byte", [False, True])
def test_vector_exchange_through_connections(noise_vector: dict[str, Any], one_byte: bool) -> None:
    v = noise_vector
    client, server = _vector_pair(v)
    assert client.role is Role.INITIATOR and server.role is Role.RESPONDER
    act1 = client.data_to_send()
    assert act1.hex() == v["act1_wire"]
    for i in range(len(act1)) if one_byte else [0]:
        server.receive_data(act1[i : i + 1] if one_byte else act1)
    ev = server.next_event()
    assert isinstance(ev, HandshakeComplete) and ev.handshake_hash == _h(v, "h_final")
    act2 = server.data_to_send()
    assert act2.hex() == v["act2_wire"]
    for i in range(len(act2)) if one_byte else [0]:
        client.receive_data(act2[i : i + 1] if one_byte else act2)
    assert isinstance(client.next_event(), HandshakeComplete)
    assert client.is_open and server.is_open

    assert decode_frame(_h(v, "setup_connection_plain_frame")) == SETUP
    client.send(SETUP)
    wire = client.data_to_send()
    assert wire.hex() == v["setup_connection_encrypted_frame"]
    for i in range(len(wire)) if one_byte else [0]:
        server.receive_data(wire[i : i + 1] if one_byte else wire)
    assert server.next_event() == MessageReceived(SETUP)
    server.send(SetupConnectionSuccess(2, 0))
    wire = server.data_to_send()
    assert wire.hex() == v["setup_connection_success_encrypted_frame"]
    client.receive_data(wire)
    assert client.next_event() == MessageReceived(SetupConnectionSuccess(2, 0))
    assert client.next_event() is None
    assert client.bytes_sent == server.bytes_received == 64 + 80
    assert server.bytes_sent == client.bytes_received == 234 + 44


def test_pipelined_bytes_after_handshake(noise_vector: dict[str, Any]) -> None:
    client, server = _vector_pair(noise_vector)
    server.receive_data(client.data_to_send())
    act2 = server.data_to_send()
    server.send(SetupConnectionSuccess(2, 1))
    server.send(SetupConnectionSuccess(2, 2))
    client.receive_data(act2 + server.data_to_send())
    events = client.events()
    assert [type(e) for e in events] == [HandshakeComplete, MessageReceived, MessageReceived]


def test_large_message_is_chunked(noise_vector: dict[str, Any]) -> None:
    client, server = _vector_pair(noise_vector)
    _pump(client, server)
    _pump(server, client)
    template = NewTemplate(1, True, 0x20000000, 2, b"\x03" * 255, 0xFFFFFFFF, 0, 0, b"", 0, ())
    big = RequestTransactionDataSuccess(1, b"", (b"\x01" * 150_000, b"\x02" * 70_000))
    for message in (big, template, big):
        server.send(message)
    wire = server.data_to_send()
    assert len(wire) > 2 * (220_000 + 4 * 16)
    client.receive_data(wire)
    got = [e.message for e in client.events() if isinstance(e, MessageReceived)]
    assert got == [big, template, big]


def test_send_before_handshake_is_our_error(noise_vector: dict[str, Any]) -> None:
    client, _ = _vector_pair(noise_vector)
    with pytest.raises(ConnectionStateError):
        client.send(SETUP)


def test_wrong_authority_fails_the_client(noise_vector: dict[str, Any]) -> None:
    v = noise_vector
    _, server = _vector_pair(v)
    client = Connection.initiator(
        XOnlyPublicKey(_h(v, "key_utils_pk_xonly_hex")), _h(v, "initiator_ephemeral_sk"), NOW
    )
    _pump(client, server)
    with pytest.raises(BadCertificate):
        _pump(server, client)
    assert client.failed
    with pytest.raises(ConnectionStateError):
        client.receive_data(b"x")


def test_certificate_checked_at_receive_time(noise_vector: dict[str, Any]) -> None:
    client, server = _vector_pair(noise_vector)
    _pump(client, server)
    with pytest.raises(BadCertificate, match="expired"):
        client.receive_data(server.data_to_send(), now=NOW + 7200)


def test_tampered_frame_fails_the_server(noise_vector: dict[str, Any]) -> None:
    client, server = _vector_pair(noise_vector)
    _pump(client, server)
    _pump(server, client)
    client.send(SETUP)
    wire = bytearray(client.data_to_send())
    wire[30] ^= 1
    with pytest.raises(DecryptError):
        server.receive_data(bytes(wire))
    assert isinstance(DecryptError("x"), ProtocolError)


def test_frame_over_maximum(noise_vector: dict[str, Any]) -> None:
    v = noise_vector
    client, _ = _vector_pair(v)
    identity = ResponderIdentity(Keypair(_h(v, "authority_secret_key_hex")), bytes([5]) * 32)
    server = Connection.responder(identity, bytes([6]) * 32, NOW, max_payload_size=40)
    _pump(client, server)
    _pump(server, client)
    client.send(SETUP)  # 42-byte payload
    with pytest.raises(FrameTooLarge):
        _pump(client, server)


def test_unknown_message_type_is_an_event(noise_vector: dict[str, Any]) -> None:
    client, server = _vector_pair(noise_vector)
    _pump(client, server)
    _pump(server, client)
    client.send_frame(b"\x34\x12\x07\x02\x00\x00", b"hi")
    _pump(client, server)
    server.next_event()
    ev = server.next_event()
    assert isinstance(ev, UnknownMessageReceived)
    assert (ev.header.extension_type, ev.header.msg_type, ev.payload) == (0x1234, 7, b"hi")


def test_malformed_payload_is_a_protocol_error(noise_vector: dict[str, Any]) -> None:
    client, server = _vector_pair(noise_vector)
    _pump(client, server)
    _pump(server, client)
    client.send_frame(b"\x00\x00\x00\x01\x00\x00", b"\x09")  # SetupConnection, 1 byte
    with pytest.raises(ProtocolError):
        _pump(client, server)


def test_eof_during_handshake_and_inside_frame(noise_vector: dict[str, Any]) -> None:
    client, server = _vector_pair(noise_vector)
    server.receive_data(client.data_to_send()[:10])
    with pytest.raises(HandshakeError, match="10 bytes"):
        server.receive_eof()
    client, server = _vector_pair(noise_vector)
    _pump(client, server)
    _pump(server, client)
    client.send(SETUP)
    server.receive_data(client.data_to_send()[:30])
    with pytest.raises(ProtocolError, match="inside a frame"):
        server.receive_eof()


def test_random_bytes_instead_of_a_handshake(noise_vector: dict[str, Any]) -> None:
    _, server = _vector_pair(noise_vector)
    server.receive_data(bytes(range(64)))  # any 64 bytes decode as an ellswift key
    with pytest.raises(NoiseError):
        server.receive_data(bytes(range(64, 200)))


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=400), cut=st.integers(1, 400))
def test_arbitrary_bytes_only_raise_protocol_errors(data: bytes, cut: int) -> None:
    """Responder fed junk, and an initiator fed junk as act 2: ProtocolError or nothing."""
    identity = ResponderIdentity(Keypair(bytes([1]) * 32), bytes([2]) * 32)
    server = Connection.responder(identity, bytes([3]) * 32, NOW)
    client = Connection.initiator(Keypair(bytes([1]) * 32).public_key, bytes([4]) * 32, NOW)
    client.data_to_send()
    for conn in (server, client):
        with contextlib.suppress(ProtocolError):
            conn.receive_data(data[:cut])
            conn.receive_data(data[cut:])
            conn.receive_eof()
