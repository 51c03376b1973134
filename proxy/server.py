"""One server process: listen, bound what each connection may hold, drain on SIGTERM.

aiohttp already bounds each header line and the number of header fields. What a
hostile client could still hold is bounded here (the README's bounds table):

- the whole request head: at most ``max_head_bytes``, else 431 and the connection
  closes (a head is the bytes that arrive while no request body is being read);
- its time: ``header_timeout`` from the connection's start or the head's first
  byte, else 408 (no answer at all if nothing was sent);
- connections: ``max_connections`` per process (fewer if the open-file limit
  cannot hold them). At the cap, the peer address holding the most connections
  loses its oldest idle one (no request being answered) to make room, so one
  client's trickling or silent connections can never lock out another client;
  only when every connection is busy answering is the new one refused (503).

SIGTERM (or SIGINT): the listening socket closes at once, requests in flight get
``shutdown_grace`` seconds, then every connection still open is cut and the
process exits, within ``shutdown_grace`` + 1 s in all.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import json
import logging
import os
import resource
import signal
from dataclasses import dataclass
from typing import Any

from aiohttp import web, web_protocol

from proxy.app import LINGER_SECONDS, create_app
from proxy.config import Settings
from proxy.metrics import Metrics
from proxy.parser_errors import SERVER
from proxy.state import METRICS
from proxy.telemetry import AccessLogger

log = logging.getLogger("proxy")

_REASONS = {408: "Request Timeout", 431: "Request Header Fields Too Large", 503: "Busy"}
# What the cut after the grace period may still take (closing sockets, backend pools).
_CUT_SECONDS = 0.5
# After a refusal the client may still be sending: its bytes are read and dropped for
# LINGER_SECONDS (proxy.app's, the same lingering close) or this many bytes, then it is cut.
_LINGER_BYTES = 1 << 20
# After this many connections closed since the last look, freed heap goes back to the
# system: without it, glibc keeps an attack's peak resident long after the attack ended.
_TRIM_AFTER_CLOSED = 256
_TRIM_EVERY_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Guard:
    """The per-connection bounds, and where to count what they refuse."""

    max_head_bytes: int
    header_timeout: float
    max_connections: int
    metrics: Metrics


def raw_answer(status: int, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 error answer with a JSON body, for connections closed before routing."""
    body = json.dumps({"data": message, "error": code}).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        f"Server: {SERVER}\r\n\r\n"
    )
    return head.encode() + body


class GuardedHandler(web_protocol.RequestHandler):
    """aiohttp's connection protocol, with a byte and time budget for every request head."""

    __slots__ = ("_guard", "_head_bytes", "_head_timer", "_last_payload", "_lingering")

    def __init__(self, manager: GuardedServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = manager.guard
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._last_payload: Any = None
        self._lingering = -1  # bytes dropped since a refusal; -1: not refused

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if not self._force_close:  # the first head's clock starts with the connection
            self._start_head_clock()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_head_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering >= 0:
            self._lingering += len(data)
            if self._lingering > _LINGER_BYTES:
                self._cut()
            return
        if self._force_close or self._close:
            return
        last = self._last_payload
        head = last is None or last.is_eof()  # no body is being read: these bytes are a head
        if head:
            self._head_bytes += len(data)
        before = self._request_count
        super().data_received(data)
        if self._request_count != before:  # a head is complete
            self._head_bytes = 0
            self._stop_head_clock()
            if self._messages:
                self._last_payload = self._messages[-1][1]
        elif head:
            # The clock starts with a head's first bytes, unless they were all of it: a head
            # that arrives whole (the usual case) never costs a timer.
            if self._head_timer is None:
                self._start_head_clock()
            if self._head_bytes > self._guard.max_head_bytes:
                limit = self._guard.max_head_bytes
                self._refuse(
                    431, "head_too_large", f"the request head is larger than {limit} bytes"
                )

    def _start_head_clock(self) -> None:
        self._head_timer = self._loop.call_later(self._guard.header_timeout, self._head_late)

    def _stop_head_clock(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if not self.idle:
            return  # a request is being answered; its own bounds apply
        if self._head_bytes == 0 and self._request_count == 0:
            self._guard.metrics.refused_connections.labels("head_timeout").inc()
            self.force_close()  # nothing was ever sent: nothing to answer
            return
        seconds = self._guard.header_timeout
        self._refuse(408, "request_timeout", f"the request head took longer than {seconds:g}s")

    @property
    def idle(self) -> bool:
        """No request is being answered or waiting: closing loses nobody's answer."""
        return self._current_request is None and not self._messages and not self._force_close

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer ``status`` if nobody else's answer is on the way, then close."""
        reason = {408: "head_timeout", 431: "head_too_large", 503: "over_capacity"}[status]
        self._guard.metrics.refused_connections.labels(reason).inc()
        transport = self.transport
        if transport is None or not self.idle:
            self.force_close()
            return
        self._stop_head_clock()
        self._lingering = 0
        self._parser = None  # what it buffered is garbage now
        transport.write(raw_answer(status, code, message))
        if transport.can_write_eof():
            transport.write_eof()
        self._head_timer = self._loop.call_later(LINGER_SECONDS, self._cut)

    def _cut(self) -> None:
        self._stop_head_clock()
        if self.transport is not None:
            self.transport.abort()
        self.force_close()

    def refuse_busy(self) -> None:
        self._refuse(503, "unavailable", "the server has too many connections; try again")


class GuardedServer(web.Server):
    """aiohttp's connection factory with a connection cap and a one-deadline shutdown."""

    def __init__(self, handler: Any, *, guard: Guard, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.guard = guard
        self._high = 0  # the most connections open at once since memory was last trimmed
        # Open connections by peer address, oldest first (for the cap's fairness).
        self._by_peer: dict[str, dict[web_protocol.RequestHandler, None]] = {}
        self._peer_of: dict[web_protocol.RequestHandler, str] = {}

    def __call__(self) -> GuardedHandler:
        return GuardedHandler(self, loop=self._loop, **self._kwargs)

    def connection_made(
        self, handler: web_protocol.RequestHandler, transport: asyncio.Transport
    ) -> None:
        super().connection_made(handler, transport)
        peer = _peer(transport)
        self._peer_of[handler] = peer
        self._by_peer.setdefault(peer, {})[handler] = None
        self.guard.metrics.open_connections.set(len(self._connections))
        self._high = max(self._high, len(self._connections))
        if len(self._connections) > self.guard.max_connections:
            self._make_room(handler)

    def _make_room(self, newcomer: web_protocol.RequestHandler) -> None:
        """Close the oldest idle connection of the address that holds the most, else refuse.

        Fairness by address: one client trickling hundreds of heads evicts its own
        connections, never the single one of a client that just arrived.
        """
        for _, held in sorted(self._by_peer.items(), key=lambda item: -len(item[1])):
            for other in held:  # oldest first
                if other is not newcomer and isinstance(other, GuardedHandler) and other.idle:
                    self.guard.metrics.refused_connections.labels("evicted").inc()
                    other.force_close()
                    return
        if isinstance(newcomer, GuardedHandler):
            newcomer.refuse_busy()

    def connection_lost(
        self, handler: web_protocol.RequestHandler, exc: BaseException | None = None
    ) -> None:
        super().connection_lost(handler, exc)
        peer = self._peer_of.pop(handler, None)
        held = self._by_peer.get(peer) if peer is not None else None
        if held is not None:
            held.pop(handler, None)
            if not held:
                del self._by_peer[peer]  # type: ignore[arg-type]
        self.guard.metrics.open_connections.set(len(self._connections))

    def trim_memory(self) -> bool:
        """Give freed heap back to the system if many connections closed since last time."""
        if self._high - len(self._connections) < _TRIM_AFTER_CLOSED or _malloc_trim is None:
            return False
        self._high = len(self._connections)
        _malloc_trim(0)
        return True

    async def shutdown(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait up to ``timeout`` for every connection's requests, then cut what is left.

        (aiohttp's own waits ``timeout`` for the requests and then ``timeout`` again for
        the cancelled ones: twice the grace a pod was given.)
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout or 0.0)
        tasks = [h._task_handler for h in self._connections if h._task_handler is not None]
        running = [t for t in tasks if not t.done()]
        if running:
            await asyncio.wait(running, timeout=timeout)
        left = [t for t in running if not t.done()]
        for h, transport in list(self._connections.items()):
            if h._task_handler is not None and not h._task_handler.done():
                h._task_handler.cancel()
                transport.abort()
        if left:
            log.warning("shutdown: cut %d request(s) still running after the grace", len(left))
            await asyncio.wait(left, timeout=_CUT_SECONDS)
        # A finished answer's last bytes may still wait in its transport, which is closing
        # (flushing) already: they get what is left of the grace, then are cut too.
        flush_until = max(deadline, loop.time() + 0.05)
        while self._connections and loop.time() < flush_until:
            if all(
                t.is_closing() and t.get_write_buffer_size() == 0
                for t in self._connections.values()
            ):
                break
            await asyncio.sleep(0.05)
        for transport in list(self._connections.values()):
            transport.abort()
        self._connections.clear()


class GuardedRunner(web.AppRunner):
    """``AppRunner`` whose server is a ``GuardedServer``."""

    def __init__(self, app: web.Application, *, guard: Guard, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._guard = guard

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return GuardedServer(
            plain.request_handler,
            guard=self._guard,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **plain._kwargs,
        )


def run(
    settings: Settings, host: str, port: int, *, reuse_port: bool, reload_from: str | None
) -> None:
    """Serve until SIGTERM or SIGINT; OSError if the address cannot be listened on."""
    try:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_serve(settings, host, port, reuse_port, reload_from))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()


async def _serve(
    settings: Settings, host: str, port: int, reuse_port: bool, reload_from: str | None
) -> None:
    server = settings.server
    app = create_app(settings, reload_from=reload_from)
    access: dict[str, Any] = (
        {"access_log_class": AccessLogger} if server.access_log else {"access_log": None}
    )
    guard = Guard(
        server.max_head_bytes,
        server.header_timeout,
        connection_cap(server.max_connections),
        app[METRICS],
    )
    runner = GuardedRunner(
        app,
        guard=guard,
        handle_signals=False,
        shutdown_timeout=server.shutdown_grace,
        keepalive_timeout=server.keepalive_timeout,
        max_line_size=server.max_header_bytes,
        max_field_size=server.max_header_bytes,
        max_headers=server.max_header_fields,
        **access,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port)
        await site.start()
        log.info("listening on http://%s:%d (pid %d)", host, port, os.getpid())
        assert isinstance(runner.server, GuardedServer)
        trimmer = asyncio.ensure_future(_trim_memory(runner.server))
        await stop.wait()
        trimmer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await trimmer
        log.info("stopping: no new connections; requests in flight get %gs", server.shutdown_grace)
    finally:
        await runner.cleanup()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def _libc_malloc_trim() -> Any:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl has none): nothing to trim
        return None


_malloc_trim = _libc_malloc_trim()


async def _trim_memory(server: GuardedServer) -> None:
    while True:
        await asyncio.sleep(_TRIM_EVERY_SECONDS)
        server.trim_memory()


def _peer(transport: asyncio.BaseTransport) -> str:
    peername = transport.get_extra_info("peername")
    return str(peername[0]) if isinstance(peername, tuple) and peername else ""


def connection_cap(configured: int) -> int:
    """``configured``, or fewer if the open-file limit could not hold that many.

    The soft limit is raised to the hard one first. A streamed request holds up to three
    descriptors (the client socket, the file or backend socket, sendfile's duplicate),
    and 64 are kept for listeners, logs and pools: a cap the process can always honour,
    so a flood of connections never makes accept() fail for everyone.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # pragma: no cover - a platform that says no
            log.warning("could not raise the open-file limit from %d to %d", soft, hard)
    if soft == resource.RLIM_INFINITY:
        return configured
    fits = max(16, (soft - 64) // 3)
    if fits < configured:
        log.warning(
            "server.max_connections %d lowered to %d: the open-file limit is %d",
            configured,
            fits,
            soft,
        )
    return min(configured, fits)
