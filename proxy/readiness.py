"""Readiness: every provider proved itself recently with a real, cheap call.

A background task runs each provider's ``check`` every ``check_interval``
seconds (and at once after a reload); ``/readyz`` only reads the results, so a
probe every second costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from proxy.errors import ProxyError
from proxy.runtime import Live
from proxy.storage import Storage

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

    def problems(self) -> dict[str, str]:
        """Provider -> reason, for those not ready; the whole set before the first check."""
        if not self.checked_once:
            return {"*": "providers not checked yet"}
        return {name: r.reason or "failed" for name, r in self.results.items() if not r.ok}

    async def run(self, live: Live) -> None:
        """Loop for ever: check every provider of the runtime in force, then wait."""
        while True:
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
            self._wake.clear()
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
