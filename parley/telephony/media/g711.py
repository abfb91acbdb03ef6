"""G.711 (PCMU/PCMA) encoding of the 8 kHz signed-linear frames towards the browser.

A narrowband line needs no resampling, so the gateway hands aiortc ready RTP payloads
(`av.Packet`) instead of audio frames: aiortc then skips its resampler, its encoder and
the thread-pool hop it makes for every frame it encodes. Encoding is one table look-up
per sample; the tables are FFmpeg's own (built once by encoding every 16-bit value with
PyAV's `pcm_mulaw`/`pcm_alaw`), so the bytes are exactly what aiortc would have sent.
"""

from __future__ import annotations

import functools
from typing import Literal

import av
import numpy as np
import numpy.typing as npt

_FFMPEG_CODECS: dict[str, Literal["pcm_mulaw", "pcm_alaw"]] = {
    "pcmu": "pcm_mulaw",
    "pcma": "pcm_alaw",
}


def is_g711(codec: str | None) -> bool:
    """Whether a negotiated codec name (`PCMU`, `opus`) is one this module encodes."""
    return codec is not None and codec.lower() in _FFMPEG_CODECS


@functools.cache
def _table(codec: str) -> npt.NDArray[np.uint8]:
    """The encoded byte of every 16-bit sample, indexed by the sample's bits as uint16."""
    samples = np.arange(-32768, 32768, dtype="<i2")
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = 8000
    context = av.CodecContext.create(_FFMPEG_CODECS[codec], "w")
    context.format = "s16"
    context.layout = "mono"
    context.sample_rate = 8000
    encoded = b"".join(bytes(p) for p in [*context.encode(frame), *context.encode(None)])
    by_value = np.frombuffer(encoded, dtype=np.uint8)
    if by_value.size != samples.size:
        raise RuntimeError(f"{codec}: FFmpeg encoded {by_value.size} of {samples.size} samples")
    # position i holds the sample -32768 + i; look-ups index by the sample's uint16 bits
    return np.roll(by_value, -32768)


def encode(codec: str, pcm: bytes) -> bytes:
    """Signed 16-bit little-endian samples as PCMU or PCMA bytes, one per sample."""
    table = _table(codec.lower())
    return table[np.frombuffer(pcm, dtype="<u2")].tobytes()  # type: ignore[no-any-return]
