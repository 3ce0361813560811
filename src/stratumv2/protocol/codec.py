"""One schema-driven codec for every SV2 message.

Each message class is a frozen slotted dataclass whose fields carry their wire type through
``typing.Annotated`` (see ``types``). ``register`` reads that schema once and compiles, per
class, a decoder and encoders specialised to it: consecutive fixed-size fields become one
``struct.Struct``, fixed-size messages encode header and payload with one ``pack`` call, and
decoded objects are built through the slot descriptors (no ``__init__`` call).

The compiled fast paths raise whatever is cheapest on bad input; the public functions catch
that at the boundary and re-run a slow, field-by-field pass that says which message and field
are at fault (``ProtocolError`` for decoding, ``EncodeError`` for encoding).

Trailing bytes after the last known field are kept, unparsed, in ``tlv_data`` (SRI treats
them as TLV extension fields, digest 01 §5) and written back when encoding.
"""

from __future__ import annotations

import dataclasses
import struct
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from stratumv2.protocol.errors import (
    EncodeError,
    FrameTooLargeError,
    ProtocolError,
    UnknownMessageError,
)
from stratumv2.protocol.framing import (
    CHANNEL_MSG_BIT,
    HEADER_SIZE,
    MAX_FRAME_SIZE,
    MAX_PAYLOAD_SIZE,
    FrameHeader,
    encode_header,
)
from stratumv2.protocol.types import (
    FixedBytes,
    Option,
    Seq,
    Str0_255,
    UInt,
    VarBytes,
    WireError,
    WireType,
)


@dataclass(frozen=True, slots=True)
class Message:
    """Base of every SV2 message.

    ``tlv_data``: raw bytes that followed the known fields (TLV extension fields, digest 01
    §5); empty for a plain message. Keyword-only, so spec fields stay positional.
    """

    MSG_TYPE: ClassVar[int]
    EXTENSION_TYPE: ClassVar[int] = 0
    CHANNEL_MSG: ClassVar[bool] = False

    tlv_data: bytes = field(default=b"", kw_only=True, repr=False)

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            # The decoder leaves the tlv_data slot unset when there are no trailing bytes
            # (one slot write less per message); reading it then lands here.
            if name == "tlv_data":
                return b""
            raise AttributeError(name)


M = TypeVar("M", bound=Message)

_DECODERS: dict[int, Callable[[bytes, int], Message]] = {}
# whole-frame decoders keyed by the first three header bytes (with and without channel bit)
_FRAME_DECODERS: dict[bytes, Callable[[bytes], Message]] = {}
# fixed-size messages without TLVs: keyed by the whole (then constant) 6-byte header
_EXACT_FRAME_DECODERS: dict[bytes, Callable[[bytes], Message]] = {}
_CLASSES: dict[int, type[Message]] = {}
_FRAME_ENCODERS: dict[type[Message], Callable[[Any], bytes]] = {}
_PAYLOAD_ENCODERS: dict[type[Message], Callable[[Any], bytes]] = {}
_SCHEMAS: dict[type[Message], tuple[tuple[str, WireType], ...]] = {}

_HEADER = struct.Struct("<HBHB")
_BYTE = tuple(bytes((i,)) for i in range(256))
_DECODE_ERRORS = (struct.error, IndexError, ValueError, OverflowError, WireError, KeyError)
_ENCODE_ERRORS = (
    struct.error,
    IndexError,
    ValueError,
    OverflowError,
    TypeError,
    AttributeError,
    WireError,
    KeyError,
)


def _key(extension_type: int, msg_type: int) -> int:
    return (extension_type & 0x7FFF) << 8 | msg_type


def schema(cls: type[Message]) -> tuple[tuple[str, WireType], ...]:
    """The (field name, wire type) pairs of a registered message class, in wire order."""
    return _SCHEMAS[cls]


def message_class(msg_type: int, extension_type: int = 0) -> type[Message]:
    """The class registered for a message type (the channel bit of ``extension_type`` is
    ignored); raises UnknownMessageError."""
    try:
        return _CLASSES[_key(extension_type, msg_type)]
    except KeyError:
        raise UnknownMessageError(
            f"unknown message type 0x{msg_type:02x} (extension 0x{extension_type & 0x7FFF:04x})",
            msg_type=msg_type,
        ) from None


def registered_classes() -> list[type[Message]]:
    """Every registered message class, by (extension_type, msg_type)."""
    return [_CLASSES[k] for k in sorted(_CLASSES)]


def register(cls: type[M]) -> type[M]:
    """Class decorator (put it above ``@dataclass``): compile and register a message class."""
    hints = typing.get_type_hints(cls, include_extras=True)
    fields: list[tuple[str, WireType]] = []
    for name in (f.name for f in dataclasses.fields(cls)):
        if name == "tlv_data":
            continue
        wire = [m for m in getattr(hints[name], "__metadata__", ()) if isinstance(m, WireType)]
        if len(wire) != 1:
            raise TypeError(f"{cls.__name__}.{name} needs one wire type in Annotated[...]")
        fields.append((name, wire[0]))
    key = _key(cls.EXTENSION_TYPE, cls.MSG_TYPE)
    if key in _CLASSES:
        raise TypeError(f"{cls.__name__}: message type already taken by {_CLASSES[key]}")
    schema_ = tuple(fields)
    _SCHEMAS[cls] = schema_
    _CLASSES[key] = cls
    _DECODERS[key] = _compile_decoder(cls, schema_)
    frame_decoder = _compile_frame_decoder(cls, schema_, _DECODERS[key])
    for ext in (cls.EXTENSION_TYPE, cls.EXTENSION_TYPE | CHANNEL_MSG_BIT):
        _FRAME_DECODERS[struct.pack("<HB", ext, cls.MSG_TYPE)] = frame_decoder
    _PAYLOAD_ENCODERS[cls], _FRAME_ENCODERS[cls] = _compile_encoders(cls, schema_)
    return cls


# ---------------------------------------------------------------------------------------------
# Code generation


def _is_struct(wire: WireType) -> bool:
    return wire.enc_fmt is not None and wire.size is not None


def _compile_decoder(
    cls: type[Message], fields: tuple[tuple[str, WireType], ...]
) -> Callable[[bytes, int], Message]:
    env: dict[str, Any] = {
        "NEW": object.__new__,
        "C": cls,
        "FAIL": WireError,
        "tuple": tuple,
        "UNPACK": struct.unpack_from,
    }
    lines = ["def decode(buf, p):", "    n = len(buf)"]
    group: list[tuple[str, WireType]] = []
    counter = [0]

    def const(value: Any) -> str:
        counter[0] += 1
        name = f"K{counter[0]}"
        env[name] = value
        return name

    def flush() -> None:
        if not group:
            return
        fmt = "<" + "".join(w.dec_fmt or "" for _, w in group)
        size = struct.calcsize(fmt)
        names = ", ".join(f"v_{n}" for n, _ in group)
        lines.append(f"    {names}, = {const(struct.Struct(fmt))}.unpack_from(buf, p)")
        lines.append(f"    p += {size}")
        for n, w in group:
            if w.enc_fmt == "?":
                lines.append(f"    v_{n} = (v_{n} & 1) == 1")
        group.clear()

    def length_prefix(prefix: int) -> str:
        if prefix == 1:
            return "buf[p]"
        if prefix == 2:
            return "(buf[p] | buf[p + 1] << 8)"
        return "(buf[p] | buf[p + 1] << 8 | buf[p + 2] << 16)"

    for name, wire in fields:
        v = f"v_{name}"
        if _is_struct(wire):
            group.append((name, wire))
            continue
        flush()
        if isinstance(wire, VarBytes | Str0_255):
            prefix = wire.prefix_size if isinstance(wire, VarBytes) else 1
            lines.append(f"    L = {length_prefix(prefix)}")
            lines.append(f"    q = p + {prefix} + L")
            limit = (1 << (8 * prefix)) - 1
            if wire.max_len < limit:
                lines.append(f"    if q > n or L > {wire.max_len}: raise FAIL")
            else:
                lines.append("    if q > n: raise FAIL")
            decode = ".decode()" if isinstance(wire, Str0_255) else ""
            lines.append(f"    {v} = buf[p + {prefix}:q]{decode}")
            lines.append("    p = q")
        elif isinstance(wire, Option) and _is_struct(wire.elem):
            elem_struct = const(struct.Struct("<" + (wire.elem.dec_fmt or "")))
            lines.append("    k = buf[p]")
            lines.append(f"    if k == 0: {v} = None; p += 1")
            lines.append(
                f"    elif k == 1: {v}, = {elem_struct}.unpack_from(buf, p + 1); "
                f"p += {1 + (wire.elem.size or 0)}"
            )
            lines.append("    else: raise FAIL")
            if wire.elem.enc_fmt == "?":
                lines.append(f"    if {v} is not None: {v} = ({v} & 1) == 1")
        elif isinstance(wire, Seq) and isinstance(wire.elem, FixedBytes):
            size = wire.elem.size
            lines.append(f"    c = {length_prefix(wire.count_size)}")
            lines.append(f"    q = p + {wire.count_size} + c * {size}")
            lines.append("    if q > n: raise FAIL")
            lines.append(
                f"    {v} = tuple([buf[i:i + {size}] "
                f"for i in range(p + {wire.count_size}, q, {size})])"
            )
            lines.append("    p = q")
        elif isinstance(wire, Seq) and isinstance(wire.elem, UInt) and wire.elem.dec_fmt:
            size = wire.elem.size
            lines.append(f"    c = {length_prefix(wire.count_size)}")
            lines.append(f"    q = p + {wire.count_size} + c * {size}")
            lines.append("    if q > n: raise FAIL")
            lines.append(
                f"    {v} = UNPACK('<%d{wire.elem.dec_fmt}' % c, buf, p + {wire.count_size})"
            )
            lines.append("    p = q")
        else:
            lines.append(f"    {v}, p = {const(wire.read)}(buf, p)")
    flush()
    lines.append("    o = NEW(C)")
    for name, _ in fields:
        lines.append(f"    {const(getattr(cls, name).__set__)}(o, v_{name})")
    set_tlv = getattr(cls, "tlv_data").__set__  # noqa: B009 - the slot descriptor
    if all(_is_struct(w) for _, w in fields):
        lines.remove("    n = len(buf)")  # fixed size: unpack_from did the bounds check
        lines.append(f"    if p != len(buf): {const(set_tlv)}(o, buf[p:])")
    else:
        lines.append(f"    if p != n: {const(set_tlv)}(o, buf[p:])")
    lines.append("    return o")
    return _build(lines, env, "decode", cls)


def _compile_frame_decoder(
    cls: type[Message],
    fields: tuple[tuple[str, WireType], ...],
    payload_decoder: Callable[[bytes, int], Message],
) -> Callable[[bytes], Message]:
    """Decoder of a whole frame whose 3 first header bytes were already matched.

    Fixed-size messages read the length field and every field with one ``unpack_from``."""
    env: dict[str, Any] = {"NEW": object.__new__, "C": cls, "FAIL": WireError}
    env["DECODE"] = payload_decoder
    if not all(_is_struct(w) for _, w in fields):
        lines = [
            "def decode_frame(data):",
            "    if len(data) != 6 + (data[3] | data[4] << 8 | data[5] << 16): raise FAIL",
            "    return DECODE(data, 6)",
        ]
        return _build(lines, env, "decode_frame", cls)
    fmt = "<" + "".join(w.dec_fmt or "" for _, w in fields)
    size = struct.calcsize(fmt)
    names = [f"v_{n}" for n, _ in fields]
    env["S"] = struct.Struct(fmt)
    env["HL"] = struct.Struct("<HB")
    body = []
    for n, w in fields:
        if w.enc_fmt == "?":
            body.append(f"    v_{n} = (v_{n} & 1) == 1")
    body.append("    o = NEW(C)")
    for index, (n, _) in enumerate(fields):
        env[f"SET{index}"] = getattr(cls, n).__set__
        body.append(f"    SET{index}(o, v_{n})")
    env["SET_TLV"] = getattr(cls, "tlv_data").__set__  # noqa: B009 - the slot descriptor
    # exact: the header (including msg_length) was matched as a whole; ``unpack`` of the
    # whole frame (header skipped) also checks that nothing follows
    env["SF"] = struct.Struct("<6x" + fmt[1:])
    exact = [
        "def decode_exact(data):",
        f"    {', '.join(names)}, = SF.unpack(data)",
        *body,
        "    return o",
    ]
    decode_exact = _build(exact, env, "decode_exact", cls)
    ext = cls.EXTENSION_TYPE
    for header in (
        encode_header(ext, cls.MSG_TYPE, size, False),
        encode_header(ext, cls.MSG_TYPE, size, True),
    ):
        _EXACT_FRAME_DECODERS[header] = decode_exact
    lines = [
        "def decode_frame(data):",
        "    low, high = HL.unpack_from(data, 3)",
        "    n = len(data)",
        "    if n != 6 + (low | high << 16): raise FAIL",
        f"    {', '.join(names)}, = S.unpack_from(data, 6)",
        *body,
        f"    if n != {6 + size}: SET_TLV(o, data[{6 + size}:])",
        "    return o",
    ]
    return _build(lines, env, "decode_frame", cls)


def _compile_encoders(
    cls: type[Message], fields: tuple[tuple[str, WireType], ...]
) -> tuple[Callable[[Any], bytes], Callable[[Any], bytes]]:
    ext = cls.EXTENSION_TYPE | (CHANNEL_MSG_BIT if cls.CHANNEL_MSG else 0)
    prefix3 = struct.pack("<HB", ext, cls.MSG_TYPE)
    env: dict[str, Any] = {"FAIL": WireError, "PREFIX3": prefix3, "len": len, "B1": _BYTE}
    counter = [0]

    def const(value: Any) -> str:
        counter[0] += 1
        name = f"K{counter[0]}"
        env[name] = value
        return name

    # Loads and length checks shared by both encoders.
    head = [f"    x_{n} = m.{n}" for n, _ in fields]
    for n, w in fields:
        if _is_struct(w) and isinstance(w, FixedBytes):
            head.append(f"    if len(x_{n}) != {w.size}: raise FAIL")
        elif isinstance(w, Str0_255):
            head.append(f"    x_{n} = x_{n}.encode()")
        elif isinstance(w, VarBytes) and w.max_len < (1 << (8 * w.prefix_size)) - 1:
            head.append(f"    if len(x_{n}) > {w.max_len}: raise FAIL")

    # Payload encoder: struct groups and per-type writers, joined.
    parts: list[str] = []
    group: list[tuple[str, WireType]] = []

    def flush() -> None:
        if group:
            fmt = "<" + "".join(w.enc_fmt or "" for _, w in group)
            args = ", ".join(f"x_{n}" for n, _ in group)
            parts.append(f"{const(struct.Struct(fmt))}.pack({args})")
            group.clear()

    for n, w in fields:
        if _is_struct(w):
            group.append((n, w))
        else:
            flush()
            if isinstance(w, Str0_255) or (isinstance(w, VarBytes) and w.prefix_size == 1):
                # B1[len] raises IndexError past 255; the slow path then names the field
                parts.append(f"B1[len(x_{n})]")
                parts.append(f"x_{n}")
            elif isinstance(w, VarBytes):
                parts.append(f"len(x_{n}).to_bytes({w.prefix_size}, 'little')")
                parts.append(f"x_{n}")
            else:
                parts.append(f"{const(w.write)}(x_{n})")
    flush()
    payload_lines = ["def encode_payload(m):", *head]
    payload_lines.append(f"    return b''.join(({', '.join(parts)}, m.tlv_data))")
    encode_payload = _build(payload_lines, env, "encode_payload", cls)
    env["ENCODE_PAYLOAD"] = encode_payload

    # Frame encoder.
    frame_lines = ["def encode_frame(m):", *head, "    t = m.tlv_data"]
    options = [(i, w) for i, (_, w) in enumerate(fields) if not _is_struct(w)]
    all_struct = not options
    one_option = (
        len(options) == 1
        and isinstance(options[0][1], Option)
        and _is_struct(options[0][1].elem)
        and options[0][1].elem.enc_fmt != "?"
    )
    if all_struct or one_option:
        frame_lines.append(
            "    if t: p = ENCODE_PAYLOAD(m); return PREFIX3 + len(p).to_bytes(3, 'little') + p"
        )

        def frame_struct(fmt_body: str) -> tuple[str, str]:
            size = struct.calcsize("<" + fmt_body)
            hdr = prefix3 + size.to_bytes(3, "little")
            return const(struct.Struct("<6s" + fmt_body)), const(hdr)

        if all_struct:
            fmt = "".join(w.enc_fmt or "" for _, w in fields)
            st, hdr = frame_struct(fmt)
            args = ", ".join([hdr] + [f"x_{n}" for n, _ in fields])
            frame_lines.append(f"    return {st}.pack({args})")
        else:
            index, opt = options[0]
            assert isinstance(opt, Option)
            before = "".join(w.enc_fmt or "" for _, w in fields[:index])
            after = "".join(w.enc_fmt or "" for _, w in fields[index + 1 :])
            names_before = [f"x_{n}" for n, _ in fields[:index]]
            names_after = [f"x_{n}" for n, _ in fields[index + 1 :]]
            opt_name = f"x_{fields[index][0]}"
            st_none, hdr_none = frame_struct(before + "B" + after)
            st_some, hdr_some = frame_struct(before + "B" + (opt.elem.enc_fmt or "") + after)
            args_none = ", ".join([hdr_none, *names_before, "0", *names_after])
            args_some = ", ".join([hdr_some, *names_before, "1", opt_name, *names_after])
            frame_lines.append(f"    if {opt_name} is None: return {st_none}.pack({args_none})")
            frame_lines.append(f"    return {st_some}.pack({args_some})")
    else:
        frame_lines.append("    p = ENCODE_PAYLOAD(m)")
        frame_lines.append("    return PREFIX3 + len(p).to_bytes(3, 'little') + p")
    encode_frame = _build(frame_lines, env, "encode_frame", cls)
    return encode_payload, encode_frame


def _build(lines: list[str], env: dict[str, Any], name: str, cls: type) -> Callable[..., Any]:
    source = "\n".join(lines) + "\n"
    code = compile(source, f"<sv2 codec {cls.__name__}.{name}>", "exec")
    namespace = dict(env)
    exec(code, namespace)
    function: Callable[..., Any] = namespace[name]
    function.__doc__ = source
    return function


# ---------------------------------------------------------------------------------------------
# Public encode / decode


def encode_payload(message: Message) -> bytes:
    """The payload bytes of ``message`` (no header); raises EncodeError."""
    try:
        return _PAYLOAD_ENCODERS[message.__class__](message)
    except _ENCODE_ERRORS:
        raise _encode_error(message) from None


def encode_frame(message: Message) -> bytes:
    """Header and payload of ``message``, with the channel bit set as the spec's table says."""
    try:
        return _FRAME_ENCODERS[message.__class__](message)
    except _ENCODE_ERRORS:
        raise _encode_error(message) from None


def decode_frame(data: bytes) -> Message:
    """Decode exactly one whole frame (header and payload, nothing after); raises
    ProtocolError."""
    if data.__class__ is not bytes:
        data = bytes(data)
    try:
        exact = _EXACT_FRAME_DECODERS.get(data[:6])
        if exact is not None:
            return exact(data)
        return _FRAME_DECODERS[data[:3]](data)
    except _DECODE_ERRORS:
        raise _frame_error(data) from None


def decode_payload(header: FrameHeader, payload: bytes) -> Message:
    """Decode a payload whose header was already read (the Noise layer's path)."""
    if payload.__class__ is not bytes:
        payload = bytes(payload)
    if len(payload) != header.length:
        raise ProtocolError(
            f"payload is {len(payload)} bytes but the header says {header.length}",
            msg_type=header.msg_type,
        )
    decoder = _DECODERS.get(_key(header.extension_type, header.msg_type))
    if decoder is None:
        message_class(header.msg_type, header.extension_type)  # raises UnknownMessageError
    try:
        return decoder(payload, 0)  # type: ignore[misc]
    except _DECODE_ERRORS:
        cls = _CLASSES[_key(header.extension_type, header.msg_type)]
        raise _payload_error(cls, payload, 0) from None


class FrameDecoder:
    """Incremental decoder for a byte stream of plaintext frames.

    ``feed(data)`` returns the messages completed so far (possibly none) and keeps the rest.
    A header announcing a frame bigger than ``max_frame_size`` (header included) raises
    FrameTooLargeError at once. After any ProtocolError the decoder is failed: every later
    ``feed`` raises it again (the stream cannot be resynchronised).
    """

    def __init__(self, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        if not HEADER_SIZE <= max_frame_size <= MAX_FRAME_SIZE:
            raise ValueError(f"max_frame_size must be in {HEADER_SIZE}..{MAX_FRAME_SIZE}")
        self.max_frame_size = max_frame_size
        self._buffer = bytearray()
        self._error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Message]:
        """Add bytes; return every message whose frame is now complete."""
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        buffer += data
        messages: list[Message] = []
        pos = 0
        available = len(buffer)
        unpack_header = _HEADER.unpack_from
        decoders = _DECODERS
        try:
            while available - pos >= HEADER_SIZE:
                ext, msg_type, low, high = unpack_header(buffer, pos)
                end = pos + HEADER_SIZE + (low | high << 16)
                if end - pos > self.max_frame_size:
                    raise FrameTooLargeError(
                        f"frame of {end - pos} bytes (msg_type 0x{msg_type:02x}) exceeds "
                        f"max_frame_size {self.max_frame_size}",
                        msg_type=msg_type,
                    )
                if end > available:
                    break
                frame = bytes(buffer[pos:end])
                pos = end
                try:
                    messages.append(decoders[(ext & 0x7FFF) << 8 | msg_type](frame, HEADER_SIZE))
                except _DECODE_ERRORS:
                    raise _frame_error(frame) from None
        except ProtocolError as exc:
            self._error = exc
            self._buffer = bytearray()
            raise
        del buffer[:pos]
        return messages


# ---------------------------------------------------------------------------------------------
# Slow paths: say precisely what is wrong.


def _name(cls: type[Message]) -> str:
    ext = f", extension 0x{cls.EXTENSION_TYPE:04x}" if cls.EXTENSION_TYPE else ""
    return f"{cls.__name__} (msg_type 0x{cls.MSG_TYPE:02x}{ext})"


def _frame_error(data: bytes) -> ProtocolError:
    if len(data) < HEADER_SIZE:
        return ProtocolError(f"frame of {len(data)} bytes is shorter than the 6-byte header")
    ext, msg_type, low, high = _HEADER.unpack_from(data)
    length = low | high << 16
    if len(data) != HEADER_SIZE + length:
        return ProtocolError(
            f"msg_type 0x{msg_type:02x}: header says {length} payload bytes, "
            f"frame has {len(data) - HEADER_SIZE}",
            msg_type=msg_type,
            field="msg_length",
        )
    cls = _CLASSES.get(_key(ext, msg_type))
    if cls is None:
        try:
            message_class(msg_type, ext)
        except UnknownMessageError as exc:
            return exc
    assert cls is not None
    return _payload_error(cls, data, HEADER_SIZE)


def _payload_error(cls: type[Message], buf: bytes, pos: int) -> ProtocolError:
    for name, wire in _SCHEMAS[cls]:
        try:
            _, pos = wire.read(buf, pos)
        except (WireError, struct.error, IndexError, ValueError, OverflowError) as exc:
            return ProtocolError(
                f"{_name(cls)}: field {name!r} ({wire.name}): {exc}",
                msg_type=cls.MSG_TYPE,
                field=name,
            )
    return ProtocolError(f"{_name(cls)}: undecodable payload", msg_type=cls.MSG_TYPE)


def _encode_error(message: object) -> EncodeError:
    cls = message.__class__
    if cls not in _SCHEMAS:
        return EncodeError(f"{cls.__name__} is not a registered SV2 message")
    assert issubclass(cls, Message)
    size = 0
    for name, wire in _SCHEMAS[cls]:
        try:
            size += len(wire.write(getattr(message, name)))
        except (
            WireError,
            TypeError,
            ValueError,
            OverflowError,
            struct.error,
            AttributeError,
        ) as exc:
            return EncodeError(
                f"{_name(cls)}: field {name!r} ({wire.name}): {exc}",
                msg_type=cls.MSG_TYPE,
                field=name,
            )
    tlv = getattr(message, "tlv_data", b"")
    if not isinstance(tlv, bytes):
        return EncodeError(f"{_name(cls)}: tlv_data must be bytes", field="tlv_data")
    if size + len(tlv) > MAX_PAYLOAD_SIZE:
        return EncodeError(f"{_name(cls)}: payload of {size + len(tlv)} bytes exceeds U24")
    return EncodeError(f"{_name(cls)}: cannot encode {message!r}")


__all__ = [
    "FrameDecoder",
    "Message",
    "decode_frame",
    "decode_payload",
    "encode_frame",
    "encode_payload",
    "message_class",
    "register",
    "registered_classes",
    "schema",
]
