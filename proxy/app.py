"""The application factory: routes, middlewares, shared state and lifecycles."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler

from proxy.config import Settings
from proxy.errors import ProxyError
from proxy.handlers import health, signed
from proxy.links import SIGNED_PATH, redact_query
from proxy.signing import Signer
from proxy.state import CLOCK, SETTINGS, SIGNER, STORAGES
from proxy.storage import Storage, start_storage

log = logging.getLogger("proxy")

_EXPOSED = "Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified"
_ERROR_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def create_app(settings: Settings, *, clock: Callable[[], float] = time.time) -> web.Application:
    app = web.Application(middlewares=[error_middleware])
    app[SETTINGS] = settings
    app[SIGNER] = Signer(settings.signing.key, settings.signing.previous_keys)
    app[CLOCK] = clock
    app[STORAGES] = {}
    app.cleanup_ctx.append(_storages)
    app.on_response_prepare.append(_common_headers)

    app.router.add_get(SIGNED_PATH, signed.stream_object)  # and HEAD
    app.router.add_route("OPTIONS", SIGNED_PATH, signed.preflight)
    app.router.add_get(f"{SIGNED_PATH}/validate", signed.validate_link)
    app.router.add_route("OPTIONS", f"{SIGNED_PATH}/validate", signed.preflight)
    app.router.add_get("/healthz", health.healthz)
    return app


async def _storages(app: web.Application) -> AsyncIterator[None]:
    """Start one backend per provider; close them all at shutdown."""
    settings = app[SETTINGS]
    async with AsyncExitStack() as stack:
        for name, provider in settings.providers.items():
            storage: Storage = await start_storage(provider, settings.server.chunk_size)
            stack.push_async_callback(storage.close)
            app[STORAGES][name] = storage
        yield


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as ``{"data": message, "error": code}``."""
    try:
        return await handler(request)
    except ProxyError as exc:
        if exc.status >= 500:
            log.warning(
                "backend failure: %s %s -> %d %s (%r)",
                request.method,
                request.path,
                exc.status,
                exc.code,
                exc.__cause__,
            )
        return web.json_response(exc.body(), status=exc.status, headers=exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _ERROR_CODES.get(exc.status, "http_error")
        body = {"data": exc.reason.lower(), "error": code}
        headers = {k: v for k, v in exc.headers.items() if k == "Allow"}
        return web.json_response(body, status=exc.status, headers=headers)
    except ConnectionError:
        raise
    except Exception:
        log.exception("unhandled error: %s %s", request.method, request.path)
        return web.json_response({"data": "internal error", "error": "internal"}, status=500)


async def _common_headers(request: web.Request, response: web.StreamResponse) -> None:
    """CORS and nosniff on every answer of the public endpoints, errors included."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    if not request.path.startswith(SIGNED_PATH):
        return
    allowed = request.app[SETTINGS].server.cors_allow_origins
    origin = request.headers.get("Origin")
    if "*" in allowed:
        response.headers["Access-Control-Allow-Origin"] = "*"
    else:
        response.headers.add("Vary", "Origin")
        if origin in allowed:
            response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = _EXPOSED


class AccessLogger(AbstractAccessLogger):
    """One JSON line per request; the signature in the query is redacted."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        query = request.rel_url.raw_query_string
        path = request.rel_url.raw_path + ("?" + redact_query(query) if query else "")
        self.logger.info(
            json.dumps(
                {
                    "method": request.method,
                    "path": path,
                    "status": response.status,
                    "bytes": response.body_length,
                    "duration_ms": round(time * 1000, 3),
                    "remote": request.remote,
                },
                separators=(",", ":"),
            )
        )
