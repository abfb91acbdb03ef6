"""Token buckets: how websocket and widget inputs are rate limited.

A bucket holds up to `burst` tokens and refills at `rate` per second; each message takes
one. In-process on purpose: it limits one connection, which lives in one process.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self, rate: float, burst: float, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._monotonic = monotonic
        self._updated = monotonic()

    def take(self) -> bool:
        """Take a token; False when the bucket is empty (the caller refuses the message)."""
        now = self._monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
