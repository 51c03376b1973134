"""The application factory: routes, middlewares, shared state and lifecycles."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine

from aiohttp import web
from aiohttp.typedefs import Handler

from proxy import config, parser_errors
from proxy.auth import Authenticator
from proxy.config import Settings
from proxy.dispatch import Dispatcher
from proxy.errors import ConfigError, ProxyError
from proxy.handlers import issue, ops, serving, signed, timeline, tokens
from proxy.http import names
from proxy.links.query import SIGNED_PATH
from proxy.links.tokens import TIMELINE_PATH, TOKEN_PATH
from proxy.metrics import Metrics
from proxy.readiness import Readiness
from proxy.runtime import Live, build_runtime
from proxy.state import (
    AUTH,
    CLOCK,
    LIVE,
    METRICS,
    READINESS,
    RELAY,
    REQUEST_ID,
    TIMELINE_ANSWERS,
    TIMELINES,
)
from proxy.streaming import Relay
from proxy.telemetry import count_answer, logged_target, take_request_id
from proxy.timeline.answers import RecentAnswers
from proxy.timeline.index import IndexCache

log = logging.getLogger("proxy")
# The public endpoints (the link is the capability): CORS on every answer, errors too.
_PUBLIC = (SIGNED_PATH, TOKEN_PATH + "/", TIMELINE_PATH + "/")

# The answer headers a page on another origin may read.
_EXPOSED = ", ".join(
    (
        names.CONTENT_LENGTH,
        names.CONTENT_RANGE,
        names.ACCEPT_RANGES,
        names.ETAG,
        names.LAST_MODIFIED,
    )
)
_EXPOSED_TIMELINE = f"{_EXPOSED}, {timeline.SKIPPED}"
_JSON = "application/json"
_ERROR_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
# After an answer that ends its connection (here, or proxy.server's refusals before any
# request), what the client still sends is read and dropped this long (nginx's lingering
# close: closing at once would reset the connection and could destroy the answer in flight),
# then the connection is cut.
LINGER_SECONDS = 1.0
# nginx's status for a request whose client closed the connection before the answer: it only
# ever reaches the access log and the metrics, never a client.
_CLIENT_CLOSED = 499


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    reload_from: str | None = None,
) -> web.Application:
    """The application; with ``reload_from``, SIGHUP re-reads that file without a restart."""
    parser_errors.install()
    app = web.Application(middlewares=[middleware])
    app[LIVE] = Live()
    app[METRICS] = Metrics()
    app[RELAY] = Relay(app[METRICS])
    app[READINESS] = Readiness()
    app[CLOCK] = clock
    app[TIMELINES] = IndexCache()
    app[TIMELINE_ANSWERS] = RecentAnswers()
    app[AUTH] = Authenticator(settings.issuing.auth_failures, settings.issuing.auth_window)
    app.cleanup_ctx.append(_runtime(settings))
    if reload_from is not None:
        app.on_startup.append(_reload_on_sighup(reload_from))
    app.on_response_prepare.append(_common_headers)

    app.router.add_get(SIGNED_PATH, signed.stream_object)  # and HEAD
    app.router.add_route("OPTIONS", SIGNED_PATH, serving.preflight)
    app.router.add_get(f"{SIGNED_PATH}/validate", signed.validate_link)
    app.router.add_route("OPTIONS", f"{SIGNED_PATH}/validate", serving.preflight)
    app.router.add_get(f"{TOKEN_PATH}/{{token}}/", tokens.validate_token)
    app.router.add_get(f"{TOKEN_PATH}/{{token}}/{{key:.+}}", tokens.stream_token)  # and HEAD
    app.router.add_route("OPTIONS", f"{TOKEN_PATH}/{{token}}/{{key:.*}}", serving.preflight)
    app.router.add_get(f"{TIMELINE_PATH}/{{name}}", timeline.timeline)  # and HEAD
    app.router.add_route("OPTIONS", f"{TIMELINE_PATH}/{{name}}", serving.preflight)
    app.router.add_post(TIMELINE_PATH, issue.issue_timeline)
    app.router.add_get("/api/storage", issue.issue_one)
    app.router.add_post("/api/storage/bulk", issue.issue_bulk)
    app.router.add_get("/healthz", ops.healthz)
    app.router.add_get("/readyz", ops.readyz)
    app.router.add_get("/metrics", ops.metrics)
    app.router.add_get("/openapi.json", ops.openapi)

    # The endpoints players and link checkers hit skip the router (proxy.dispatch).
    dispatcher = Dispatcher(app, middleware, TOKEN_PATH)
    methods = ("GET", "HEAD", "OPTIONS")
    dispatcher.exact(SIGNED_PATH, methods)
    dispatcher.exact(f"{SIGNED_PATH}/validate", methods)
    dispatcher.token(f"{TOKEN_PATH}/{{token}}/{{key}}", methods)
    app._handle = dispatcher  # type: ignore[method-assign]
    return app


def _runtime(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        """Start the backends; close them at shutdown."""
        await app[LIVE].start(settings)
        checker = asyncio.ensure_future(app[READINESS].run(app[LIVE]))
        yield
        checker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await checker
        await app[LIVE].close()
        app[AUTH].close()

    return ctx


def _reload_on_sighup(path: str) -> Callable[[web.Application], Awaitable[None]]:
    async def install(app: web.Application) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: _spawn(app, reload_config(app, path)))

    return install


_background: set[asyncio.Future[object]] = set()


def _spawn(app: web.Application, coro: Coroutine[object, object, object]) -> None:
    task = asyncio.ensure_future(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def reload_config(app: web.Application, path: str) -> bool:
    """Load ``path`` again and swap it in; a bad file is logged and the old one stays."""
    loop = asyncio.get_running_loop()
    live = app[LIVE]
    async with live.reloading:  # one reload at a time, in the order the signals came
        try:
            settings = await loop.run_in_executor(None, config.load, path, os.environ)
            await live.replace(await build_runtime(settings, reuse=live.current))
            app[TIMELINE_ANSWERS].clear()
            app[AUTH].configure(settings.issuing.auth_failures, settings.issuing.auth_window)
            app[READINESS].wake()
        except ConfigError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            return False
        except ProxyError as exc:
            log.error("reload refused, a backend did not start: %s", exc.message)
            return False
        except Exception as exc:
            # The class only: a vendor's message may carry a credential.
            log.error("reload refused, keeping the running configuration: %s", type(exc).__name__)
            return False
    log.info("configuration reloaded from %s", path)
    return True


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request id in; every error out as ``{"data": message, "error": code}``; each answer
    counted. One middleware, not three: each layer costs every request."""
    take_request_id(request)
    try:
        response = await handler(request)
    except ProxyError as exc:
        response = _proxy_error(request, exc)
        if exc.closes_connection:
            await _answer_and_close(request, response)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _ERROR_CODES.get(exc.status, "http_error")
        body = {"data": exc.reason.lower(), "error": code}
        headers = {k: v for k, v in exc.headers.items() if k == names.ALLOW}
        response = web.json_response(body, status=exc.status, headers=headers)
    except ConnectionError:
        if not _client_left(request):
            raise  # not the client leaving: aiohttp logs it and answers 500 (or cuts)
        # The client left before its answer (a player seeking, a checker giving up): routine
        # on the open internet, so no traceback, only the access log's 499.
        response = web.Response(status=_CLIENT_CLOSED, reason="Client Closed Request")
    except Exception:
        log.exception("unhandled error: %s %s", request.method, logged_target(request))
        body = {"data": "internal error", "error": "internal"}
        response = web.json_response(body, status=500)
    count_answer(request, response)
    return response


def _client_left(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _proxy_error(request: web.Request, exc: ProxyError) -> web.Response:
    if exc.status >= 500:
        log.warning(
            "backend failure: %s %s -> %d %s (%s)",
            request.method,
            logged_target(request),
            exc.status,
            exc.code,
            # The class only: vendor messages may echo credentials or signed URLs.
            type(exc.__cause__).__name__ if exc.__cause__ else "-",
        )
    body = _error_body(exc.code, exc.message)
    return web.Response(
        body=body, status=exc.status, headers=exc.headers, content_type=_JSON, charset="utf-8"
    )


@functools.lru_cache(maxsize=256)  # an error class and its message: a refusal flood's body
def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"data": message, "error": code}).encode()


async def _answer_and_close(request: web.Request, response: web.StreamResponse) -> None:
    """Send ``response`` now with ``Connection: close``, end our side, cut it soon after."""
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    transport = request.transport
    if transport is None:
        return
    if transport.can_write_eof():
        transport.write_eof()

    def cut() -> None:
        transport.abort()
        request.content.feed_eof()  # ends aiohttp's own lingering read of the body now

    asyncio.get_running_loop().call_later(LINGER_SECONDS, cut)


async def _common_headers(request: web.Request, response: web.StreamResponse) -> None:
    """The request id, nosniff and a versionless Server on every answer; CORS on the public
    endpoints, errors too."""
    headers = response.headers
    request_id = request.get(REQUEST_ID)
    if request_id:
        headers[names.X_REQUEST_ID] = request_id
    headers[names.X_CONTENT_TYPE_OPTIONS] = "nosniff"
    headers[names.SERVER] = parser_errors.SERVER
    path = request.path
    if not path.startswith(_PUBLIC):
        return
    allowed = request.app[LIVE].current.settings.server.cors_allow_origins
    if "*" in allowed:
        headers[names.ACCESS_CONTROL_ALLOW_ORIGIN] = "*"
    else:
        headers.add(names.VARY, names.ORIGIN)
        origin = request.headers.get(names.ORIGIN)
        if origin in allowed:
            headers[names.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
    exposed = _EXPOSED_TIMELINE if path.startswith(TIMELINE_PATH) else _EXPOSED
    headers[names.ACCESS_CONTROL_EXPOSE_HEADERS] = exposed
