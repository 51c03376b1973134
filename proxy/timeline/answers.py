"""Playlists just answered, kept for a second: a micro-cache, as nginx's ``proxy_cache_valid 1s``.

A timeline that many players open at once (a wall of screens, a shared link) is listed and
rendered once a second instead of once a request. Only the answer's bytes are kept, after
the token was checked: every request still has its signature, expiry, account and address
checked before it is answered from here. At most ``max_bytes`` in all, least recently used
out first; a playlist larger than ``max_body`` is never kept.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Answer:
    body: bytes
    content_type: str
    skipped: int
    until: float  # monotonic seconds


class RecentAnswers:
    def __init__(
        self, ttl: float = 1.0, max_bytes: int = 32 * 1024 * 1024, max_body: int = 1024 * 1024
    ) -> None:
        self.ttl = ttl
        self.max_bytes = max_bytes
        self.max_body = max_body
        self._answers: OrderedDict[tuple[str, ...], Answer] = OrderedDict()
        self._bytes = 0

    def get(self, key: tuple[str, ...], now: float) -> Answer | None:
        found = self._answers.get(key)
        if found is None:
            return None
        if found.until <= now:
            self._drop(key)
            return None
        self._answers.move_to_end(key)
        return found

    def put(
        self, key: tuple[str, ...], body: bytes, content_type: str, skipped: int, now: float
    ) -> None:
        if self.ttl <= 0 or len(body) > self.max_body:
            return
        if key in self._answers:
            self._drop(key)
        self._answers[key] = Answer(body, content_type, skipped, now + self.ttl)
        self._bytes += len(body)
        while self._bytes > self.max_bytes:
            self._drop(next(iter(self._answers)))

    def clear(self) -> None:
        """Forget every answer (a reload: the settings they were made with are gone)."""
        self._answers.clear()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._answers)

    @property
    def bytes(self) -> int:
        return self._bytes

    def _drop(self, key: tuple[str, ...]) -> None:
        self._bytes -= len(self._answers.pop(key).body)
