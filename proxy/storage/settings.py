"""What providers' settings share, declared once: a name, and for a store reached over
the network its endpoint, connection pool and timeouts (and retries, where its client
retries). Each kind's own keys are ``proxy.storage.<kind>.settings``."""

from __future__ import annotations

from dataclasses import dataclass, field

from proxy.fields import integer, seconds, url


@dataclass(frozen=True, slots=True)
class Provider:
    name: str  # not a key: the table's, [providers.NAME]


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteProvider(Provider):
    # None: the vendor's own service; else an emulator or a compatible store.
    endpoint_url: str | None = field(default=None, metadata=url())
    # The provider's shared connection pool.
    max_connections: int = field(default=64, metadata=integer(low=1, high=4096))
    connect_timeout: float = field(default=5.0, metadata=seconds())
    # Per read, so a long stream is fine; a stall is a 504 or an aborted transfer.
    read_timeout: float = field(default=30.0, metadata=seconds())


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryingProvider(RemoteProvider):
    # Extra attempts for metadata and the start of a body.
    retries: int = field(default=2, metadata=integer(low=0, high=10))
