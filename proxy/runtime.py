"""What a request works with, swapped whole when the configuration is reloaded.

A request takes the current ``Runtime`` when it starts and keeps it until its
last byte is sent, so a reload never changes the rules under a running stream.
Backends whose settings did not change are carried over to the new runtime;
the others are closed once the last request of the old runtime is done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from proxy.accounts import Account, Credential, by_access_key
from proxy.config import ProviderSettings, Settings
from proxy.links.checked import Checked
from proxy.links.signing import Signer
from proxy.storage import Storage, start_storage
from proxy.storage.base import FetchesAtOnce

log = logging.getLogger("proxy.runtime")


@dataclass(eq=False)
class Runtime:
    settings: Settings
    signer: Signer
    storages: Mapping[str, Storage]
    # Every issuing credential: its account, and the credential itself (hash, enabled).
    by_access_key: Mapping[str, tuple[Account, Credential]]
    users: int = 0
    # The providers that answer a GET in one call (checked once here, not per request).
    fetchers: Mapping[str, FetchesAtOnce] = field(init=False)
    # The links and tokens these keys already verified (a reload starts afresh).
    checked: Checked = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.fetchers = {
            name: storage
            for name, storage in self.storages.items()
            if isinstance(storage, FetchesAtOnce)
        }
        self.checked = Checked(self.signer)

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
    return Runtime(settings, settings.signing.signer(), storages, by_access_key(settings.accounts))


def _provider(rt: Runtime, name: str) -> ProviderSettings | None:
    return rt.settings.providers.get(name)


class InUse:
    """One request's hold on a runtime: a retired one is closed when its last hold ends.
    A class, not a generator: it is entered on every request."""

    __slots__ = ("_live", "_runtime")

    def __init__(self, live: Live) -> None:
        self._live = live
        self._runtime: Runtime | None = None

    async def __aenter__(self) -> Runtime:
        rt = self._runtime = self._live.current
        rt.users += 1
        return rt

    async def __aexit__(self, *exc: object) -> None:
        rt = self._runtime
        assert rt is not None
        rt.users -= 1
        live = self._live
        if rt.users == 0 and rt is not live._current and live._retired:
            await live._collect()


class Live:
    """Holds the current runtime, hands it to requests, and closes what nobody uses.

    A backend may be shared by several runtimes (reloads carry unchanged ones over),
    so it is closed only when no runtime that still has requests refers to it.
    """

    def __init__(self) -> None:
        self._current: Runtime | None = None
        self._retired: list[Runtime] = []
        self.reloading = asyncio.Lock()

    @property
    def current(self) -> Runtime:
        if self._current is None:
            raise RuntimeError("the application has not started")
        return self._current

    async def start(self, settings: Settings) -> None:
        self._current = await build_runtime(settings)

    def use(self) -> InUse:
        """``async with live.use() as rt``: the current runtime, held until the block ends."""
        return InUse(self)

    async def replace(self, new: Runtime) -> None:
        self._retired.append(self.current)
        self._current = new
        await self._collect()

    async def close(self) -> None:
        runtimes = [*self._retired, *([self._current] if self._current else [])]
        self._retired, self._current = [], None
        await _close_all(runtimes, keep=set())

    async def _collect(self) -> None:
        idle = [rt for rt in self._retired if rt.users == 0]
        if not idle:
            return
        self._retired = [rt for rt in self._retired if rt.users > 0]
        in_use = {id(s) for rt in (self.current, *self._retired) for s in rt.storages.values()}
        await _close_all(idle, keep=in_use)


async def _close_all(runtimes: list[Runtime], keep: set[int]) -> None:
    closing = {id(s): s for rt in runtimes for s in rt.storages.values() if id(s) not in keep}
    for storage in closing.values():
        try:
            await storage.close()
        except Exception:
            log.exception("closing backend %s failed", storage.name)
