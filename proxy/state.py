"""Typed keys for what the application shares between handlers."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from proxy.auth import Authenticator
from proxy.metrics import Metrics
from proxy.readiness import Readiness
from proxy.runtime import Live
from proxy.streaming import Relay
from proxy.timeline.answers import RecentAnswers
from proxy.timeline.index import IndexCache

# The configuration, keys and backends in force; see proxy.runtime.
LIVE = web.AppKey("live", Live)
# Unix seconds; injected so tests can stand exactly on a link's expiry.
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
# Failure limits and hashing for the issuing endpoints; survives reloads.
AUTH = web.AppKey("auth", Authenticator)
# This process's metrics registry.
METRICS = web.AppKey("metrics", Metrics)
# Results of the providers' periodic checks, for /readyz.
READINESS = web.AppKey("readiness", Readiness)
# This process's body relay (and its count of open streams).
RELAY = web.AppKey("relay", Relay)
# This process's timeline fragment indexes, by (provider, key, ETag).
TIMELINES = web.AppKey("timelines", IndexCache)
# Timeline answers of the last second (a micro-cache), by token, kind and public URL.
TIMELINE_ANSWERS = web.AppKey("timeline_answers", RecentAnswers)

# What a request's telemetry knows about it (see proxy.telemetry).
REQUEST_ID = web.RequestKey("request_id", str)
# The client's address, once per request (proxy.http.forwarded; see telemetry.client_of).
CLIENT = web.RequestKey("client", str)
# The account a link names, or that an issuing request authenticated as.
LINK_ACCOUNT = web.RequestKey("link_account", str)
LINK_PROVIDER = web.RequestKey("link_provider", str)
# The name of the credential an issuing request authenticated with (never its secret).
CREDENTIAL = web.RequestKey("credential", str)
