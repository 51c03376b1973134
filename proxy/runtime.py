"""What a request works with, swapped whole when the configuration is reloaded.

A request takes the current ``Runtime`` when it starts and keeps it until its
last byte is sent, so a reload never changes the rules under a running stream.
Backends whose settings did not change are carried over to the new runtime;
the others are closed once the last request of the old runtime is done.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from proxy.accounts import Account
from proxy.config import ProviderSettings, Settings
from proxy.signing import Signer
from proxy.storage import Storage, start_storage

log = logging.getLogger("proxy.runtime")


@dataclass(eq=False)
class Runtime:
    settings: Settings
    signer: Signer
    storages: Mapping[str, Storage]
    by_access_key: Mapping[str, Account]
    users: int = 0
    retired: bool = False
    _to_close: list[Storage] = field(default_factory=list)

    @property
    def accounts(self) -> Mapping[str, Account]:
        return self.settings.accounts


async def build_runtime(settings: Settings, reuse: Runtime | None = None) -> Runtime:
    """Start the backends of ``settings``, reusing those of ``reuse`` whose settings are equal."""
    storages: dict[str, Storage] = {}
    started: list[Storage] = []
    try:
        for name, provider in settings.providers.items():
            same = reuse is not None and _provider(reuse, name) == provider
            if same and reuse is not None:
                storages[name] = reuse.storages[name]
            else:
                storage = await start_storage(provider, settings.server.chunk_size)
                started.append(storage)
                storages[name] = storage
    except BaseException:
        for storage in started:
            await storage.close()
        raise
    by_key = {a.access_key: a for a in settings.accounts.values() if a.access_key}
    signer = Signer(settings.signing.key, settings.signing.previous_keys)
    return Runtime(settings, signer, storages, by_key)


def _provider(rt: Runtime, name: str) -> ProviderSettings | None:
    return rt.settings.providers.get(name)


class Live:
    """Holds the current runtime; hands it to requests and retires old ones."""

    def __init__(self) -> None:
        self._current: Runtime | None = None

    @property
    def current(self) -> Runtime:
        if self._current is None:
            raise RuntimeError("the application has not started")
        return self._current

    async def start(self, settings: Settings) -> None:
        self._current = await build_runtime(settings)

    @asynccontextmanager
    async def use(self) -> AsyncIterator[Runtime]:
        rt = self.current
        rt.users += 1
        try:
            yield rt
        finally:
            rt.users -= 1
            if rt.retired and rt.users == 0:
                await _close_leftovers(rt)

    async def replace(self, new: Runtime) -> None:
        old, self._current = self.current, new
        kept = {id(s) for s in new.storages.values()}
        old._to_close = [s for s in old.storages.values() if id(s) not in kept]
        old.retired = True
        if old.users == 0:
            await _close_leftovers(old)

    async def close(self) -> None:
        if self._current is not None:
            for storage in self._current.storages.values():
                await storage.close()


async def _close_leftovers(rt: Runtime) -> None:
    leftovers, rt._to_close = rt._to_close, []
    for storage in leftovers:
        try:
            await storage.close()
        except Exception:
            log.exception("closing a replaced backend %s failed", storage.name)
