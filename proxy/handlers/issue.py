"""The issuing endpoints of §3: one signed URL (GET), many in one round trip (POST bulk).

Both authenticate with the account's access key and secret, then check each
requested link as the serving side will, by the rules of ``proxy.links.issuing``:
the provider is bound to the account (401), the filename follows the link rules
(400) and lies inside the account's prefix (403), the lifetime is positive and
within the maxima (400).

Whatever a client sends is refused as a 400, never a 500: header values that
are not UTF-8 text (``proxy.http.text``), bodies that are not JSON or hold a
number Python will not parse, strings that are not Unicode text. The bulk body
must arrive in full within ``server.body_timeout`` (else 408, and the
connection is closed).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from proxy.accounts import Account
from proxy.errors import BadRequest, Disabled, PayloadTooLarge, ProxyError, RequestTimeout
from proxy.http import names
from proxy.http.text import header_text
from proxy.links.issuing import (
    LinkRequest,
    grant,
    link_url,
    timeline_link,
    timeline_window,
    token_options,
)
from proxy.runtime import Runtime
from proxy.state import AUTH, CLOCK, CREDENTIAL, LINK_ACCOUNT, LIVE
from proxy.telemetry import client_of


async def issue_one(request: web.Request) -> web.Response:
    """GET /api/storage: one URL, described by headers."""
    async with request.app[LIVE].use() as rt:
        account = await _authenticate(request, rt)
        filename = header_text(request.headers, names.FILENAME)
        if not filename:
            raise BadRequest(f"missing header {names.FILENAME}")
        headers = request.headers
        wanted = LinkRequest(
            filename,
            header_text(headers, names.PROVIDER) or None,
            header_text(headers, names.URI_EXPIRY_TIME),
            **token_options(
                header_text(headers, names.SCOPE),
                header_text(headers, names.NOT_BEFORE),
                header_text(headers, names.DOWNLOAD),
                header_text(headers, names.CLIENT_IP),
            ),
        )
        url = await make_link(rt, account, wanted, request.app[CLOCK]())
    return web.json_response({"data": url})


async def issue_bulk(request: web.Request) -> web.Response:
    """POST /api/storage/bulk: ``{"data": "<JSON string of filename -> url>"}``."""
    async with request.app[LIVE].use() as rt:
        account = await _authenticate(request, rt)
        limits = rt.settings.issuing
        body = await _read_body(request, limits.max_body_bytes, rt.settings.server.body_timeout)
        items = _parse_items(body, limits.max_items)
        now = request.app[CLOCK]()
        urls: dict[str, str] = {}
        for index, item in enumerate(items):
            try:
                urls[item.filename] = await make_link(rt, account, item, now)
            except ProxyError as exc:
                exc.message = f"item {index} ({item.filename!r}): {exc.message}"
                raise
    # A JSON string inside JSON: Vault answers this way and its clients parse twice.
    return web.json_response({"data": json.dumps(urls, ensure_ascii=False)})


_TIMELINE_FIELDS = frozenset({"prefix", "provider", "device", "start", "end", "uriExpiryTime"})


async def issue_timeline(request: web.Request) -> web.Response:
    """POST /api/storage/timeline: ``{"data": "<playlist URL>"}`` (§7)."""
    async with request.app[LIVE].use() as rt:
        account = await _authenticate(request, rt)
        limits = rt.settings.issuing
        body = await _read_body(request, limits.max_body_bytes, rt.settings.server.body_timeout)
        doc = _json(body)
        if not isinstance(doc, dict):
            raise BadRequest("the body must be a JSON object {prefix, start, end, ...}")
        unknown = set(doc) - _TIMELINE_FIELDS
        if unknown:
            raise BadRequest(f"unknown field {sorted(unknown)[0]!r}")
        folder, provider = doc.get("prefix"), doc.get("provider")
        if not isinstance(folder, str) or not folder:
            raise BadRequest("'prefix' is required and must be a string")
        if provider is not None and not isinstance(provider, str):
            raise BadRequest("'provider' must be a string")
        window = timeline_window(doc.get("start"), doc.get("end"), doc.get("device"))
        url = timeline_link(
            rt.settings.signing,
            account,
            folder,
            provider or None,
            doc.get("uriExpiryTime"),
            window,
            rt.signer,
            rt.settings.server.public_url,
            request.app[CLOCK](),
        )
    return web.json_response({"data": url})


async def make_link(rt: Runtime, account: Account, wanted: LinkRequest, now: float) -> str:
    """The URL for one item, by the rules of ``proxy.links.issuing``."""
    granted = grant(rt.settings.signing, account, wanted, now)
    storage = rt.storages[granted.claims.provider]
    return await link_url(
        granted, rt.settings.signing, rt.signer, rt.settings.server.public_url, storage.presign
    )


async def _authenticate(request: web.Request, rt: Runtime) -> Account:
    """The account the credential belongs to. The access log names both (never the secret)
    once the secret verified, a disabled one's refusal included: which system still calls."""
    try:
        account, credential = await request.app[AUTH].authenticate(
            rt.by_access_key,
            request.headers.get(names.ACCESS_KEY),
            request.headers.get(names.SECRET_ACCESS_KEY),
            client_of(request),
            time.monotonic(),
        )
    except Disabled as exc:
        request[LINK_ACCOUNT], request[CREDENTIAL] = exc.account, exc.credential
        raise
    request[LINK_ACCOUNT], request[CREDENTIAL] = account.name, credential.name
    return account


async def _read_body(request: web.Request, limit: int, seconds: float) -> bytes:
    """The whole body, at most ``limit`` bytes, arrived within ``seconds`` (else 413 / 408)."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    body = bytearray()
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.content.iter_any():
                body += chunk
                if len(body) > limit:
                    raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    except TimeoutError:
        raise RequestTimeout(f"the request body took longer than {seconds:g}s") from None
    return bytes(body)


_ITEM_FIELDS = frozenset(
    {"filename", "provider", "uriExpiryTime", "scope", "notBefore", "download", "clientIp"}
)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except RecursionError:
        raise BadRequest("the body is nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest("the body is not valid JSON") from None
    except ValueError:  # an integer longer than Python converts (sys.get_int_max_str_digits)
        raise BadRequest("the body holds a number with too many digits") from None


def _parse_items(body: bytes, max_items: int) -> list[LinkRequest]:
    doc = _json(body)
    if not isinstance(doc, list):
        raise BadRequest("the body must be a JSON array of {filename, provider, uriExpiryTime}")
    if len(doc) > max_items:
        raise PayloadTooLarge(f"more than {max_items} items")
    items = []
    for index, raw in enumerate(doc):
        if not isinstance(raw, dict):
            raise BadRequest(f"item {index}: must be an object")
        unknown = set(raw) - _ITEM_FIELDS
        if unknown:
            raise BadRequest(f"item {index}: unknown field {sorted(unknown)[0]!r}")
        filename, provider = raw.get("filename"), raw.get("provider")
        if not isinstance(filename, str) or not filename:
            raise BadRequest(f"item {index}: 'filename' is required and must be a string")
        if provider is not None and not isinstance(provider, str):
            raise BadRequest(f"item {index}: 'provider' must be a string")
        try:
            options = token_options(
                raw.get("scope"), raw.get("notBefore"), raw.get("download"), raw.get("clientIp")
            )
        except BadRequest as exc:
            raise BadRequest(f"item {index}: {exc.message}") from None
        items.append(LinkRequest(filename, provider or None, raw.get("uriExpiryTime"), **options))
    return items
