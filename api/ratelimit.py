"""Per-signer rate limiting: a token bucket per address, in memory."""

from __future__ import annotations

import math
import threading
import time

from api.problems import refuse

__all__ = ["RateLimiter"]


class RateLimiter:
    """Allow each key `rate` requests per second on average, with bursts up to `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """Spend one token of a key's bucket, or raise a 429 problem saying when to retry."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / self.rate)
                raise refuse(
                    "RATE_LIMITED",
                    f"{key} is sending faster than {self.rate:g} requests per second; "
                    f"retry in {wait} s.",
                    headers={"Retry-After": str(wait)},
                )
            self._buckets[key] = (tokens - 1.0, now)
