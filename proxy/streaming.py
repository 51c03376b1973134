"""Relaying a backend body to the client: the point of no return.

Before ``prepare()`` sends the headers, any failure is still a status code.
After it, the only honest signal left is to abort the connection: the client
then sees fewer bytes than ``Content-Length`` promised and knows the transfer
failed, instead of keeping a short file that looks complete.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType

from aiohttp import web

from proxy.errors import (
    BackendError,
    BackendTimeout,
    BadBackendAnswer,
    ProxyError,
    ServiceUnavailable,
)
from proxy.links.query import SIGNED_PATH
from proxy.metrics import Metrics
from proxy.sendfile import plain_socket, send_file
from proxy.storage.base import (
    ByteRange,
    Fetched,
    FetchesAtOnce,
    FileBody,
    ObjectMeta,
    Storage,
)

log = logging.getLogger("proxy.streaming")

# Bodies up to this size are read whole before the headers go (one write, and still a status
# if the backend fails); larger ones are relayed chunk by chunk.
SMALL_BODY = 64 * 1024
# The last bytes of a file never go through sendfile: they are read into memory, the file's
# identity is checked after that read, and only then are they written, so a file that changed
# before that last check never reaches the client whole.
CHECKED_TAIL = 64 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    backend_timeout: float  # to the first byte of the body
    client_timeout: float  # a client that takes nothing for this long is cut off


class Slot:
    """``with relay.slot(limit):`` holds one stream slot (a class: entered on every GET)."""

    __slots__ = ("_limit", "_relay")

    def __init__(self, relay: Relay, limit: int) -> None:
        self._relay = relay
        self._limit = limit

    def __enter__(self) -> None:
        relay = self._relay
        if relay.active >= self._limit:
            relay.metrics.rejected_streams.inc()
            raise ServiceUnavailable(retry_after=1)
        relay.active += 1
        relay.metrics.active_streams.inc()

    def __exit__(self, *exc: object) -> None:
        self._relay.active -= 1
        self._relay.metrics.active_streams.dec()


class Relay:
    """Sends object bodies for one process, and counts what happens to them."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.active = 0

    def slot(self, limit: int) -> Slot:
        """One of ``limit`` stream slots, or 503 before any backend is asked."""
        return Slot(self, limit)

    async def fetch(
        self,
        stack: AsyncExitStack,
        storage: FetchesAtOnce,
        key: str,
        wanted: str | None,
        limits: Limits,
        *,
        scope: str,
    ) -> Fetched | None:
        """Metadata and body in one backend call; failing here is still a status."""
        async with backend_call(self.metrics, storage.name, "fetch", limits.backend_timeout):
            return await stack.enter_async_context(storage.fetch(key, wanted, scope=scope))

    async def open(
        self,
        stack: AsyncExitStack,
        storage: Storage,
        key: str,
        byte_range: ByteRange | None,
        meta: ObjectMeta,
        limits: Limits,
        *,
        scope: str,
    ) -> AsyncIterator[bytes]:
        """The body's chunks; failing here is still a status (404, 502, 504)."""
        async with backend_call(self.metrics, storage.name, "open", limits.backend_timeout):
            return await stack.enter_async_context(storage.open(key, byte_range, meta, scope=scope))

    async def read_small(
        self, provider: str, chunks: AsyncIterator[bytes], expected: int, limits: Limits
    ) -> bytes:
        """A body of at most ``SMALL_BODY`` bytes, whole. It then leaves with its headers
        in one write (a seek's usual size), and a backend failing while it is read is
        still a status (502, 504) rather than a cut transfer."""
        parts = []
        got = 0
        try:
            async with asyncio.timeout(limits.backend_timeout):
                async for chunk in chunks:
                    got += len(chunk)
                    if got > expected:
                        raise BadBackendAnswer("the backend sent more bytes than announced")
                    parts.append(chunk)
            if got != expected:
                raise BadBackendAnswer("the backend body ended early")
        except TimeoutError:
            self.metrics.backend_errors.labels(provider, BackendTimeout.code).inc()
            raise BackendTimeout() from None
        except BackendError as exc:
            self.metrics.backend_errors.labels(provider, exc.code).inc()
            raise
        return b"".join(parts)

    async def send(
        self,
        request: web.Request,
        response: web.StreamResponse,
        provider: str,
        chunks: AsyncIterator[bytes] | None,
        expected: int,
        limits: Limits,
    ) -> web.StreamResponse:
        """Send the headers, then relay exactly ``expected`` bytes (none for HEAD)."""
        response.content_length = expected
        try:
            await response.prepare(request)
        except ConnectionError:
            if chunks is not None and expected > 0:
                # A stream whose client left before its headers is counted like one cut
                # after them; the caller's exit releases the backend, the middleware logs 499.
                self.metrics.stream_aborts.labels("client_gone").inc()
            raise
        if chunks is not None and expected > 0:
            await self._relay(request, response, provider, chunks, expected, limits)
        return response

    async def _relay(
        self,
        request: web.Request,
        response: web.StreamResponse,
        provider: str,
        chunks: AsyncIterator[bytes],
        expected: int,
        limits: Limits,
    ) -> None:
        """Past the headers: every failure ends in an aborted connection, never a 500."""
        metrics = self.metrics
        sent = 0
        try:
            if (
                isinstance(chunks, FileBody)
                and chunks.count - len(chunks.first) > CHECKED_TAIL
                and plain_socket(request) is not None
            ):
                first = chunks.take_first()
                if first:
                    async with asyncio.timeout(limits.client_timeout):
                        await response.write(first)
                sent = len(first)
                before = chunks.count
                try:
                    await send_file(request, chunks, limits.client_timeout, keep=CHECKED_TAIL)
                finally:
                    sent += before - chunks.count
                    metrics.zero_copy_bytes.inc(before - chunks.count)
            # The rest (a file's checked tail) is read and checked chunk by chunk.
            async for chunk in chunks:
                sent += len(chunk)
                if sent > expected:
                    raise BadBackendAnswer("the backend sent more bytes than announced")
                async with asyncio.timeout(limits.client_timeout):
                    await response.write(chunk)
            if sent != expected:
                raise BadBackendAnswer("the backend body ended early")
        except ConnectionError:
            # The client went away; the caller's exit releases the backend.
            metrics.stream_aborts.labels("client_gone").inc()
        except TimeoutError:
            log.warning("aborting stream: client took nothing for %ss", limits.client_timeout)
            metrics.stream_aborts.labels("client_timeout").inc()
            abort(request)
        except ProxyError as exc:
            log.warning(
                "aborting stream: provider=%s error=%s sent=%d of %d",
                provider,
                exc.code,
                sent,
                expected,
            )
            metrics.stream_aborts.labels("backend").inc()
            metrics.backend_errors.labels(provider, exc.code).inc()
            abort(request)
        except Exception:
            log.exception("aborting stream: unexpected error")
            metrics.stream_aborts.labels("internal").inc()
            abort(request)
        finally:
            metrics.bytes_sent.labels(SIGNED_PATH).inc(sent)


class backend_call:
    """Time a backend's answer, bound it by ``seconds`` (504), count its failures.

    A class, not a generator: every request enters one or two."""

    __slots__ = ("_metrics", "_observed", "_provider", "_started", "_timeout")

    def __init__(self, metrics: Metrics, provider: str, operation: str, seconds: float) -> None:
        self._metrics = metrics
        self._provider = provider
        self._observed = metrics.backend_seconds.labels(provider, operation)
        self._timeout = asyncio.timeout(seconds)
        self._started = 0.0

    async def __aenter__(self) -> None:
        self._started = time.perf_counter()
        await self._timeout.__aenter__()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._timeout.__aexit__(kind, exc, tb)  # raises TimeoutError if it expired
        except TimeoutError:
            kind = TimeoutError
        finally:
            self._observed.observe(time.perf_counter() - self._started)
        if kind is not None and issubclass(kind, TimeoutError):
            self._metrics.backend_errors.labels(self._provider, BackendTimeout.code).inc()
            raise BackendTimeout() from None
        if isinstance(exc, BackendError):
            self._metrics.backend_errors.labels(self._provider, exc.code).inc()


def abort(request: web.Request) -> None:
    """Drop the connection without a clean end, so the client sees a failed transfer."""
    transport = request.transport
    if transport is not None:
        transport.abort()
