"""The peers a user could write in an afternoon, for the side-by-side harness.

    python -m benchmarks.naive bare  --port P
    python -m benchmarks.naive proxy --port P --origin http://127.0.0.1:O

``bare``: an aiohttp app on uvloop whose one handler returns the validate JSON a good link
gets (the same keys and sizes as the proxy's), checking nothing. ``proxy``: a naive aiohttp
proxy that forwards the path and ``Range`` to the origin over one pooled ``ClientSession`` and
relays the answer's status, the headers a player needs and ``iter_any()`` chunks. Neither
signs, checks, counts, logs or bounds anything: that is the point of the comparison. Access
logs are off, as they are for the proxy in the harness.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import uvloop
from aiohttp import web

_RELAYED = ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "ETag")


def bare_app() -> web.Application:
    expires = int(time.time()) + 86400
    body = {
        "valid": True,
        "account": "cam",
        "provider": "disk",
        "filename": "cam/small.bin",
        "expires": expires,
        "expiresAt": "2026-12-02T00:00:00Z",
        "expiresIn": 86400,
    }

    async def validate(request: web.Request) -> web.Response:
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/{tail:.*}", validate)
    return app


def proxy_app(origin: str) -> web.Application:
    app = web.Application()

    async def session(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=256)
        app["session"] = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        yield
        await app["session"].close()

    async def forward(request: web.Request) -> web.StreamResponse:
        headers = {"Range": request.headers["Range"]} if "Range" in request.headers else {}
        async with app["session"].get(origin + request.path, headers=headers) as upstream:
            response = web.StreamResponse(status=upstream.status)
            for name in _RELAYED:
                if name in upstream.headers:
                    response.headers[name] = upstream.headers[name]
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    app.cleanup_ctx.append(session)
    app.router.add_get("/{tail:.*}", forward)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=["bare", "proxy"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--origin", default="")
    args = parser.parse_args()
    app = bare_app() if args.kind == "bare" else proxy_app(args.origin)
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
