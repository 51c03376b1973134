"""Typed keys for what the application shares between handlers."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from proxy.auth import Authenticator
from proxy.runtime import Live

# The configuration, keys and backends in force; see proxy.runtime.
LIVE = web.AppKey("live", Live)
# Unix seconds; injected so tests can stand exactly on a link's expiry.
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
# Failure limits and hashing for the issuing endpoints; survives reloads.
AUTH = web.AppKey("auth", Authenticator)
