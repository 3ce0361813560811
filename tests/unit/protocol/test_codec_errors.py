"""Decoding rules and limits: what is refused, with which message/field, and what is kept."""

from __future__ import annotations

import pytest

from stratumv2 import protocol as p


def frame(ext: int, msg_type: int, payload: bytes) -> bytes:
    return (
        ext.to_bytes(2, "little") + bytes([msg_type]) + len(payload).to_bytes(3, "little") + payload
    )


SHARE = bytes.fromhex("010000000700000002000000785634120000006600000020")
EXTENDED = SHARE + bytes.fromhex("04deadbeef")


def test_trailing_bytes_are_kept_as_tlv_data() -> None:
    tail = bytes.fromhex("0200010a00576f726b65725f303031")
    msg = p.decode_frame(frame(0x8000, 0x1B, EXTENDED + tail))
    assert isinstance(msg, p.SubmitSharesExtended)
    assert msg.extranonce == b"\xde\xad\xbe\xef"
    assert msg.tlv_data == tail
    assert p.parse_tlvs(msg.tlv_data) == (p.Tlv(2, 1, b"Worker_001"),)
    assert p.encode_tlvs([p.user_identity_tlv("Worker_001")]) == tail
    # a plain message has none, and compares equal to a constructed one
    plain = p.decode_frame(frame(0x8000, 0x1A, SHARE))
    assert plain.tlv_data == b""
    assert plain == p.SubmitSharesStandard(1, 7, 2, 0x12345678, 0x66000000, 0x20000000)
    with_tail = p.decode_frame(frame(0x8000, 0x1A, SHARE + b"\x01"))
    assert with_tail != plain and with_tail.tlv_data == b"\x01"


def test_malformed_tlv_tail_is_skipped_not_fatal() -> None:
    assert p.parse_tlvs(bytes.fromhex("020001ff00aa")) == ()
    assert p.parse_tlvs(bytes.fromhex("0200010100aa02")) == (p.Tlv(2, 1, b"\xaa"),)


def test_channel_bit_is_ignored_when_parsing() -> None:
    a = p.decode_frame(frame(0x8000, 0x1A, SHARE))
    b = p.decode_frame(frame(0x0000, 0x1A, SHARE))
    assert a == b
    assert p.message_class(0x1A, 0x8000) is p.SubmitSharesStandard
    assert p.message_class(0x00, 0x8001) is p.RequestExtensions


def test_unknown_message_type() -> None:
    with pytest.raises(p.UnknownMessageError, match="0x1e"):
        p.decode_frame(frame(0x8000, 0x1E, b""))
    with pytest.raises(p.UnknownMessageError):
        p.message_class(0x99)
    with pytest.raises(p.ProtocolError):  # extension 0x0002 defines no messages
        p.decode_frame(frame(0x0002, 0x00, b""))


def test_truncated_field_names_message_and_field() -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.decode_frame(frame(0x8000, 0x1A, SHARE[:-1]))
    assert "SubmitSharesStandard" in str(info.value)
    assert info.value.field == "version"
    assert info.value.msg_type == 0x1A


def test_b0_32_over_limit() -> None:
    payload = SHARE + bytes([33]) + bytes(33)
    with pytest.raises(p.ProtocolError) as info:
        p.decode_frame(frame(0x8000, 0x1B, payload))
    assert info.value.field == "extranonce"
    assert "exceeds" in str(info.value)


def test_b0_32_at_limit_is_fine() -> None:
    msg = p.decode_frame(frame(0x8000, 0x1B, SHARE + bytes([32]) + bytes(32)))
    assert isinstance(msg, p.SubmitSharesExtended)
    assert msg.extranonce == bytes(32)


def test_option_with_two_elements() -> None:
    payload = bytes.fromhex("0100000005000000020000006600000020") + bytes(32)
    with pytest.raises(p.ProtocolError) as info:
        p.decode_frame(frame(0x8000, 0x15, payload))
    assert info.value.field == "min_ntime"
    assert "OPTION" in str(info.value)


def test_invalid_utf8_string() -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.decode_frame(frame(0x8000, 0x18, bytes.fromhex("0100000002c328")))
    assert info.value.field == "reason_code"
    assert "UTF-8" in str(info.value)


def test_setup_connection_protocol_must_be_known() -> None:
    good = bytes.fromhex(
        "0000002a000000020002000400000007302e302e302e30050d03535249105472616e736c61746f722050726f78790000"
    )
    bad = bytearray(good)
    bad[6] = 3
    with pytest.raises(p.ProtocolError) as info:
        p.decode_frame(bytes(bad))
    assert info.value.field == "protocol"


def test_bool_reads_only_the_lowest_bit() -> None:
    base = bytes.fromhex("03000000050000000000000020")
    tail = bytes.fromhex("0000000000")
    assert p.decode_frame(frame(0x8000, 0x1F, base + b"\x03" + tail)).version_rolling_allowed
    assert not p.decode_frame(frame(0x8000, 0x1F, base + b"\x02" + tail)).version_rolling_allowed


def test_sequence_count_and_truncated_elements() -> None:
    # SEQ0_64K[U32] claims 3 ids but carries 2
    payload = bytes.fromhex("0300000003000100000002000000")
    with pytest.raises(p.ProtocolError) as info:
        p.decode_frame(frame(0, 0x25, payload))
    assert info.value.field == "channel_ids"
    # SEQ0_64K[B0_16M]: element length runs past the end
    payload = bytes.fromhex("070000000100050000aabb")
    with pytest.raises(p.ProtocolError) as info:
        p.decode_frame(frame(0, 0x56, payload))
    assert info.value.field == "transaction_list"


def test_frame_length_mismatch_and_short_header() -> None:
    with pytest.raises(p.ProtocolError):
        p.decode_frame(b"\x00\x80\x1a")
    with pytest.raises(p.ProtocolError) as info:
        p.decode_frame(frame(0x8000, 0x1A, SHARE) + b"\x00")
    assert info.value.field == "msg_length"
    with pytest.raises(p.ProtocolError):
        p.decode_frame(b"")


def test_decode_payload_checks_header_length() -> None:
    with pytest.raises(p.ProtocolError):
        p.decode_payload(p.FrameHeader(0, 0x1A, True, 25), SHARE)
    with pytest.raises(p.UnknownMessageError):
        p.decode_payload(p.FrameHeader(0, 0x1E, True, 0), b"")
    with pytest.raises(p.ProtocolError) as info:
        p.decode_payload(p.FrameHeader(0, 0x1A, True, 23), SHARE[:-1])
    assert info.value.field == "version"


def test_decode_accepts_bytearray_and_memoryview() -> None:
    raw = frame(0x8000, 0x1A, SHARE)
    expected = p.decode_frame(raw)
    assert p.decode_frame(bytearray(raw)) == expected
    assert p.decode_frame(memoryview(raw)) == expected
    assert isinstance(p.decode_frame(bytearray(raw)).tlv_data, bytes)


def test_decode_header_needs_six_bytes() -> None:
    with pytest.raises(p.ProtocolError):
        p.decode_header(b"\x00" * 5)


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (p.SubmitSharesStandard(1, 7, 2, 1 << 32, 0, 0), "nonce"),
        (p.SubmitSharesStandard(-1, 7, 2, 0, 0, 0), "channel_id"),
        (p.SubmitSharesExtended(1, 2, 3, 4, 5, 6, bytes(33)), "extranonce"),
        (p.NewMiningJob(1, 2, 1 << 32, 3, bytes(32)), "min_ntime"),
        (p.NewMiningJob(1, 2, None, 3, bytes(31)), "merkle_root"),
        (p.CloseChannel(1, "x" * 256), "reason_code"),
        (p.CloseChannel(1, "\udc80"), "reason_code"),
        (p.NewExtendedMiningJob(1, 2, None, 3, True, (bytes(31),), b"", b""), "merkle_path"),
        (p.NewExtendedMiningJob(1, 2, None, 3, True, (bytes(32),) * 256, b"", b""), "merkle_path"),
        (p.SetGroupChannel(1, (1 << 32,)), "channel_ids"),
        (p.RequestTransactionDataSuccess(1, bytes(70000), ()), "excess_data"),
        (p.SetupConnection(3, 2, 2, 0, "", 0, "", "", "", ""), "protocol"),
        (p.UpdateChannel(1, 1e300, bytes(32)), "nominal_hash_rate"),
        (p.SetTarget(1, "not bytes"), "maximum_target"),  # type: ignore[arg-type]
        (p.Reconnect(b"host", 1), "new_host"),  # type: ignore[arg-type]
    ],
)
def test_encode_refuses_values_the_wire_type_cannot_carry(message: p.Message, field: str) -> None:
    with pytest.raises(p.EncodeError) as info:
        p.encode_frame(message)
    assert info.value.field == field, str(info.value)
    with pytest.raises(p.EncodeError):
        p.encode_payload(message)


def test_encode_refuses_non_messages() -> None:
    with pytest.raises(p.EncodeError):
        p.encode_frame(object())  # type: ignore[arg-type]


def test_encode_header_limits() -> None:
    with pytest.raises(ValueError):
        p.encode_header(0, 0, 1 << 24, False)
    with pytest.raises(ValueError):
        p.encode_header(0x8000, 0, 0, False)
    with pytest.raises(ValueError):
        p.encode_header(0, 256, 0, False)


def test_messages_are_frozen_and_slotted() -> None:
    msg = p.SetTarget(1, bytes(32))
    with pytest.raises(AttributeError):
        msg.channel_id = 2  # type: ignore[misc]
    assert not hasattr(msg, "__dict__")
    assert hash(msg) == hash(p.SetTarget(1, bytes(32)))
    assert "SetTarget(channel_id=1" in repr(msg)


def test_message_class_vars() -> None:
    assert (p.SetNewPrevHashMining.MSG_TYPE, p.SetNewPrevHashMining.CHANNEL_MSG) == (0x20, True)
    assert (p.SetNewPrevHashTd.MSG_TYPE, p.SetNewPrevHashTd.CHANNEL_MSG) == (0x72, False)
    assert p.RequestExtensions.EXTENSION_TYPE == 1
    assert p.message_class(0x72) is p.SetNewPrevHashTd
    assert len(p.registered_classes()) == 44


def test_error_code_constants() -> None:
    from stratumv2.protocol import common, job_declaration, mining, template_distribution

    assert common.SETUP_CONNECTION_ERROR_UNSUPPORTED_FEATURE_FLAGS == "unsupported-feature-flags"
    assert mining.SUBMIT_SHARES_ERROR_DIFFICULTY_TOO_LOW == "difficulty-too-low"
    assert mining.OPEN_CHANNEL_ERROR_UNKNOWN_USER == "unknown-user"
    assert job_declaration.DECLARE_MINING_JOB_ERROR_MISSING_TXS == "missing-txs"
    assert template_distribution.REQUEST_TX_DATA_ERROR_STALE_TEMPLATE_ID == "stale-template-id"
    assert p.SUBMIT_SHARES_ERROR_STALE_SHARE == "stale-share"  # re-exported
