"""Serving one object for a link that passed its checks: §2's GET and HEAD, for §1 and §6.

The status (200 / 206 / 304 / 412 / 416) is decided from the object's metadata
before a single body byte is sent.

A plain GET to a provider that can (local disk, S3) asks for metadata and
body in one backend call, so a seek costs one round trip; the range it asks
for is only a guess from the header, and the body is used only if it is
exactly what the decision says, else it is released and the right bytes of
that same version are opened. A HEAD, or a GET whose answer may be 304 or 412,
asks for the metadata alone first.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass

from aiohttp import web

from proxy.errors import PreconditionFailed, RangeNotSatisfiable
from proxy.http import names
from proxy.http.dates import format_http_date
from proxy.http.decision import Decision, RequestFields, decide
from proxy.http.ranges import requested_range
from proxy.http.representation import content_disposition, content_type
from proxy.runtime import Runtime
from proxy.state import METRICS, RELAY
from proxy.storage.base import Fetched, ObjectMeta, Storage
from proxy.streaming import SMALL_BODY, Limits, backend_call

# The request headers a page may send cross-origin.
_ALLOWED = (
    names.RANGE,
    names.IF_RANGE,
    names.IF_NONE_MATCH,
    names.IF_MODIFIED_SINCE,
    names.IF_MATCH,
    names.IF_UNMODIFIED_SINCE,
)
_PREFLIGHT = {
    names.ACCESS_CONTROL_ALLOW_METHODS: "GET, HEAD, OPTIONS",
    names.ACCESS_CONTROL_ALLOW_HEADERS: ", ".join(_ALLOWED),
    names.ACCESS_CONTROL_MAX_AGE: "86400",
    names.ALLOW: "GET, HEAD, OPTIONS",
}


@dataclass(frozen=True, slots=True)
class Access:
    """What a checked link lets this request read, and how to present it."""

    provider: str
    key: str
    expires: int  # no cache keeps the body past it
    # The account's prefix: a backend whose names can lead elsewhere (symlinks on disk)
    # serves only what really lies inside it.
    scope: str
    download: bool | str | None = None  # §6 ``dl``: an attachment (named so, if a string)


async def serve(
    request: web.Request, rt: Runtime, access: Access, now: float
) -> web.StreamResponse:
    """GET or HEAD of ``access.key``, in the runtime the link was checked in."""
    app = request.app
    server = rt.settings.server
    storage = rt.storages[access.provider]
    limits = Limits(server.backend_timeout, server.client_timeout)
    fields = RequestFields.of(request.headers)
    if request.method == "HEAD":
        meta = await _stat(request, storage, access.key, access.scope, limits)
        return await _answer(request, storage, access, fields, meta, None, limits, now)
    # A GET takes its stream slot before the backend is asked, so a full process
    # answers 503 without adding backend load.
    with app[RELAY].slot(server.max_streams):
        async with AsyncExitStack() as body:
            fetched = None
            fetcher = rt.fetchers.get(access.provider)
            # A GET whose answer may be 304 or 412 asks for metadata first, never a body.
            if fetcher is not None and not fields.conditional:
                wanted = requested_range(fields.first_range)
                fetched = await app[RELAY].fetch(
                    body, fetcher, access.key, wanted, limits, scope=access.scope
                )
            if fetched is None:
                meta = await _stat(request, storage, access.key, access.scope, limits)
            else:
                meta = fetched.meta
            return await _answer(request, storage, access, fields, meta, fetched, limits, now, body)


async def _answer(
    request: web.Request,
    storage: Storage,
    access: Access,
    fields: RequestFields,
    meta: ObjectMeta,
    fetched: Fetched | None,
    limits: Limits,
    now: float,
    body: AsyncExitStack | None = None,
) -> web.StreamResponse:
    """Decide the status from ``meta``, then send the body: the fetched one if it is the
    right one, else one opened now for exactly the decided bytes of that version."""
    decision = decide(fields, size=meta.size, etag=meta.etag, last_modified=meta.last_modified)
    if decision.status == 412:
        raise PreconditionFailed()
    if decision.status == 416:
        raise RangeNotSatisfiable(meta.size)
    headers = _headers(decision, meta, access, now)
    if not decision.sends_body:  # 304
        return web.Response(status=decision.status, headers=headers)
    status, byte_range = decision.status, decision.byte_range
    relay = request.app[RELAY]
    expected = byte_range.length if byte_range else meta.size
    chunks = None
    if body is not None and expected > 0:
        if fetched is not None and fetched.served == byte_range:
            chunks = fetched.chunks
        else:
            await body.aclose()  # release a fetched body before opening the right one
            chunks = await relay.open(
                body, storage, access.key, byte_range, meta, limits, scope=access.scope
            )
    if chunks is not None and expected <= SMALL_BODY:
        whole = await relay.read_small(storage.name, chunks, expected, limits)
        return web.Response(status=status, headers=headers, body=whole)
    response = web.StreamResponse(status=status, headers=headers)
    return await relay.send(request, response, storage.name, chunks, expected, limits)


async def _stat(
    request: web.Request, storage: Storage, key: str, scope: str, limits: Limits
) -> ObjectMeta:
    async with backend_call(request.app[METRICS], storage.name, "stat", limits.backend_timeout):
        return await storage.stat(key, scope=scope)


def _headers(decision: Decision, meta: ObjectMeta, access: Access, now: float) -> dict[str, str]:
    """The answer's headers: a 304 repeats the validators (RFC 9110 §15.4.5), a 200 or
    206 adds the representation's."""
    # A cache may keep the body no longer than the link lives.
    max_age = max(0, int(access.expires - now))
    headers = {names.CACHE_CONTROL: f"private, max-age={max_age}"}
    if meta.etag:
        headers[names.ETAG] = meta.etag
    if meta.last_modified:
        headers[names.LAST_MODIFIED] = format_http_date(meta.last_modified)
    if not decision.sends_body:
        return headers
    headers[names.CONTENT_TYPE] = content_type(meta.content_type, access.key)
    headers[names.CONTENT_DISPOSITION] = content_disposition(access.key, access.download)
    headers[names.ACCEPT_RANGES] = "bytes"
    # Media never needs script; a stored page (or SVG, or +xml) must not run any on our origin.
    headers[names.CONTENT_SECURITY_POLICY] = "sandbox"
    if decision.byte_range is not None:
        headers[names.CONTENT_RANGE] = decision.byte_range.content_range(meta.size)
    return headers


async def preflight(request: web.Request) -> web.Response:
    """OPTIONS: answer CORS preflights; the link itself is checked on the real request."""
    return web.Response(status=204, headers=_PREFLIGHT)
