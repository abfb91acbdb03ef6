"""The AudioSocket wire format Asterisk speaks to the media gateway (ARCHITECTURE.md §7).

`Dial(AudioSocket/host:port/<uuid>)` opens a TCP connection to the gateway; both sides
then send frames of one type byte, a 2-byte big-endian payload length and the payload:

- `0x01` the call's uuid (16 bytes), Asterisk's first frame;
- `0x10` audio: 8 kHz 16-bit signed linear, little-endian, 320 bytes per 20 ms;
- `0x03` a DTMF digit (1 ASCII byte), sent by newer Asterisk versions;
- `0x00` hang-up (no payload); `0xff` an error (an optional 1-byte code).

`FrameReader` takes the bytes as TCP delivers them (any split) and returns whole frames;
anything else is a `FrameError` with a reason, never a crash or a guess.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from enum import IntEnum

HEADER = struct.Struct(">BH")
SAMPLE_RATE = 8000
FRAME_BYTES = 320  # 20 ms of 8 kHz 16-bit mono
# Asterisk sends one frame per 20 ms; a larger audio payload is someone else talking.
MAX_AUDIO_BYTES = 8 * FRAME_BYTES


class Kind(IntEnum):
    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    AUDIO = 0x10
    ERROR = 0xFF


class FrameError(ValueError):
    """The peer sent something that is not an AudioSocket frame."""


@dataclass(frozen=True)
class Frame:
    kind: Kind
    payload: bytes = b""

    @property
    def uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes=self.payload)


def encode(kind: Kind, payload: bytes = b"") -> bytes:
    if len(payload) > 0xFFFF:
        raise FrameError(f"a payload of {len(payload)} bytes does not fit a frame")
    return HEADER.pack(kind, len(payload)) + payload


def audio(samples: bytes) -> bytes:
    return encode(Kind.AUDIO, samples)


HANGUP = encode(Kind.HANGUP)


def _check(kind: Kind, payload: bytes) -> None:
    if kind is Kind.UUID and len(payload) != 16:
        raise FrameError(f"a uuid frame carries 16 bytes, not {len(payload)}")
    if kind is Kind.AUDIO:
        if len(payload) % 2:
            raise FrameError(f"16-bit audio cannot be {len(payload)} bytes long")
        if len(payload) > MAX_AUDIO_BYTES:
            raise FrameError(f"an audio frame of {len(payload)} bytes is too long")
    if kind is Kind.DTMF and len(payload) != 1:
        raise FrameError(f"a DTMF frame carries 1 byte, not {len(payload)}")
    if kind is Kind.HANGUP and payload:
        raise FrameError("a hang-up frame carries no payload")
    if kind is Kind.ERROR and len(payload) > 1:
        raise FrameError(f"an error frame carries at most 1 byte, not {len(payload)}")


class FrameReader:
    """Whole frames out of a byte stream. After a `FrameError` the stream is lost (there
    is no way to find the next frame), so the reader refuses further input."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._broken: FrameError | None = None

    def feed(self, data: bytes) -> list[Frame]:
        if self._broken is not None:
            raise self._broken
        self._buffer += data
        frames: list[Frame] = []
        try:
            while len(self._buffer) >= HEADER.size:
                type_byte, length = HEADER.unpack_from(self._buffer)
                try:
                    kind = Kind(type_byte)
                except ValueError:
                    raise FrameError(f"unknown frame type 0x{type_byte:02x}") from None
                if kind is Kind.AUDIO and length > MAX_AUDIO_BYTES:
                    raise FrameError(f"an audio frame of {length} bytes is too long")
                end = HEADER.size + length
                if len(self._buffer) < end:
                    break
                payload = bytes(self._buffer[HEADER.size : end])
                _check(kind, payload)
                del self._buffer[:end]
                frames.append(Frame(kind, payload))
        except FrameError as exc:
            self._broken = exc
            raise
        return frames

    @property
    def pending(self) -> int:
        """Bytes of a frame not complete yet."""
        return len(self._buffer)
