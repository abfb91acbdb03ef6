"""Optional per-frame timing of the latency the gateway adds (bench/media turns it on).

Two directions, measured inside the gateway process with `time.monotonic()`:

- `to_browser`: from an AudioSocket frame's bytes being read to the frame being handed
  to aiortc's RTP sender for this line (packetizing, SRTP and `sendto` follow in the same
  step of the event loop, without waiting);
- `to_asterisk`: from the RTP packet's arrival at the line's receiver (after SRTP) to
  the frame being written to the AudioSocket connection.

Off by default: then no timestamp is taken and nothing is kept.
"""

from __future__ import annotations

from collections import deque
from typing import Any

_KEEP = 200_000  # samples per direction: ~30 min of one call, ~1 min of 50


class FrameTiming:
    def __init__(self) -> None:
        self.to_browser: deque[float] = deque(maxlen=_KEEP)
        self.to_asterisk: deque[float] = deque(maxlen=_KEEP)

    def reset(self) -> None:
        self.to_browser.clear()
        self.to_asterisk.clear()

    def report(self) -> dict[str, Any]:
        """p50/p99/max in ms and the count of each direction."""
        return {
            "to_browser": _summary(self.to_browser),
            "to_asterisk": _summary(self.to_asterisk),
        }


def _summary(samples: deque[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    if not ordered:
        return {"frames": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000, 2)

    return {"frames": len(ordered), "p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": at(1.0)}
