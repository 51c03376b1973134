"""The issuing endpoints of §3: one signed URL (GET), many in one round trip (POST bulk).

Both authenticate with the account's access key and secret, then check each
requested link as the serving side will: the provider is bound to the account
(401), the filename follows the link rules (400) and lies inside the account's
prefix (403), the lifetime is positive and within the maxima (400).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from proxy.accounts import Account
from proxy.auth import ACCESS_KEY_HEADER, SECRET_HEADER
from proxy.durations import parse_ttl
from proxy.errors import BadRequest, Forbidden, PayloadTooLarge, ProxyError, Unauthorized
from proxy.links import build_url, check_filename
from proxy.runtime import Runtime
from proxy.signing import LinkClaims
from proxy.state import AUTH, CLOCK, LIVE

FILENAME_HEADER = "X-Kerberos-Storage-FileName"
PROVIDER_HEADER = "X-Kerberos-Storage-Provider"
EXPIRY_HEADER = "X-Kerberos-Storage-UriExpiryTime"


@dataclass(frozen=True, slots=True)
class LinkRequest:
    filename: str
    provider: str | None
    expiry: object  # as given: a Go duration, digit string or integer; None for the default


async def issue_one(request: web.Request) -> web.Response:
    """GET /api/storage: one URL, described by headers."""
    async with request.app[LIVE].use() as rt:
        account = await _authenticate(request, rt)
        filename = request.headers.get(FILENAME_HEADER)
        if not filename:
            raise BadRequest(f"missing header {FILENAME_HEADER}")
        wanted = LinkRequest(
            filename,
            request.headers.get(PROVIDER_HEADER) or None,
            request.headers.get(EXPIRY_HEADER),
        )
        url = await make_link(rt, account, wanted, request.app[CLOCK]())
    return web.json_response({"data": url})


async def issue_bulk(request: web.Request) -> web.Response:
    """POST /api/storage/bulk: ``{"data": "<JSON string of filename -> url>"}``."""
    async with request.app[LIVE].use() as rt:
        account = await _authenticate(request, rt)
        limits = rt.settings.issuing
        items = _parse_items(await _read_body(request, limits.max_body_bytes), limits.max_items)
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


async def make_link(rt: Runtime, account: Account, wanted: LinkRequest, now: float) -> str:
    provider = wanted.provider or account.default_provider
    if provider not in account.providers:
        raise Unauthorized(f"the account is not bound to provider {provider!r}")
    check_filename(wanted.filename)
    if not account.covers(wanted.filename):
        raise Forbidden("the filename lies outside the account's prefix")
    ttl = _ttl(rt, account, wanted.expiry)
    storage = rt.storages[provider]
    if not rt.settings.signing.vault_signing:
        native = await storage.presign(wanted.filename, ttl)
        if native is not None:
            return native
    claims = LinkClaims(account.name, provider, wanted.filename, int(now) + ttl)
    return build_url(rt.settings.server.public_url, claims, rt.signer.sign(claims))


def _ttl(rt: Runtime, account: Account, given: object) -> int:
    signing = rt.settings.signing
    limit = min(signing.max_expiry, account.max_expiry or signing.max_expiry)
    if given is None:
        # The client asked for nothing in particular: the default, within the account's limit.
        return min(signing.default_expiry, limit)
    try:
        ttl = parse_ttl(given)  # type: ignore[arg-type]
    except ValueError as exc:
        raise BadRequest(f"uriExpiryTime: {exc}") from None
    if ttl > limit:
        raise BadRequest(f"uriExpiryTime: longer than the maximum of {limit} seconds")
    return ttl


async def _authenticate(request: web.Request, rt: Runtime) -> Account:
    return await request.app[AUTH].authenticate(
        rt.by_access_key,
        request.headers.get(ACCESS_KEY_HEADER),
        request.headers.get(SECRET_HEADER),
        request.remote or "unknown",
        time.monotonic(),
    )


async def _read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    return bytes(body)


def _parse_items(body: bytes, max_items: int) -> list[LinkRequest]:
    try:
        doc: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest("the body is not valid JSON") from None
    except RecursionError:
        raise BadRequest("the body is nested too deeply") from None
    if not isinstance(doc, list):
        raise BadRequest("the body must be a JSON array of {filename, provider, uriExpiryTime}")
    if len(doc) > max_items:
        raise PayloadTooLarge(f"more than {max_items} items")
    items = []
    for index, raw in enumerate(doc):
        if not isinstance(raw, dict):
            raise BadRequest(f"item {index}: must be an object")
        unknown = set(raw) - {"filename", "provider", "uriExpiryTime"}
        if unknown:
            raise BadRequest(f"item {index}: unknown field {sorted(unknown)[0]!r}")
        filename, provider = raw.get("filename"), raw.get("provider")
        if not isinstance(filename, str) or not filename:
            raise BadRequest(f"item {index}: 'filename' is required and must be a string")
        if provider is not None and not isinstance(provider, str):
            raise BadRequest(f"item {index}: 'provider' must be a string")
        items.append(LinkRequest(filename, provider or None, raw.get("uriExpiryTime")))
    return items
