"""§7's public endpoint: ``GET /api/storage/timeline/{token}.m3u8`` (and ``.json``).

The token is §6's, and must carry ``tl`` (a §6 token without it is refused here,
one with it is refused everywhere else). It is checked as §6 says, then the
folder ``d`` is listed on its provider (in key order, from the window's start
when names allow it, at most ``MAX_LISTED`` entries), the recordings the window
selects are kept (at most ``MAX_RECORDINGS``: more is a 400), and each one's
fragment index comes from the cache or is built from its boxes (at most
``BUILD_CONCURRENCY`` at a time per request). Every status is decided before
the first byte of the playlist is written.

A recording that is not a fragmented MP4, or that vanished or changed between
the listing and its reads, is left out and counted in ``X-Timeline-Skipped``.
A backend that fails or times out fails the request (502 / 504): a playlist
never silently misses recordings because a backend was down.

An answer of at most 1 MiB is kept for a second (``proxy.timeline.answers``) and
given to the next requests for the same token, each checked first.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
)
from dataclasses import dataclass, replace

from aiohttp import web

from proxy.config import ServerSettings
from proxy.errors import (
    BackendTimeout,
    BadRequest,
    FileUnreadable,
    NotFound,
    ObjectChanged,
    OutOfScope,
    ProxyError,
)
from proxy.http import names
from proxy.links.rules import check_filename
from proxy.links.tokens import TokenClaims, make_token, parse_token, token_url
from proxy.links.verify import check_token
from proxy.media.bmff import BmffError
from proxy.metrics import Metrics
from proxy.runtime import Runtime
from proxy.state import (
    CLOCK,
    LINK_ACCOUNT,
    LINK_PROVIDER,
    LIVE,
    METRICS,
    RELAY,
    TIMELINE_ANSWERS,
    TIMELINES,
)
from proxy.storage.base import ByteRange, Listed, ObjectMeta, Storage
from proxy.streaming import Limits, abort, backend_call
from proxy.telemetry import client_of
from proxy.timeline.index import FragmentIndex, build_index
from proxy.timeline.naming import RecordingName, Window, recording_name
from proxy.timeline.playlist import Recording, playlist_chunks, timeline_json

MAX_RECORDINGS = 1000  # per playlist: past it, a 400 that says to narrow the window
MAX_LISTED = 20_000  # folder entries looked at for one playlist
MAX_LIST_PAGES = 100  # backend list calls for one playlist (pages of subfolders count too)
DEADLINE = 60.0  # seconds for one playlist's listing and indexing (504 past it)
MAX_SEGMENTS = 100_000  # fragments in one playlist
BUILD_CONCURRENCY = 8  # index builds (each a few small reads) at a time, per request
WHOLE_BODY = 1024 * 1024  # a playlist up to this size is sent whole, with its length
HLS_TYPE = "application/vnd.apple.mpegurl"
JSON_TYPE = "application/json; charset=utf-8"
# The recordings that could not be played, counted (never named) in each answer.
SKIPPED = "X-Timeline-Skipped"
# A recording that vanished or changed since the listing, or cannot be read: left out.
_LEFT_OUT = (NotFound, ObjectChanged, FileUnreadable)
log = logging.getLogger("proxy")


@dataclass(frozen=True, slots=True)
class Selection:
    recordings: list[Recording]
    skipped: int


async def timeline(request: web.Request) -> web.StreamResponse:
    """GET and HEAD /api/storage/timeline/{token}.m3u8 or .json."""
    raw, _, kind = request.match_info["name"].rpartition(".")
    if kind not in ("m3u8", "json"):
        raise web.HTTPNotFound()
    now = request.app[CLOCK]()
    async with request.app[LIVE].use() as rt:
        claims, window = _checked(request, rt, raw, now)
        server = rt.settings.server
        # A playlist lists, reads and writes for as long as a stream does: it holds a stream
        # slot throughout, so a full process answers 503 and slow readers are bounded too.
        with request.app[RELAY].slot(server.max_streams):
            answers = request.app[TIMELINE_ANSWERS]
            key = (raw, kind, server.public_url)
            recent = answers.get(key, time.monotonic())
            if recent is None:
                try:
                    async with asyncio.timeout(DEADLINE):
                        selection = await select(request, rt, claims, window)
                except TimeoutError:
                    # The builds in flight go on (the cache's own tasks): a retry finds them.
                    raise BackendTimeout(
                        f"listing and indexing the timeline took more than {DEADLINE:g}s"
                    ) from None
                if kind == "json":
                    doc = timeline_json(
                        selection.recordings,
                        selection.skipped,
                        window.start,
                        window.end,
                        window.device,
                    )
                    body, content_type = _dumps(doc).encode(), JSON_TYPE
                else:
                    chunks = (c.encode() for c in playlist_chunks(selection.recordings))
                    held, whole = _whole(chunks)
                    if not whole:  # too long to hold: written as it is made, never kept
                        rest = itertools.chain(held, chunks)
                        return await _stream(request, selection.skipped, rest, server)
                    body, content_type = b"".join(held), HLS_TYPE
                answers.put(key, body, content_type, selection.skipped, time.monotonic())
                skipped = selection.skipped
            else:
                body, content_type, skipped = recent.body, recent.content_type, recent.skipped
            headers = {
                names.CACHE_CONTROL: "private, no-cache",
                SKIPPED: str(skipped),
                names.CONTENT_TYPE: content_type,
            }
            if request.method == "HEAD":
                return web.Response(headers={**headers, names.CONTENT_LENGTH: str(len(body))})
            return web.Response(headers=headers, body=body)


def _whole(chunks: Iterator[bytes]) -> tuple[list[bytes], bool]:
    """The playlist's first chunks, up to just past ``WHOLE_BODY`` bytes, and whether they
    are all of it (what is left stays in ``chunks``)."""
    held: list[bytes] = []
    size = 0
    for chunk in chunks:
        held.append(chunk)
        size += len(chunk)
        if size > WHOLE_BODY:
            return held, False
    return held, True


async def _stream(
    request: web.Request, skipped: int, chunks: Iterator[bytes], server: ServerSettings
) -> web.StreamResponse:
    """A playlist longer than ``WHOLE_BODY``, chunked as it is written."""
    headers = {
        names.CACHE_CONTROL: "private, no-cache",
        SKIPPED: str(skipped),
        names.CONTENT_TYPE: HLS_TYPE,
    }
    if request.method == "HEAD":
        length = sum(len(chunk) for chunk in chunks)
        return web.Response(headers={**headers, names.CONTENT_LENGTH: str(length)})
    return await _send(request, headers, chunks, server.client_timeout)


async def _send(
    request: web.Request, headers: dict[str, str], chunks: Iterator[bytes], seconds: float
) -> web.StreamResponse:
    """The playlist chunked as it is written, never more than a chunk of it held. A client
    that takes nothing for ``seconds`` is cut off."""
    metrics = request.app[METRICS]
    response = web.StreamResponse(headers=headers)
    try:
        await response.prepare(request)
        for chunk in chunks:
            async with asyncio.timeout(seconds):
                await response.write(chunk)
        await response.write_eof()
    except TimeoutError:
        log.warning("aborting playlist: client took nothing for %ss", seconds)
        metrics.stream_aborts.labels("client_timeout").inc()
        abort(request)
    except ConnectionError:
        metrics.stream_aborts.labels("client_gone").inc()
    return response


def _dumps(doc: object) -> str:
    return json.dumps(doc, ensure_ascii=False)


def _checked(request: web.Request, rt: Runtime, raw: str, now: float) -> tuple[TokenClaims, Window]:
    try:
        claims = parse_token(raw, rt.signer).claims
        request[LINK_ACCOUNT] = claims.account
        request[LINK_PROVIDER] = claims.provider
        check_token(claims, rt.accounts, now, client_of(request))
        if claims.timeline is None:
            raise OutOfScope("this token is not a timeline's")
    except ProxyError as exc:
        request.app[METRICS].link_refusals.labels(exc.code).inc()
        raise
    return claims, claims.timeline


async def select(
    request: web.Request, rt: Runtime, claims: TokenClaims, window: Window
) -> Selection:
    """The recordings of the timeline in time order, each with its index and link."""
    server = rt.settings.server
    limits = Limits(server.backend_timeout, server.client_timeout)
    storage = rt.storages[claims.provider]
    scope = rt.accounts[claims.account].prefix
    folder = claims.folder or ""
    metrics = request.app[METRICS]
    names_found: list[tuple[RecordingName, ObjectMeta]] = []
    unservable = 0  # recordings by the naming rule whose keys no link can name
    async with contextlib.aclosing(
        _listed(storage, folder, window, scope, metrics, limits)
    ) as items:
        async for item in items:
            name = recording_name(item.key, folder)
            if name is None or not window.selects(name):
                continue
            try:
                check_filename(item.key)  # what its token link will be held to
            except BadRequest:
                unservable += 1
                continue
            names_found.append((name, item.meta))
            if len(names_found) > MAX_RECORDINGS:
                raise BadRequest(
                    f"the timeline selects more than {MAX_RECORDINGS} recordings: "
                    "narrow its start and end"
                )
    names_found.sort(key=lambda found: (found[0].timestamp, found[0].key))
    # The segments' links: §6 tokens for the folder, as long as the playlist's, signed now.
    segment = replace(claims, timeline=None, download=None, key_id=rt.signer.key_id)
    token = make_token(segment, rt.signer)
    public_url = server.public_url
    cache = request.app[TIMELINES]
    gate = asyncio.Semaphore(BUILD_CONCURRENCY)
    segments = 0

    async def build(read: Callable[[int, int], Awaitable[bytes]], size: int) -> FragmentIndex:
        metrics.timeline_index_builds.inc()
        return await build_index(read, size)

    async def indexed(name: RecordingName, meta: ObjectMeta) -> FragmentIndex | None:
        read = _reader(storage, name.key, meta, scope, metrics, limits)
        async with gate:
            try:
                if meta.etag is None:  # no version to key it by: built, never kept
                    return await build(read, meta.size)
                found = await cache.get(
                    storage.name, name.key, meta.etag, lambda: build(read, meta.size)
                )
            except (BmffError, *_LEFT_OUT):
                return None
        if not isinstance(found, FragmentIndex):
            return None
        nonlocal segments
        segments += len(found)
        if segments > MAX_SEGMENTS:  # as soon as it is known: the other builds are cancelled
            raise BadRequest(f"the timeline holds more than {MAX_SEGMENTS} segments: narrow it")
        return found

    indexes = await _all(indexed(name, meta) for name, meta in names_found)
    recordings = [
        Recording(name, index, token_url(public_url, token, name.key))
        for (name, _), index in zip(names_found, indexes, strict=True)
        if index is not None
    ]
    skipped = len(names_found) - len(recordings) + unservable
    metrics.timeline_recordings.labels("played").inc(len(recordings))
    metrics.timeline_recordings.labels("skipped").inc(skipped)
    return Selection(recordings, skipped)


async def _all(
    calls: Iterable[Coroutine[object, object, FragmentIndex | None]],
) -> list[FragmentIndex | None]:
    """Every call's result; the first failure cancels the others."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(call) for call in calls]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


async def _listed(
    storage: Storage,
    folder: str,
    window: Window,
    scope: str,
    metrics: Metrics,
    limits: Limits,
) -> AsyncGenerator[Listed, None]:
    """The folder's entries from the window's start to its end (when names allow bounds),
    each page bounded by the backend timeout, at most ``MAX_LISTED``."""
    start_after, stop_at = window.listing_bounds(folder)
    pages = storage.listing(folder, start_after, scope=scope)
    seen = 0
    try:
        for _ in range(MAX_LIST_PAGES + 1):  # the call that ends a listing is no page
            async with backend_call(metrics, storage.name, "list", limits.backend_timeout):
                page = await anext(pages, None)
            if page is None:
                return
            for item in page:
                if stop_at is not None and item.key >= stop_at:
                    return
                seen += 1
                if seen > MAX_LISTED:
                    raise BadRequest(
                        f"the folder holds more than {MAX_LISTED} entries in this window: narrow it"
                    )
                yield item
        raise BadRequest(
            f"listing the folder took more than {MAX_LIST_PAGES} pages in this window: narrow it"
        )
    finally:
        await pages.aclose()  # type: ignore[attr-defined]


def _reader(
    storage: Storage,
    key: str,
    meta: ObjectMeta,
    scope: str,
    metrics: Metrics,
    limits: Limits,
) -> Callable[[int, int], Awaitable[bytes]]:
    """Exact byte ranges of that version of ``key``, each read bounded by the timeout."""

    async def read(offset: int, length: int) -> bytes:
        wanted = ByteRange(offset, offset + length - 1)
        timed = backend_call(metrics, storage.name, "index", limits.backend_timeout)
        async with timed, storage.open(key, wanted, meta, scope=scope) as chunks:
            return b"".join([chunk async for chunk in chunks])

    return read
