"""Readiness: every provider proved itself recently with a real, cheap call.

A background task runs each provider's ``check`` every ``check_interval``
seconds (and at once after a reload); ``/readyz`` only reads the results, so a
probe every second costs nothing. ``check_providers`` makes the same calls once,
for ``python -m proxy check`` and ``serve --check``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from proxy.config import Settings
from proxy.errors import ProxyError
from proxy.runtime import Live
from proxy.storage import Storage, start_storage

log = logging.getLogger("proxy.readiness")


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    reason: str | None  # a safe, public message


class Readiness:
    def __init__(self) -> None:
        self.results: dict[str, CheckResult] = {}
        self.checked_once = False
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Check again now (after a reload)."""
        self._wake.set()

    def problems(self, providers: Iterable[str]) -> dict[str, str]:
        """Provider -> reason, for those of ``providers`` not (yet) known to be ready."""
        if not self.checked_once:
            return {"*": "providers not checked yet"}
        problems = {}
        for name in providers:
            result = self.results.get(name)
            if result is None:
                problems[name] = "not checked yet"  # added by a reload a moment ago
            elif not result.ok:
                problems[name] = result.reason or "failed"
        return problems

    async def run(self, live: Live) -> None:
        """Loop for ever: check every provider of the runtime in force, then wait."""
        while True:
            # Cleared before the round: a reload during it wakes the next round at once.
            self._wake.clear()
            async with live.use() as rt:
                interval = rt.settings.server.check_interval
                timeout = rt.settings.server.backend_timeout
                results = {}
                for name, storage in rt.storages.items():
                    results[name] = await _check(storage, timeout)
            for name, result in results.items():
                previous = self.results.get(name)
                if previous is not None and previous.ok != result.ok:
                    log.warning("provider %s is %s", name, "ready" if result.ok else result.reason)
            self.results = results
            self.checked_once = True
            try:
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            except TimeoutError:
                pass


async def _check(storage: Storage, seconds: float) -> CheckResult:
    try:
        async with asyncio.timeout(seconds):
            await storage.check()
    except TimeoutError:
        return CheckResult(False, "the storage backend timed out")
    except ProxyError as exc:
        return CheckResult(False, exc.message)
    except Exception as exc:  # a check must never kill the loop
        return CheckResult(False, type(exc).__name__)
    return CheckResult(True, None)


async def check_providers(settings: Settings) -> dict[str, str | None]:
    """Each provider's problem (a safe, one-line reason), or None when it works."""
    results: dict[str, str | None] = {}
    for name, provider in settings.providers.items():
        try:
            storage = await start_storage(provider, settings.server.chunk_size)
            try:
                await storage.check()
            finally:
                await storage.close()
        except ProxyError as exc:
            results[name] = exc.message
        else:
            results[name] = None
    return results
