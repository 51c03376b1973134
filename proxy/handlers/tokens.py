"""The public endpoints of §6: a token link streams (GET/HEAD) or describes itself (validate).

``/api/storage/t/{token}/{key}``: the token is checked as §6 says (shape 400,
signature 403 before its claims are even decoded, claims 400, expiry,
not-before, account, address 403), then the key (each path segment
percent-decoded once, §1's rules, inside the token's file or folder). Serving
is §2's (``proxy.handlers.serving``). A query string is ignored and never
reaches a backend.
"""

from __future__ import annotations

from aiohttp import web

from proxy.errors import OutOfScope, ProxyError
from proxy.handlers.serving import Access, serve
from proxy.links.tokens import TOKEN_PATH, TokenClaims, decode_key
from proxy.links.verify import check_token, token_report
from proxy.runtime import Runtime
from proxy.state import CLOCK, LINK_ACCOUNT, LINK_PROVIDER, LIVE, METRICS
from proxy.telemetry import client_of


async def stream_token(request: web.Request) -> web.StreamResponse:
    """GET and HEAD /api/storage/t/{token}/{key}."""
    now = request.app[CLOCK]()
    raw_token, raw_key = _split(request)
    async with request.app[LIVE].use() as rt:
        claims, key = _checked(request, rt, raw_token, raw_key, now)
        scope = rt.accounts[claims.account].prefix
        access = Access(claims.provider, key, claims.expires, scope, claims.download)
        return await serve(request, rt, access, now)


async def validate_token(request: web.Request) -> web.Response:
    """GET /api/storage/t/{token}/: the validate JSON of the token; no backend is asked."""
    raw_token, _ = _split(request)
    rt = request.app[LIVE].current  # no backend, no await: nothing to hold the runtime for
    report = token_report(
        raw_token, rt.signer, rt.accounts, request.app[CLOCK](), client_of(request)
    )
    if "account" in report:
        request[LINK_ACCOUNT] = str(report["account"])
        request[LINK_PROVIDER] = str(report["provider"])
    return web.json_response(report)


def _split(request: web.Request) -> tuple[str, str]:
    """The token and the key as sent (still percent-encoded), from the raw path."""
    rest = request.rel_url.raw_path[len(TOKEN_PATH) + 1 :]
    raw_token, _, raw_key = rest.partition("/")
    return raw_token, raw_key


def _checked(
    request: web.Request, rt: Runtime, raw_token: str, raw_key: str, now: float
) -> tuple[TokenClaims, str]:
    """The token's claims and the key, both checked; refusals counted by reason."""
    try:
        key = decode_key(raw_key)  # malformed is a 400 before any key is tried, as in §1
        claims = rt.checked.token(raw_token)  # parsed, signature checked
        request[LINK_ACCOUNT] = claims.account
        request[LINK_PROVIDER] = claims.provider
        # The client's address is worked out only for a token that names addresses.
        check_token(claims, rt.accounts, now, client_of(request) if claims.client_ips else "")
        if claims.timeline is not None:
            raise OutOfScope("a timeline's token plays only at /api/storage/timeline")
        if not claims.covers(key):
            raise OutOfScope()
    except ProxyError as exc:
        request.app[METRICS].link_refusals.labels(exc.code).inc()
        raise
    return claims, key
