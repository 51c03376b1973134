"""Per-request telemetry: the request id, the client, the metrics, the access log line.

A request id is taken from ``X-Request-ID`` when it looks like one (else made
here), echoed on the response and written in the access log, so one request
can be followed from a client through the proxy's logs. The client's address
(``proxy.http.forwarded``) is worked out once per request and kept on it, for the
failure limits and the log alike. What the log shows of a request target
passes ``logged_target``, so no signature a client sends reaches it.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import secrets
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from proxy.http.forwarded import client_address
from proxy.http.names import X_REQUEST_ID
from proxy.links.redaction import redact_query, redact_signatures
from proxy.state import CLIENT, CREDENTIAL, LINK_ACCOUNT, LINK_PROVIDER, LIVE, METRICS, REQUEST_ID

_GOOD_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class _RequestIds:
    """Ids unique across processes and restarts: a random prefix per process, then a count.

    Cheaper per request than a uuid4 (no system call); a forked worker draws its own prefix.
    """

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = secrets.token_hex(8)
        self.count = itertools.count(1)

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.count):08x}"


_new_request_id = _RequestIds()


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})


def route_of(request: web.BaseRequest) -> str:
    """The route template (bounded), never the path (unbounded)."""
    try:
        resource = request.match_info.route.resource  # type: ignore[attr-defined]
    except (AttributeError, AssertionError):
        return "unparsed"  # refused by the HTTP parser before any routing
    return resource.canonical if resource is not None else "unmatched"


def method_of(request: web.BaseRequest) -> str:
    """A bounded method label: anything unusual is "other"."""
    return request.method if request.method in _METHODS else "other"


class ParserErrorFilter(logging.Filter):
    """aiohttp logs a refused request line whole, with a traceback; it may hold a signature.

    Such records keep only the error's class name.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg = "request refused by the HTTP parser: %s"
            record.args = (type(exc).__name__,)
            record.exc_info = None
            record.exc_text = None
        return True


def install_log_filters() -> None:
    logging.getLogger("aiohttp.server").addFilter(ParserErrorFilter())


def take_request_id(request: web.Request) -> str:
    """The client's ``X-Request-ID`` when it looks like one, else a new one; kept on the request."""
    given = request.headers.get(X_REQUEST_ID, "")
    request_id = given if _GOOD_ID.fullmatch(given) else _new_request_id()
    request[REQUEST_ID] = request_id
    return request_id


def client_of(request: web.BaseRequest) -> str:
    """The client's address (the peer's, or what a trusted proxy reports), worked out once."""
    known: str | None = request.get(CLIENT)
    if known is not None:
        return known
    try:
        server = request.app[LIVE].current.settings.server  # type: ignore[attr-defined]
        trusted, header = server.trusted_proxies, server.forwarded_header
    except (AttributeError, AssertionError, RuntimeError):
        trusted, header = (), ""  # refused by the HTTP parser before any routing
    client = client_address(request.remote, request.headers, trusted, header)
    request[CLIENT] = client
    return client


def logged_target(request: web.BaseRequest) -> str:
    """The request target for logs: a, p, f, e of the query, and no signature anywhere."""
    query = request.rel_url.raw_query_string
    target = request.rel_url.raw_path + ("?" + redact_query(query) if query else "")
    return redact_signatures(target)


def count_answer(request: web.Request, response: web.StreamResponse) -> None:
    """The request counter, and the bytes of a whole (not streamed) body."""
    route = route_of(request)
    metrics = request.app[METRICS]
    metrics.request_counter(route, method_of(request), response.status).inc()
    if isinstance(response, web.Response):  # streamed bodies are counted as they go
        metrics.bytes_counter(route).inc(response.content_length or 0)


class AccessLogger(AbstractAccessLogger):
    """One JSON line per request; only a, p, f and e of a query are kept. An issuing request
    names its account and the credential it authenticated with, so an operator can tell
    which system issued which links."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        line = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "request_id": request.get(REQUEST_ID),
            "method": method_of(request),
            "route": route_of(request),
            "path": logged_target(request),
            "status": response.status,
            "bytes": response.body_length,
            "duration_ms": round(time * 1000, 3),
            "account": request.get(LINK_ACCOUNT),
            "credential": request.get(CREDENTIAL),  # issuing: which system, by name
            "provider": request.get(LINK_PROVIDER),
            "remote": client_of(request),
        }
        self.logger.info(json.dumps(line, separators=(",", ":"), ensure_ascii=False))
