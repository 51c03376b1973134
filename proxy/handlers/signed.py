"""The public endpoints of §2: stream (GET/HEAD), preflight (OPTIONS), validate.

A request goes through the same gate every time: parse the query strictly
(400), verify the signature (403 invalid_signature), the expiry (403 expired)
and the account (403 revoked). Only then is the backend asked. The status
(200 / 206 / 304 / 412 / 416) is decided from the object's metadata before a
single body byte is sent.

A plain GET to a provider that can (local disk, S3) asks for metadata and
body in one backend call, so a seek costs one round trip; the range it asks
for is only a guess from the header, and the body is used only if it is
exactly what the decision says, else it is released and the right bytes of
that same version are opened. A HEAD, or a GET whose answer may be 304 or 412,
asks for the metadata alone first.
"""

from __future__ import annotations

import mimetypes
import posixpath
from contextlib import AsyncExitStack
from datetime import UTC
from email.utils import format_datetime
from urllib.parse import quote

from aiohttp import web

from proxy.conditional import Precondition, evaluate_preconditions, if_range_matches
from proxy.errors import (
    PreconditionFailed,
    ProxyError,
    RangeNotSatisfiable,
)
from proxy.links import parse_query
from proxy.ranges import UNSATISFIABLE, parse_range, requested_range
from proxy.runtime import Runtime
from proxy.signing import LinkClaims
from proxy.state import CLOCK, LINK_ACCOUNT, LINK_PROVIDER, LIVE, METRICS, RELAY
from proxy.storage.base import ByteRange, Fetched, ObjectMeta, Storage
from proxy.streaming import SMALL_BODY, Limits, backend_call
from proxy.verification import check_link, validation_report

_TYPES = mimetypes.MimeTypes(filenames=())
for _ext, _type in {
    ".mkv": "video/x-matroska",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mpd": "application/dash+xml",
    ".m4a": "audio/mp4",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".wav": "audio/wav",
    ".webp": "image/webp",
}.items():
    _TYPES.add_type(_type, _ext)


async def stream_object(request: web.Request) -> web.StreamResponse:
    """GET and HEAD /api/storage/signed."""
    app = request.app
    now = app[CLOCK]()
    async with app[LIVE].use() as rt:
        claims = _checked_claims(request, rt, now)
        # The account just authorized in this same runtime; a backend whose names can lead
        # elsewhere (symlinks on disk) serves only what really lies inside its prefix.
        scope = rt.accounts[claims.account].prefix
        server = rt.settings.server
        storage = rt.storages[claims.provider]
        limits = Limits(server.backend_timeout, server.client_timeout)
        if request.method == "HEAD":
            meta = await _stat(request, storage, claims.filename, scope, limits)
            return await _answer(request, storage, claims, scope, meta, None, limits, now)
        # A GET takes its stream slot before the backend is asked, so a full process
        # answers 503 without adding backend load.
        with app[RELAY].slot(server.max_streams):
            async with AsyncExitStack() as body:
                fetched = None
                fetcher = rt.fetchers.get(claims.provider)
                if fetcher is not None and not _conditional(request):
                    wanted = requested_range(request.headers.get("Range"))
                    fetched = await app[RELAY].fetch(
                        body, fetcher, claims.filename, wanted, limits, scope=scope
                    )
                if fetched is None:
                    meta = await _stat(request, storage, claims.filename, scope, limits)
                else:
                    meta = fetched.meta
                return await _answer(
                    request, storage, claims, scope, meta, fetched, limits, now, body
                )


async def _answer(
    request: web.Request,
    storage: Storage,
    claims: LinkClaims,
    scope: str,
    meta: ObjectMeta,
    fetched: Fetched | None,
    limits: Limits,
    now: float,
    body: AsyncExitStack | None = None,
) -> web.StreamResponse:
    """Decide the status from ``meta``, then send the body: the fetched one if it is the
    right one, else one opened now for exactly the decided bytes of that version."""
    status, headers, byte_range = _decide(request, meta, claims, now)
    if status == 304:
        return web.Response(status=304, headers=headers)
    relay = request.app[RELAY]
    expected = byte_range.length if byte_range else meta.size
    chunks = None
    if body is not None and expected > 0:
        if fetched is not None and fetched.served == byte_range:
            chunks = fetched.chunks
        else:
            await body.aclose()  # release a fetched body before opening the right one
            chunks = await relay.open(
                body, storage, claims.filename, byte_range, meta, limits, scope=scope
            )
    if chunks is not None and expected <= SMALL_BODY:
        whole = await relay.read_small(storage.name, chunks, expected, limits)
        return web.Response(status=status, headers=headers, body=whole)
    response = web.StreamResponse(status=status, headers=headers)
    return await relay.send(request, response, storage.name, chunks, expected, limits)


def _conditional(request: web.Request) -> bool:
    """Whether the answer may be 304 or 412: then ask for metadata first, not for a body."""
    headers = request.headers
    return any(
        name in headers
        for name in ("If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since")
    )


def _checked_claims(request: web.Request, rt: Runtime, now: float) -> LinkClaims:
    """Parse and check the link, counting refusals by reason (never by link)."""
    metrics = request.app[METRICS]
    try:
        query = parse_query(request.rel_url.raw_query_string)
        request[LINK_ACCOUNT] = query.claims.account
        request[LINK_PROVIDER] = query.claims.provider
        check_link(query, rt.signer, rt.accounts, now)
    except ProxyError as exc:
        metrics.link_refusals.labels(exc.code).inc()
        raise
    return query.claims


async def _stat(
    request: web.Request, storage: Storage, key: str, scope: str, limits: Limits
) -> ObjectMeta:
    async with backend_call(request.app[METRICS], storage.name, "stat", limits.backend_timeout):
        return await storage.stat(key, scope=scope)


def _decide(
    request: web.Request, meta: ObjectMeta, claims: LinkClaims, now: float
) -> tuple[int, dict[str, str], ByteRange | None]:
    """Status (200, 206 or 304), headers and byte range, from the request and metadata alone.

    412 and 416 are raised as errors."""
    headers = _validator_headers(meta, claims, now)
    fields = request.headers
    # Every line of each field: repeated ones mean something (see proxy.conditional).
    outcome = evaluate_preconditions(
        if_match=fields.getall("If-Match", []),
        if_none_match=fields.getall("If-None-Match", []),
        if_modified_since=fields.getall("If-Modified-Since", []),
        if_unmodified_since=fields.getall("If-Unmodified-Since", []),
        etag=meta.etag,
        last_modified=meta.last_modified,
    )
    if outcome is Precondition.FAILED:
        raise PreconditionFailed()
    if outcome is Precondition.NOT_MODIFIED:
        return 304, headers, None

    ranges = fields.getall("Range", [])
    # Several Range fields are as malformed as several ranges: serve the whole object.
    decision = parse_range(ranges[0], meta.size) if len(ranges) == 1 else None
    if decision is not None and not if_range_matches(
        fields.getall("If-Range", []), etag=meta.etag, last_modified=meta.last_modified
    ):
        decision = None
    if decision is UNSATISFIABLE:
        raise RangeNotSatisfiable(meta.size)

    headers["Content-Type"] = _content_type(meta, claims.filename)
    headers["Content-Disposition"] = content_disposition(claims.filename)
    headers["Accept-Ranges"] = "bytes"
    # Media never needs script; a stored page (or SVG, or +xml) must not run any on our origin.
    headers["Content-Security-Policy"] = "sandbox"
    if decision is None:
        return 200, headers, None
    headers["Content-Range"] = decision.content_range(meta.size)
    return 206, headers, decision


async def validate_link(request: web.Request) -> web.Response:
    """GET /api/storage/signed/validate: describe a link without touching the backend."""
    query = parse_query(request.rel_url.raw_query_string)
    request[LINK_ACCOUNT] = query.claims.account
    request[LINK_PROVIDER] = query.claims.provider
    now = request.app[CLOCK]()
    rt = request.app[LIVE].current  # no backend, no await: nothing to hold the runtime for
    return web.json_response(validation_report(query, rt.signer, rt.accounts, now))


async def preflight(request: web.Request) -> web.Response:
    """OPTIONS: answer CORS preflights; the link itself is checked on the real request."""
    headers = {
        "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
        "Access-Control-Allow-Headers": "Range, If-Range, If-None-Match, If-Modified-Since, "
        "If-Match, If-Unmodified-Since",
        "Access-Control-Max-Age": "86400",
        "Allow": "GET, HEAD, OPTIONS",
    }
    return web.Response(status=204, headers=headers)


def _validator_headers(meta: ObjectMeta, claims: LinkClaims, now: float) -> dict[str, str]:
    """Headers that a 304 repeats (RFC 9110 §15.4.5) and every 200/206 carries."""
    # A cache may keep the body no longer than the link lives.
    max_age = max(0, int(claims.expires - now))
    headers = {"Cache-Control": f"private, max-age={max_age}"}
    if meta.etag:
        headers["ETag"] = meta.etag
    if meta.last_modified:
        headers["Last-Modified"] = format_datetime(meta.last_modified.astimezone(UTC), usegmt=True)
    return headers


def _content_type(meta: ObjectMeta, filename: str) -> str:
    if meta.content_type:
        return meta.content_type
    guessed, _ = _TYPES.guess_type(posixpath.basename(filename), strict=False)
    return guessed or "application/octet-stream"


def content_disposition(filename: str) -> str:
    """``inline`` with an ASCII fallback and the exact UTF-8 name (RFC 6266, RFC 8187)."""
    name = posixpath.basename(filename)
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in name)
    return f"inline; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
