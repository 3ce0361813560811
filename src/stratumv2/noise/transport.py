"""Encrypted SV2 frames after the handshake (digest 01 §3), sans-IO.

A frame is its 6-byte header sealed alone (22 bytes on the wire) followed by the payload
sealed in chunks of at most 65 519 plaintext bytes (65 535 on the wire). An empty payload
adds nothing after the header.
"""

from __future__ import annotations

from typing import Final

from stratumv2.noise.cipher import CipherState
from stratumv2.noise.errors import FrameTooLarge, NoiseError
from stratumv2.noise.primitives import MAC_SIZE, Buffer

__all__ = [
    "ENCRYPTED_HEADER_SIZE",
    "FRAME_HEADER_SIZE",
    "MAX_CHUNK_PLAINTEXT",
    "MAX_CHUNK_SIZE",
    "MAX_PAYLOAD_SIZE",
    "NoiseTransport",
    "encrypted_length",
]

FRAME_HEADER_SIZE: Final = 6
ENCRYPTED_HEADER_SIZE: Final = FRAME_HEADER_SIZE + MAC_SIZE
MAX_CHUNK_SIZE: Final = 65535
MAX_CHUNK_PLAINTEXT: Final = MAX_CHUNK_SIZE - MAC_SIZE
MAX_PAYLOAD_SIZE: Final = (1 << 24) - 1


def encrypted_length(payload_length: int) -> int:
    """Bytes on the wire for a payload of ``payload_length`` plaintext bytes (header excluded)."""
    chunks = -(-payload_length // MAX_CHUNK_PLAINTEXT)
    return payload_length + MAC_SIZE * chunks


class NoiseTransport:
    """Both transport directions: seal outgoing frames, open incoming bytes incrementally.

    ``max_payload_size`` bounds what a peer may announce; a larger header raises
    :class:`FrameTooLarge` before any payload is buffered.
    """

    __slots__ = ("_buffer", "_failed", "_header", "_need", "max_payload_size", "recv", "send")

    def __init__(
        self, send: CipherState, recv: CipherState, max_payload_size: int = MAX_PAYLOAD_SIZE
    ) -> None:
        self.send = send
        self.recv = recv
        self.max_payload_size = max_payload_size
        self._buffer = bytearray()
        self._header: bytes | None = None
        self._need = ENCRYPTED_HEADER_SIZE
        self._failed = False

    def encrypt_frame(self, header: bytes, payload: Buffer) -> bytes:
        """Seal one frame: ``header`` is the 6-byte plaintext header, ``payload`` its body."""
        encrypt = self.send.encrypt
        length = len(payload)
        if length <= MAX_CHUNK_PLAINTEXT:
            if length:
                return encrypt(header) + encrypt(payload)
            return encrypt(header)
        view = memoryview(payload)
        parts = [encrypt(header)]
        parts.extend(
            encrypt(view[i : i + MAX_CHUNK_PLAINTEXT])
            for i in range(0, length, MAX_CHUNK_PLAINTEXT)
        )
        return b"".join(parts)

    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buffer)

    def feed(self, data: Buffer) -> list[tuple[bytes, bytes]]:
        """Open every complete frame in the bytes received so far: ``[(header6, payload)]``."""
        if self._failed:
            raise NoiseError("transport already failed")
        buf = self._buffer
        if len(buf) + len(data) < self._need:
            buf += data
            return []
        if buf:
            buf += data
            data = bytes(buf)
            buf.clear()
        view = memoryview(data)
        end = len(view)
        pos = 0
        frames: list[tuple[bytes, bytes]] = []
        decrypt = self.recv.decrypt
        header = self._header
        need = self._need
        try:
            while end - pos >= need:
                if header is None:
                    header = decrypt(view[pos : pos + ENCRYPTED_HEADER_SIZE])
                    pos += ENCRYPTED_HEADER_SIZE
                    length = header[3] | header[4] << 8 | header[5] << 16
                    if length > self.max_payload_size:
                        raise FrameTooLarge(
                            f"frame payload of {length} bytes exceeds the maximum "
                            f"{self.max_payload_size}"
                        )
                    need = encrypted_length(length)
                    if end - pos < need:
                        break
                if need == 0:
                    payload = b""
                elif need <= MAX_CHUNK_SIZE:
                    payload = decrypt(view[pos : pos + need])
                else:
                    stop = pos + need
                    payload = b"".join(
                        decrypt(view[i : min(i + MAX_CHUNK_SIZE, stop)])
                        for i in range(pos, stop, MAX_CHUNK_SIZE)
                    )
                pos += need
                frames.append((header, payload))
                header = None
                need = ENCRYPTED_HEADER_SIZE
        except NoiseError:
            self._failed = True
            raise
        self._header = header
        self._need = need
        if pos < end:
            buf += view[pos:]
        return frames
