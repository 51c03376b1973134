"""The public endpoints routed without the router: a dictionary, not a search.

aiohttp's Application, for every request, walks its router (a regex for the
token route), builds and freezes a match info, looks up the middleware chain and
runs its own current-app middleware around ours; measured side by side, that is
about a third of what a bare aiohttp handler costs. The endpoints players and
link checkers hit (§1's stream and validate, §6's stream; GET, HEAD and OPTIONS)
are instead found here by method and raw path, get a match info made once at
start (the same route, so metrics and logs name the same template), and go
through the one middleware (``proxy.app.middleware``) straight to their handler.

Only a path the router would certainly send to the same handler takes this way:
an exact raw path for §1 (a percent-encoded spelling of it goes the long way and
ends in the same place), and for §6 a token of token characters followed by a
non-empty key without an encoded line feed (which the router's ``.+`` does not
match). A request with ``Expect`` and everything else goes through the
Application, unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from aiohttp.web_urldispatcher import UrlMappingMatchInfo

Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
_Route = tuple[UrlMappingMatchInfo, Handler]
_TOKEN = re.compile(r"[A-Za-z0-9_.-]+")


class Dispatcher:
    """``app``'s request handler: the public routes by dictionary, the rest by the router."""

    def __init__(self, app: web.Application, middleware: Middleware, token_path: str) -> None:
        self._app = app
        self._full: Handler = app._handle  # the router's way, for everything else
        self._middleware = middleware
        self._exact: dict[tuple[str, str], _Route] = {}
        self._token_prefix = token_path + "/"
        self._token: dict[str, _Route] = {}

    def exact(self, path: str, methods: tuple[str, ...]) -> None:
        """Take ``path`` (a plain route) for ``methods``."""
        for method in methods:
            self._exact[(method, path)] = self._made(path, method)

    def token(self, canonical: str, methods: tuple[str, ...]) -> None:
        """Take the §6 streaming route (its template ``canonical``) for ``methods``."""
        for method in methods:
            self._token[method] = self._made(canonical, method)

    def _made(self, canonical: str, method: str) -> _Route:
        for route in self._app.router.routes():
            resource = route.resource
            if resource is not None and resource.canonical == canonical and route.method == method:
                info = UrlMappingMatchInfo({}, route)
                info.add_app(self._app)
                info.freeze()
                return info, route.handler
        raise LookupError(f"no {method} route {canonical}")

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        path = request.rel_url.raw_path
        found = self._exact.get((request.method, path))
        if found is None and path.startswith(self._token_prefix):
            found = self._token_route(request.method, path)
        if found is None or hdrs.EXPECT in request.headers:
            return await self._full(request)
        info, handler = found
        request._match_info = info
        return await self._middleware(request, handler)

    def _token_route(self, method: str, path: str) -> _Route | None:
        route = self._token.get(method)
        if route is None:
            return None
        token, slash, key = path[len(self._token_prefix) :].partition("/")
        if not slash or not key or not _TOKEN.fullmatch(token) or "%0a" in key.lower():
            return None
        return route
