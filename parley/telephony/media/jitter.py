"""A small jitter buffer of fixed 20 ms frames between two clocks: Asterisk's pace on
one side, the WebRTC track's on the other.

Audio arrives in pieces of any size and leaves one frame per tick. Playing starts once
`target` frames are buffered (it absorbs arrival jitter); when it runs dry the tick gets
None (the caller plays silence) and it fills to `target` again; beyond `limit` frames the
oldest are dropped, so a burst never turns into lasting delay. Below the limit, a delay
that stands (the buffer held more than it needs at every tick of the last `settle` ticks,
e.g. after a burst that came while the loop was busy) is dropped too, so the added delay
returns to the target instead of staying wherever the worst moment left it.

A `timed` buffer also keeps when each frame arrived (the `at` of the `put` that completed
it) and tells it as `popped_at` after each `pop`: the gateway's optional frame timing.
"""

from __future__ import annotations

from collections import deque


class JitterBuffer:
    def __init__(
        self,
        frame_bytes: int,
        *,
        target: int = 2,
        limit: int = 8,
        settle: int = 50,
        timed: bool = False,
    ) -> None:
        if frame_bytes <= 0 or not 0 < target <= limit or settle <= 0:
            raise ValueError(
                "a jitter buffer needs frame_bytes > 0, 0 < target <= limit and settle > 0"
            )
        self.frame_bytes = frame_bytes
        self.target = target
        self.limit = limit
        self._frames: deque[bytes] = deque()
        self._partial = bytearray()
        self._playing = False
        self.dropped = 0  # frames thrown away for being late
        self.underruns = 0  # ticks that found nothing to play
        self.settle = settle
        self._ticks = 0  # of the current settling window
        self._least = limit  # the fewest frames left after a tick in that window
        self._arrivals: deque[float] | None = deque() if timed else None
        self.popped_at: float | None = None  # arrival of the frame `pop` returned last

    def __len__(self) -> int:
        return len(self._frames)

    def put(self, data: bytes, at: float = 0.0) -> None:
        size = self.frame_bytes
        arrivals = self._arrivals
        if not self._partial and len(data) == size:  # the usual case: one whole frame
            self._frames.append(data)
            if arrivals is not None:
                arrivals.append(at)
        else:
            self._partial += data
            while len(self._partial) >= size:
                self._frames.append(bytes(self._partial[:size]))
                del self._partial[:size]
                if arrivals is not None:
                    arrivals.append(at)
        while len(self._frames) > self.limit:
            self._frames.popleft()
            if arrivals is not None:
                arrivals.popleft()
            self.dropped += 1

    def pop(self) -> bytes | None:
        """The frame to play this tick, or None for silence."""
        if not self._playing:
            if len(self._frames) < self.target:
                return None
            self._playing = True
        if not self._frames:
            self._playing = False
            self.underruns += 1
            return None
        if self._arrivals is not None:
            self.popped_at = self._arrivals.popleft()
        frame = self._frames.popleft()
        self._settle()
        return frame

    def _settle(self) -> None:
        """Drop the delay that stood through a whole window: what was left after every
        tick beyond the `target - 1` frames that playing from `target` leaves."""
        self._least = min(self._least, len(self._frames))
        self._ticks += 1
        if self._ticks < self.settle:
            return
        for _ in range(self._least - (self.target - 1)):
            self._frames.popleft()
            if self._arrivals is not None:
                self._arrivals.popleft()
            self.dropped += 1
        self._ticks, self._least = 0, self.limit

    def clear(self) -> None:
        self._frames.clear()
        if self._arrivals is not None:
            self._arrivals.clear()
        self._partial.clear()
        self._playing = False
        self._ticks, self._least = 0, self.limit
