"""Golden frames: hex written out by hand from the digest's field tables, one per message type.

Each vector names its source. The hex was written field by field from the tables (little-endian
integers, U8/U16/U24 length prefixes, element counts for SEQ/OPTION), NOT produced by our
encoder, so a mistake made symmetrically in encoder and decoder still fails here. Vectors
marked "example" are copied verbatim from the digest's hex examples / reference vectors.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from stratumv2 import protocol as p

DATA = Path(__file__).resolve().parent / "data"  # copies from the spec digest (data/README.md)


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


H32 = bytes(range(32))  # 000102..1f
DIFF1 = bytes(26) + b"\xff\xff" + bytes(4)
DIFF1_HEX = "00" * 26 + "ffff" + "00" * 4
FF32 = b"\xff" * 32

# (source, message, frame hex = header ‖ payload)
VECTORS: list[tuple[str, p.Message, str]] = [
    # ---- Common (digest 03 §A) ----
    (
        "example 01 §6 / sv2-tp sv2_messages_tests.cpp (82-byte SetupConnection)",
        p.SetupConnection(
            2,
            2,
            2,
            1,
            "0.0.0.0",
            8545,
            "Bitmain",
            "S9i 13.5",
            "braiins-os-2018-09-22-1-hash",
            "some-device-uuid",
        ),
        "000000520000"
        "02020002000100000007302e302e302e306121074269746d61696e08533969"
        "2031332e351c62726169696e732d6f732d323031382d30392d32322d312d68617368"
        "10736f6d652d6465766963652d75756964",
    ),
    (
        "example 01 §6 / 02 §9 (translator-like SetupConnection plaintext frame)",
        p.SetupConnection(0, 2, 2, 4, "0.0.0.0", 3333, "SRI", "Translator Proxy", "", ""),
        "0000002a000000020002000400000007302e302e302e30050d03535249105472616e736c61746f72"
        "2050726f78790000",
    ),
    (
        "03 §A 0x01: used_version U16, flags U32",
        p.SetupConnectionSuccess(2, 3),
        "000001060000020003000000",
    ),
    (
        "03 §A 0x02: flags U32, error_code STR0_255 (payload = sv2-tp example in 01 §6)",
        p.SetupConnectionError(0, "protocol-version-mismatch"),
        "0000021e0000000000001970726f746f636f6c2d76657273696f6e2d6d69736d61746368",
    ),
    (
        "03 §A 0x03: channel_id U32; channel bit set (01 §2.1)",
        p.ChannelEndpointChanged(7),
        "00800304000007000000",
    ),
    (
        "03 §A 0x04: new_host STR0_255, new_port U16",
        p.Reconnect("pool.example", 3334),
        "0000040f00000c706f6f6c2e6578616d706c65060d",
    ),
    # ---- Mining (digest 03 §B) ----
    (
        "03 §B 0x10: request_id U32, user_identity STR0_255, nominal_hash_rate F32, "
        "max_target U256",
        p.OpenStandardMiningChannel(1, "user.worker", f32(1e12), FF32),
        "000010340000010000000b757365722e776f726b6572a5d46853" + "ff" * 32,
    ),
    (
        "03 §B 0x11: request_id, channel_id, target U256, extranonce_prefix B0_32, group id",
        p.OpenStandardMiningChannelSuccess(1, 2, DIFF1, bytes.fromhex("0102030405060708"), 9),
        "0000113500000100000002000000" + DIFF1_HEX + "08010203040506070809000000",
    ),
    (
        "03 §B 0x12: request_id U32, error_code STR0_255",
        p.OpenMiningChannelError(1, "unknown-user"),
        "000012110000010000000c756e6b6e6f776e2d75736572",
    ),
    (
        "example 01 §6 (OpenExtendedMiningChannel)",
        p.OpenExtendedMiningChannel(1, "user.worker", f32(1e12), FF32, 4),
        "000013360000010000000b757365722e776f726b6572a5d46853" + "ff" * 32 + "0400",
    ),
    (
        "03 §B 0x14: extranonce_size U16 BEFORE extranonce_prefix B0_32, then group id",
        p.OpenExtendedMiningChannelSuccess(1, 2, DIFF1, 16, bytes.fromhex("01020304"), 3),
        "0000143300000100000002000000" + DIFF1_HEX + "1000040102030403000000",
    ),
    (
        "example 01 §6 (NewMiningJob, min_ntime None)",
        p.NewMiningJob(1, 5, None, 0x20000000, H32),
        "0080152d000001000000050000000000000020" + H32.hex(),
    ),
    (
        "example 01 §6 (NewMiningJob, min_ntime Some)",
        p.NewMiningJob(1, 5, 0x66000000, 0x20000000, H32),
        "0080153100000100000005000000010000006600000020" + H32.hex(),
    ),
    (
        "03 §B 0x16: channel_id U32, nominal_hash_rate F32 (1.0 = 0000803f), maximum_target",
        p.UpdateChannel(1, 1.0, FF32),
        "008016280000010000000000803f" + "ff" * 32,
    ),
    (
        "03 §B 0x17: channel_id U32, error_code STR0_255",
        p.UpdateChannelError(1, "invalid-channel-id"),
        "0080171700000100000012696e76616c69642d6368616e6e656c2d6964",
    ),
    (
        "example 01 §6 (CloseChannel)",
        p.CloseChannel(1, "bye"),
        "0080180800000100000003627965",
    ),
    (
        "03 §B 0x19: channel_id U32, extranonce_prefix B0_32",
        p.SetExtranoncePrefix(5, bytes.fromhex("aabbccdd")),
        "0080190900000500000004aabbccdd",
    ),
    (
        "example 01 §6 (SubmitSharesStandard)",
        p.SubmitSharesStandard(1, 7, 2, 0x12345678, 0x66000000, 0x20000000),
        "00801a180000010000000700000002000000785634120000006600000020",
    ),
    (
        "example 01 §6 (SubmitSharesExtended)",
        p.SubmitSharesExtended(1, 8, 2, 0x12345678, 0x66000000, 0x20000000, b"\xde\xad\xbe\xef"),
        "00801b1d000001000000080000000200000078563412000000660000002004deadbeef",
    ),
    (
        "example 01 §6 / 05 §1.2 (SubmitSharesExtended + TLV 0x0002/0x01 'Worker_001', SRI LE)",
        p.SubmitSharesExtended(
            1,
            8,
            2,
            0x12345678,
            0x66000000,
            0x20000000,
            b"\xde\xad\xbe\xef",
            tlv_data=bytes.fromhex("0200010a00576f726b65725f303031"),
        ),
        "00801b2c0000"
        "01000000080000000200000078563412000000660000002004deadbeef"
        "0200010a00576f726b65725f303031",
    ),
    (
        "03 §B 0x1c: channel_id, last_sequence_number, new_submits_accepted_count U32, "
        "new_shares_sum U64",
        p.SubmitSharesSuccess(1, 8, 10, 10000),
        "00801c14000001000000080000000a0000001027000000000000",
    ),
    (
        "03 §B 0x1d: channel_id, sequence_number U32, error_code STR0_255",
        p.SubmitSharesError(1, 8, "stale-share"),
        "00801d14000001000000080000000b7374616c652d7368617265",
    ),
    (
        "03 §B 0x1f: ch, job, OPTION[U32], version, BOOL, SEQ0_255[U256], B0_64K, B0_64K",
        p.NewExtendedMiningJob(
            3,
            5,
            0x66000000,
            0x20000000,
            True,
            (b"\x11" * 32, b"\x22" * 32),
            b"\x01\x02",
            b"\x03\x04\x05",
        ),
        "00801f5c0000"
        "03000000"
        "05000000"
        "0100000066"
        "00000020"
        "01"
        "02" + "11" * 32 + "22" * 32 + "0200"
        "0102"
        "0300"
        "030405",
    ),
    (
        "03 §B 0x20: channel_id, job_id U32, prev_hash U256, min_ntime, nbits U32",
        p.SetNewPrevHashMining(3, 5, H32, 0x66000000, 0x1703A30C),
        "0080203000000300000005000000" + H32.hex() + "000000660ca30317",
    ),
    (
        "example 01 §6 (SetTarget, difficulty-1 target)",
        p.SetTarget(1, DIFF1),
        "008021240000010000000000000000000000000000000000000000000000000000000000ffff00000000",
    ),
    (
        "03 §B 0x22: SetCustomMiningJob, 13 fields in table order",
        p.SetCustomMiningJob(
            1,
            9,
            b"\xaa\xbb",
            0x20000000,
            b"\x33" * 32,
            0x66000000,
            0x1703A30C,
            2,
            bytes.fromhex("03012100"),
            0xFFFFFFFF,
            b"\x00",
            0,
            (),
        ),
        "0080224c0000"
        "01000000"
        "09000000"
        "02aabb"
        "00000020" + "33" * 32 + "00000066"
        "0ca30317"
        "02000000"
        "0403012100"
        "ffffffff"
        "010000"
        "00000000"
        "00",
    ),
    (
        "03 §B 0x23: channel_id, request_id, job_id U32",
        p.SetCustomMiningJobSuccess(1, 9, 10),
        "0080230c000001000000090000000a000000",
    ),
    (
        "03 §B 0x24: channel_id, request_id U32, error_code STR0_255",
        p.SetCustomMiningJobError(1, 9, "stale-chain-tip"),
        "00802418000001000000090000000f7374616c652d636861696e2d746970",
    ),
    (
        "03 §B 0x25: group_channel_id U32, channel_ids SEQ0_64K[U32]; channel bit NOT set",
        p.SetGroupChannel(3, (1, 2, 0x01020304)),
        "000025120000030000000300010000000200000004030201",
    ),
    # ---- Job Declaration (digest 04 §B) ----
    (
        "04 §B 0x50: user_identifier STR0_255 BEFORE request_id U32",
        p.AllocateMiningJobToken("user", 7),
        "000050090000047573657207000000",
    ),
    (
        "04 §B 0x51: request_id U32, mining_job_token B0_255, coinbase_tx_outputs B0_64K",
        p.AllocateMiningJobTokenSuccess(7, b"\x01\x02", b"\x01\xab"),
        "0000510b000007000000020102020001ab",
    ),
    (
        "04 §B 0x55: request_id U32, unknown_tx_position_list SEQ0_64K[U16]",
        p.ProvideMissingTransactions(7, (0, 5, 0x0102)),
        "0000550c0000070000000300000005000201",
    ),
    (
        "04 §B 0x56: request_id U32, transaction_list SEQ0_64K[B0_16M] (U24 lengths)",
        p.ProvideMissingTransactionsSuccess(7, (b"\xaa", b"\xbb\xcc")),
        "0000560f0000070000000200010000aa020000bbcc",
    ),
    (
        "04 §B 0x57: DeclareMiningJob, 7 fields in table order",
        p.DeclareMiningJob(7, b"\x01", 0x20000000, b"\x02\x03", b"\x04", (b"\x44" * 32,), b"\x05"),
        "00005736000007000000010100000020020002030100040100" + "44" * 32 + "010005",
    ),
    (
        "04 §B 0x58: request_id U32, new_mining_job_token B0_255",
        p.DeclareMiningJobSuccess(7, b"\x0a\x0b"),
        "00005807000007000000020a0b",
    ),
    (
        "04 §B 0x59: request_id U32, error_code STR0_255, error_details B0_64K",
        p.DeclareMiningJobError(7, "missing-txs", b"\x01\x02"),
        "000059140000070000000b6d697373696e672d74787302000102",
    ),
    (
        "04 §B 0x60: extranonce B0_32, prev_hash U256, nonce, ntime, nbits, version U32",
        p.PushSolution(
            bytes.fromhex("01020304"), b"\x55" * 32, 0x11223344, 0x66000000, 0x1703A30C, 0x20000000
        ),
        "0000603500000401020304" + "55" * 32 + "44332211000000660ca3031700000020",
    ),
    # ---- Template Distribution (digest 04 §A) ----
    (
        "04 §A 0x70: coinbase_output_max_additional_size U32, ..._sigops U16",
        p.CoinbaseOutputConstraints(100, 400),
        "000070060000640000009001",
    ),
    (
        "04 §A 0x71: sv2-tp Sv2NewTemplate_test payload (digest 04 §A), 89-byte payload",
        p.NewTemplate(
            1,
            False,
            0x30000000,
            2,
            bytes.fromhex("03012100"),
            0xFFFFFFFF,
            2_100_000_000_000_000,
            1,
            bytes.fromhex("0100000000000000036a012a"),
            903387,
            (bytes.fromhex("1a6240823de4c8d6aaf826851bdf2b0e8d5acf7c31e8578cff4c394b5a32bd4e"),),
        ),
        "000071590000"
        "0100000000000000 00 00000030 02000000 04 03012100 ffffffff 0040075af0750700 01000000"
        "0c00 0100000000000000036a012a dbc80d00 01"
        " 1a6240823de4c8d6aaf826851bdf2b0e8d5acf7c31e8578cff4c394b5a32bd4e",
    ),
    (
        "04 §A 0x72: sv2-tp SetNewPrevHash vector (digest 04 §A)",
        p.SetNewPrevHashTd(
            2,
            bytes.fromhex("e59a2ef8d4826b89fe637f3b5322c0f167fd2d3dc88ec568a7c2c8ffd8eb8873"),
            1661877399,
            0x037FFFFF,
            bytes.fromhex("ffff7f") + bytes(29),
        ),
        "000072500000"
        "0200000000000000"
        "e59a2ef8d4826b89fe637f3b5322c0f167fd2d3dc88ec568a7c2c8ffd8eb8873"
        "973c0e63"
        "ffff7f03"
        "ffff7f" + "00" * 29,
    ),
    (
        "04 §A 0x73: template_id U64",
        p.RequestTransactionData(2),
        "0000730800000200000000000000",
    ),
    (
        "04 §A 0x74: template_id U64, excess_data B0_64K, transaction_list SEQ0_64K[B0_16M]",
        p.RequestTransactionDataSuccess(2, b"\xee\xff", (b"\x01\x02\x03",)),
        "00007414000002000000000000000200eeff0100030000010203",
    ),
    (
        "04 §A 0x75: template_id U64, error_code STR0_255",
        p.RequestTransactionDataError(2, "template-id-not-found"),
        "0000751e000002000000000000001574656d706c6174652d69642d6e6f742d666f756e64",
    ),
    (
        "04 §A 0x76: template_id U64, version, header_timestamp, header_nonce U32, "
        "coinbase_tx B0_64K",
        p.SubmitSolution(2, 0x20000000, 0x66000000, 0x11223344, bytes.fromhex("0102030405")),
        "0000761b0000020000000000000000000020000000664433221105000102030405",
    ),
    # ---- Extension 0x0001 (digest 05 §1.1) ----
    (
        "example 01 §6 / 05 §1.1 (RequestExtensions, extension frame)",
        p.RequestExtensions(1, (2,)),
        "010000060000010001000200",
    ),
    (
        "05 §1.1 0x01: request_id U16, supported_extensions SEQ0_64K[U16]",
        p.RequestExtensionsSuccess(1, (2,)),
        "010001060000010001000200",
    ),
    (
        "05 §1.1 0x02: request_id U16, unsupported / required SEQ0_64K[U16]",
        p.RequestExtensionsError(1, (3,), (2,)),
        "0100020a000001000100030001000200",
    ),
]


def _frame(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text.replace(" ", ""))


IDS = [f"{type(m).__name__}-{i}" for i, (_, m, _) in enumerate(VECTORS)]


@pytest.mark.parametrize(("source", "message", "frame_hex"), VECTORS, ids=IDS)
def test_encode_matches_golden_frame(source: str, message: p.Message, frame_hex: str) -> None:
    assert p.encode_frame(message).hex() == _frame(frame_hex).hex(), source


@pytest.mark.parametrize(("source", "message", "frame_hex"), VECTORS, ids=IDS)
def test_decode_golden_frame(source: str, message: p.Message, frame_hex: str) -> None:
    frame = _frame(frame_hex)
    decoded = p.decode_frame(frame)
    assert decoded == message, source
    assert type(decoded) is type(message)
    header = p.decode_header(frame[:6])
    assert header.length == len(frame) - 6, "hand-written length field must match"
    assert p.decode_payload(header, frame[6:]) == message
    assert p.encode_payload(message) == frame[6:]


def test_every_message_type_has_a_golden_vector() -> None:
    covered = {type(m) for _, m, _ in VECTORS}
    missing = [c.__name__ for c in p.registered_classes() if c not in covered]
    assert not missing


# 02-noise-test-vectors.json (digest 02 §9): the plaintext frames that were encrypted there.
NOISE_SETUP_PLAIN = (
    "0000002a000000020002000400000007302e302e302e30050d03535249105472616e736c61746f72"
    "2050726f78790000"
)
NOISE_SUCCESS_PLAIN = "000001060000020000000000"


def test_noise_vector_plaintext_frames() -> None:
    vectors = json.loads((DATA / "02-noise-test-vectors.json").read_text())
    assert vectors["setup_connection_plain_frame"] == NOISE_SETUP_PLAIN
    assert vectors["setup_connection_success_plain_frame"] == NOISE_SUCCESS_PLAIN
    setup = bytes.fromhex(NOISE_SETUP_PLAIN)
    assert p.decode_frame(setup) == p.SetupConnection(
        0, 2, 2, 4, "0.0.0.0", 3333, "SRI", "Translator Proxy", "", ""
    )
    success = bytes.fromhex(NOISE_SUCCESS_PLAIN)
    assert p.decode_frame(success) == p.SetupConnectionSuccess(2, 0)
    assert p.encode_frame(p.SetupConnectionSuccess(2, 0)) == success


def test_sv2_tp_payload_vectors() -> None:
    """01 §6: SetupConnection.Success / .Error payloads from sv2-tp's tests."""
    ok = p.decode_payload(p.FrameHeader(0, 0x01, False, 6), bytes.fromhex("020003000000"))
    assert ok == p.SetupConnectionSuccess(2, 3)
    err_payload = bytes.fromhex("000000001970726f746f636f6c2d76657273696f6e2d6d69736d61746368")
    err = p.decode_payload(p.FrameHeader(0, 0x02, False, len(err_payload)), err_payload)
    assert err == p.SetupConnectionError(0, "protocol-version-mismatch")


@pytest.mark.parametrize(
    ("ext", "msg_type", "length", "channel", "hex_text", "source"),
    [
        (0, 0x00, 82, False, "000000520000", "sv2-tp: SetupConnection with 82-byte payload"),
        (0, 0x71, 0, False, "000071000000", "sv2-tp: NewTemplate, length 0"),
        (0, 0x72, 0, False, "000072000000", "sv2-tp: SetNewPrevHash (TD), length 0"),
        (0x0201, 0x03, 0x060504, False, "010203040506", "SRI header.rs test"),
        (0, 0x1A, 24, True, "00801a180000", "01 §6: core channel message starts 00 80"),
    ],
)
def test_header_vectors(
    ext: int, msg_type: int, length: int, channel: bool, hex_text: str, source: str
) -> None:
    raw = bytes.fromhex(hex_text)
    assert p.encode_header(ext, msg_type, length, channel) == raw, source
    assert p.decode_header(raw) == p.FrameHeader(ext, msg_type, channel, length), source


# 01 §2.1, written out independently of the message classes.
CHANNEL_BIT_SET = {0x03, *range(0x15, 0x1E), *range(0x1F, 0x25)}


@pytest.mark.parametrize("cls", p.registered_classes(), ids=lambda c: c.__name__)
def test_channel_bit_follows_table_2_1(cls: type[p.Message]) -> None:
    expected = cls.EXTENSION_TYPE == 0 and cls.MSG_TYPE in CHANNEL_BIT_SET
    assert cls.CHANNEL_MSG is expected
    message = next(m for _, m, _ in VECTORS if type(m) is cls)
    frame = p.encode_frame(message)
    assert bool(frame[1] & 0x80) is expected
    assert int.from_bytes(frame[:2], "little") & 0x7FFF == cls.EXTENSION_TYPE
    assert frame[2] == cls.MSG_TYPE
