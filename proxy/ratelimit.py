"""Failed-authentication limits over a sliding window, and what succeeded recently.

``FailureWindow`` counts only failures, per client and per access key, so a
well-behaved client never notices. ``RecentSet`` remembers successes for a
while (credentials that verified, addresses known good for a key). Memory is
bounded in both: at most ``max_tracked`` entries, the least recently touched
one is forgotten first.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque


class FailureWindow:
    def __init__(self, limit: int, window: float, max_tracked: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_tracked = max_tracked
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def configure(self, limit: int, window: float) -> None:
        """New limits (on reload); failures already counted stay counted."""
        self.limit = limit
        self.window = window

    def retry_after(self, key: str, now: float) -> int:
        """Seconds until ``key`` may try again; 0 when it may try now."""
        times = self._failures.get(key)
        if times is None:
            return 0
        self._expire(times, now)
        if not times:
            del self._failures[key]
            return 0
        if len(times) < self.limit:
            return 0
        return max(1, math.ceil(times[0] + self.window - now))

    def fail(self, key: str, now: float) -> None:
        times = self._failures.pop(key, None)
        if times is None:
            times = deque()
        self._expire(times, now)
        times.append(now)
        while len(times) > self.limit:
            times.popleft()
        self._failures[key] = times  # most recent failure last
        while len(self._failures) > self.max_tracked:
            self._failures.popitem(last=False)

    def forgive(self, key: str, at: float) -> None:
        """Take back a failure recorded at ``at`` (an attempt that turned out good)."""
        times = self._failures.get(key)
        if times is not None and at in times:
            times.remove(at)

    def _expire(self, times: deque[float], now: float) -> None:
        while times and times[0] <= now - self.window:
            times.popleft()


class RecentSet:
    """Items seen in the last ``ttl`` seconds; at most ``max_tracked``, LRU first out."""

    def __init__(self, ttl: float, max_tracked: int) -> None:
        self.ttl = ttl
        self.max_tracked = max_tracked
        self._until: OrderedDict[bytes, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._until)

    def contains(self, item: bytes, now: float) -> bool:
        until = self._until.get(item)
        if until is None:
            return False
        if until < now:
            del self._until[item]
            return False
        return True

    def add(self, item: bytes, now: float) -> None:
        self._until[item] = now + self.ttl
        self._until.move_to_end(item)
        while len(self._until) > self.max_tracked:
            self._until.popitem(last=False)
