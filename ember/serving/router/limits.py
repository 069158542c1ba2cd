"""Per-endpoint rate limits: requests and tokens per minute over a sliding 60 s window.

An endpoint route may carry ``limits: {"tokens_per_minute": n, "requests_per_minute": n}``
(:class:`ember.serving.protocol.EndpointLimits`). A request is counted when it is admitted; its
tokens (prompt + completion) when its answer ends, since only then are they known. A request is
refused while the last 60 s hold ``requests_per_minute`` requests or ``tokens_per_minute``
tokens, and told how many whole seconds until enough of the window has expired.

The window is a deque of (start, end, amount) buckets, one per 100 ms at most, so it holds at
most 600 entries whatever the rate. A bucket leaves the window when its *latest* event is 60 s
old: a refusal never ends early, at the cost of up to 100 ms of extra wait. The clock is
injected (``time.monotonic`` in the router, a fake one in tests); everything runs on the
router's event loop thread.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 60.0
BUCKET_S = 0.1


class Window:
    """A sum over the last ``WINDOW_S`` seconds of amounts added at clock times."""

    __slots__ = ("total", "_buckets")

    def __init__(self) -> None:
        self.total = 0
        self._buckets: deque[list[float]] = deque()   # [start, end, amount]

    def add(self, now: float, amount: int) -> None:
        if amount <= 0:
            return
        buckets = self._buckets
        if buckets and now - buckets[-1][0] < BUCKET_S:
            last = buckets[-1]
            last[1] = max(last[1], now)
            last[2] += amount
        else:
            buckets.append([now, now, amount])
        self.total += amount

    def expire(self, now: float) -> None:
        buckets = self._buckets
        while buckets and buckets[0][1] <= now - WINDOW_S:
            self.total -= int(buckets.popleft()[2])

    def wait_below(self, now: float, limit: int) -> float:
        """Seconds until the sum drops below ``limit`` (0 when it already is)."""
        self.expire(now)
        excess = self.total - limit + 1
        if excess <= 0:
            return 0.0
        for _start, end, amount in self._buckets:
            excess -= int(amount)
            if excess <= 0:
                return end + WINDOW_S - now
        return WINDOW_S   # unreachable: the buckets sum to total


class RateLimiter:
    """The limits of one endpoint and its two windows. Survives table swaps (see registry)."""

    __slots__ = ("requests_per_minute", "tokens_per_minute", "requests", "tokens", "_clock")

    def __init__(self, requests_per_minute: int | None, tokens_per_minute: int | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.requests = Window()
        self.tokens = Window()
        self._clock = clock

    def admit(self) -> tuple[int, str]:
        """Count one request and return (0, ""), or refuse it: (Retry-After seconds, why)."""
        now = self._clock()
        rpm, tpm = self.requests_per_minute, self.tokens_per_minute
        if rpm is not None:
            wait = self.requests.wait_below(now, rpm)
            if wait > 0:
                return _seconds(wait), f"{rpm} requests per minute"
        if tpm is not None:
            wait = self.tokens.wait_below(now, tpm)
            if wait > 0:
                return _seconds(wait), f"{tpm} tokens per minute"
        self.requests.add(now, 1)
        return 0, ""

    def used(self, tokens: int) -> None:
        """Count the tokens of an answer that just ended."""
        now = self._clock()
        self.tokens.expire(now)
        self.tokens.add(now, tokens)


def _seconds(wait: float) -> int:
    return max(1, math.ceil(wait - 1e-9))


class LimiterRegistry:
    """Each limited endpoint's :class:`RateLimiter`, kept across table swaps so that pushing a
    table (which the control plane does on every change) does not reset the windows."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._limiters: dict[str, RateLimiter] = {}

    def configured(self, endpoint_key: str, requests_per_minute: int | None,
                   tokens_per_minute: int | None) -> RateLimiter:
        """The limiter of this endpoint with these limits (its windows kept), not registered."""
        limiter = self._limiters.get(endpoint_key)
        if limiter is None:
            return RateLimiter(requests_per_minute, tokens_per_minute, self._clock)
        fresh = RateLimiter(requests_per_minute, tokens_per_minute, self._clock)
        fresh.requests, fresh.tokens = limiter.requests, limiter.tokens
        return fresh

    def replace(self, limiters: dict[str, RateLimiter]) -> None:
        self._limiters = limiters
