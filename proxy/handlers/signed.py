"""The public endpoints of §2 for §1 links: stream (GET/HEAD), validate.

A request goes through the same gate every time: parse the query strictly
(400), verify the signature (403 invalid_signature), the expiry (403 expired)
and the account (403 revoked). Only then is the backend asked
(``proxy.handlers.serving``).
"""

from __future__ import annotations

from aiohttp import web

from proxy.errors import InvalidSignature, ProxyError
from proxy.handlers.serving import Access, serve
from proxy.links.query import parse_query
from proxy.links.signing import LinkClaims
from proxy.links.verify import check_signed_link, signed_link_report, validation_report
from proxy.runtime import Runtime
from proxy.state import CLOCK, LINK_ACCOUNT, LINK_PROVIDER, LIVE, METRICS


async def stream_object(request: web.Request) -> web.StreamResponse:
    """GET and HEAD /api/storage/signed."""
    now = request.app[CLOCK]()
    async with request.app[LIVE].use() as rt:
        claims = _checked_claims(request, rt, now)
        # The account just authorized in this same runtime.
        scope = rt.accounts[claims.account].prefix
        access = Access(claims.provider, claims.filename, claims.expires, scope)
        return await serve(request, rt, access, now)


def _checked_claims(request: web.Request, rt: Runtime, now: float) -> LinkClaims:
    """Parse and check the link, counting refusals by reason (never by link)."""
    metrics = request.app[METRICS]
    try:
        query = rt.checked.link(request.rel_url.raw_query_string)  # parsed, signature checked
        request[LINK_ACCOUNT] = query.claims.account
        request[LINK_PROVIDER] = query.claims.provider
        check_signed_link(query.claims, rt.accounts, now)
    except ProxyError as exc:
        metrics.link_refusals.labels(exc.code).inc()
        raise
    return query.claims


async def validate_link(request: web.Request) -> web.Response:
    """GET /api/storage/signed/validate: describe a link without touching the backend."""
    raw = request.rel_url.raw_query_string
    rt = request.app[LIVE].current  # no backend, no await: nothing to hold the runtime for
    now = request.app[CLOCK]()
    try:
        claims = rt.checked.link(raw).claims
    except InvalidSignature:
        query = parse_query(raw)  # well formed, badly signed: described, with the reason
        request[LINK_ACCOUNT] = query.claims.account
        request[LINK_PROVIDER] = query.claims.provider
        return web.json_response(validation_report(query, rt.signer, rt.accounts, now))
    request[LINK_ACCOUNT] = claims.account
    request[LINK_PROVIDER] = claims.provider
    return web.json_response(signed_link_report(claims, rt.accounts, now))
