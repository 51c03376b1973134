"""Typed keys for what the application shares between handlers."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from proxy.config import Settings
from proxy.signing import Signer
from proxy.storage.base import Storage

SETTINGS = web.AppKey("settings", Settings)
SIGNER = web.AppKey("signer", Signer)
# Filled by the storage cleanup context at start-up: provider name -> started backend.
STORAGES = web.AppKey("storages", dict[str, Storage])
# Unix seconds; injected so tests can stand exactly on a link's expiry.
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
