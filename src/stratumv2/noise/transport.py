"""Encrypted SV2 frames after the handshake (digest 01 §3), sans-IO.

A frame is its 6-byte header sealed alone (22 bytes on the wire) followed by the payload
sealed in chunks of at most 65 519 plaintext bytes (65 535 on the wire). An empty payload
adds nothing after the header.
"""

from __future__ import annotations

from typing import Final

from stratumv2.noise.cipher import MAX_NONCE, CipherState
from stratumv2.noise.errors import DecryptError, FrameTooLarge, NoiseError, NonceExhausted
from stratumv2.noise.primitives import MAC_SIZE, AuthenticationFailed, Buffer, nonce

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
        send = self.send
        encrypt = send.raw_encrypt
        n = send.n
        length = len(payload)
        if length <= MAX_CHUNK_PLAINTEXT:
            count = 2 if length else 1
            if n + count > MAX_NONCE:
                raise NonceExhausted("cipher state nonce exhausted")
            send.n = n + count
            if length:
                return encrypt(nonce(n), header, None) + encrypt(nonce(n + 1), payload, None)
            return encrypt(nonce(n), header, None)
        starts = range(0, length, MAX_CHUNK_PLAINTEXT)
        if n + 1 + len(starts) > MAX_NONCE:
            raise NonceExhausted("cipher state nonce exhausted")
        send.n = n + 1 + len(starts)
        view = memoryview(payload)
        parts = [encrypt(nonce(n), header, None)]
        parts.extend(
            encrypt(nonce(n + 1 + k), view[i : i + MAX_CHUNK_PLAINTEXT], None)
            for k, i in enumerate(starts)
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
        recv = self.recv
        decrypt = recv.raw_decrypt
        n = recv.n
        header = self._header
        need = self._need
        try:
            while end - pos >= need:
                if header is None:
                    if n >= MAX_NONCE:
                        raise NonceExhausted("cipher state nonce exhausted")
                    header = decrypt(nonce(n), view[pos : pos + ENCRYPTED_HEADER_SIZE], None)
                    n += 1
                    pos += ENCRYPTED_HEADER_SIZE
                    length = header[3] | header[4] << 8 | header[5] << 16
                    if length > self.max_payload_size:
                        raise FrameTooLarge(
                            f"frame payload of {length} bytes exceeds the maximum "
                            f"{self.max_payload_size}"
                        )
                    if length <= MAX_CHUNK_PLAINTEXT:
                        need = length + MAC_SIZE if length else 0
                    else:
                        need = encrypted_length(length)
                    if end - pos < need:
                        break
                if need == 0:
                    payload = b""
                elif need <= MAX_CHUNK_SIZE:
                    if n >= MAX_NONCE:
                        raise NonceExhausted("cipher state nonce exhausted")
                    payload = decrypt(nonce(n), view[pos : pos + need], None)
                    n += 1
                else:
                    stop = pos + need
                    parts = []
                    for i in range(pos, stop, MAX_CHUNK_SIZE):
                        if n >= MAX_NONCE:
                            raise NonceExhausted("cipher state nonce exhausted")
                        parts.append(
                            decrypt(nonce(n), view[i : min(i + MAX_CHUNK_SIZE, stop)], None)
                        )
                        n += 1
                    payload = b"".join(parts)
                pos += need
                frames.append((header, payload))
                header = None
                need = ENCRYPTED_HEADER_SIZE
        except AuthenticationFailed:
            self._failed = True
            raise DecryptError(f"authentication failed (nonce {n})") from None
        except NoiseError:
            self._failed = True
            raise
        finally:
            recv.n = n
        self._header = header
        self._need = need
        if pos < end:
            buf += view[pos:]
        return frames
