"""stratumv2.protocol: the SV2 binary protocol (types, framing, every message), sans-IO.

Byte-compatible with SRI. Every message is a frozen slotted dataclass under its spec name in
CamelCase without dots (``SetupConnection.Success`` is ``SetupConnectionSuccess``); fields are
the spec names in snake_case, in wire order, plus the keyword-only ``tlv_data`` (bytes after
the known fields: TLV extension data, kept and re-sent).

The two messages the spec both calls ``SetNewPrevHash`` are ``SetNewPrevHashMining`` (Mining,
0x20, channel message) and ``SetNewPrevHashTd`` (Template Distribution, 0x72).

    encode_frame(msg) -> bytes                 header + payload, channel bit per spec §8
    decode_frame(data) -> msg                  exactly one whole frame
    FrameDecoder(max_frame_size=...).feed(data) -> list[msg]
    message_class(msg_type, extension_type=0)
    encode_header / decode_header / FrameHeader / HEADER_SIZE, encode_payload / decode_payload
        for the Noise layer (it encrypts header and payload separately)

Every decoding failure raises ``ProtocolError`` (naming message type and field); nothing else
escapes for any byte input. Encoding a value its wire type cannot carry raises ``EncodeError``.
"""

from stratumv2.protocol.codec import (
    FrameDecoder,
    Message,
    decode_frame,
    decode_payload,
    encode_frame,
    encode_payload,
    message_class,
    registered_classes,
    schema,
)
from stratumv2.protocol.common import *  # noqa: F403
from stratumv2.protocol.common import (
    ChannelEndpointChanged,
    Reconnect,
    SetupConnection,
    SetupConnectionError,
    SetupConnectionSuccess,
)
from stratumv2.protocol.errors import (
    EncodeError,
    FrameTooLargeError,
    ProtocolError,
    UnknownMessageError,
)
from stratumv2.protocol.extensions import *  # noqa: F403
from stratumv2.protocol.extensions import (
    RequestExtensions,
    RequestExtensionsError,
    RequestExtensionsSuccess,
    Tlv,
    encode_tlvs,
    parse_tlvs,
    user_identity_tlv,
)
from stratumv2.protocol.framing import (
    CHANNEL_MSG_BIT,
    HEADER_SIZE,
    MAX_FRAME_SIZE,
    MAX_PAYLOAD_SIZE,
    FrameHeader,
    decode_header,
    encode_header,
)
from stratumv2.protocol.job_declaration import *  # noqa: F403
from stratumv2.protocol.job_declaration import (
    AllocateMiningJobToken,
    AllocateMiningJobTokenSuccess,
    DeclareMiningJob,
    DeclareMiningJobError,
    DeclareMiningJobSuccess,
    ProvideMissingTransactions,
    ProvideMissingTransactionsSuccess,
    PushSolution,
)
from stratumv2.protocol.mining import *  # noqa: F403
from stratumv2.protocol.mining import (
    CloseChannel,
    NewExtendedMiningJob,
    NewMiningJob,
    OpenExtendedMiningChannel,
    OpenExtendedMiningChannelSuccess,
    OpenMiningChannelError,
    OpenStandardMiningChannel,
    OpenStandardMiningChannelSuccess,
    SetCustomMiningJob,
    SetCustomMiningJobError,
    SetCustomMiningJobSuccess,
    SetExtranoncePrefix,
    SetGroupChannel,
    SetNewPrevHashMining,
    SetTarget,
    SubmitSharesError,
    SubmitSharesExtended,
    SubmitSharesStandard,
    SubmitSharesSuccess,
    UpdateChannel,
    UpdateChannelError,
)
from stratumv2.protocol.template_distribution import *  # noqa: F403
from stratumv2.protocol.template_distribution import (
    CoinbaseOutputConstraints,
    NewTemplate,
    RequestTransactionData,
    RequestTransactionDataError,
    RequestTransactionDataSuccess,
    SetNewPrevHashTd,
    SubmitSolution,
)

__all__ = [
    "CHANNEL_MSG_BIT",
    "HEADER_SIZE",
    "MAX_FRAME_SIZE",
    "MAX_PAYLOAD_SIZE",
    "AllocateMiningJobToken",
    "AllocateMiningJobTokenSuccess",
    "ChannelEndpointChanged",
    "CloseChannel",
    "CoinbaseOutputConstraints",
    "DeclareMiningJob",
    "DeclareMiningJobError",
    "DeclareMiningJobSuccess",
    "EncodeError",
    "FrameDecoder",
    "FrameHeader",
    "FrameTooLargeError",
    "Message",
    "NewExtendedMiningJob",
    "NewMiningJob",
    "NewTemplate",
    "OpenExtendedMiningChannel",
    "OpenExtendedMiningChannelSuccess",
    "OpenMiningChannelError",
    "OpenStandardMiningChannel",
    "OpenStandardMiningChannelSuccess",
    "ProtocolError",
    "ProvideMissingTransactions",
    "ProvideMissingTransactionsSuccess",
    "PushSolution",
    "Reconnect",
    "RequestExtensions",
    "RequestExtensionsError",
    "RequestExtensionsSuccess",
    "RequestTransactionData",
    "RequestTransactionDataError",
    "RequestTransactionDataSuccess",
    "SetCustomMiningJob",
    "SetCustomMiningJobError",
    "SetCustomMiningJobSuccess",
    "SetExtranoncePrefix",
    "SetGroupChannel",
    "SetNewPrevHashMining",
    "SetNewPrevHashTd",
    "SetTarget",
    "SetupConnection",
    "SetupConnectionError",
    "SetupConnectionSuccess",
    "SubmitSharesError",
    "SubmitSharesExtended",
    "SubmitSharesStandard",
    "SubmitSharesSuccess",
    "SubmitSolution",
    "Tlv",
    "UnknownMessageError",
    "UpdateChannel",
    "UpdateChannelError",
    "decode_frame",
    "decode_header",
    "decode_payload",
    "encode_frame",
    "encode_header",
    "encode_payload",
    "encode_tlvs",
    "message_class",
    "parse_tlvs",
    "registered_classes",
    "schema",
    "user_identity_tlv",
]
