"""A small round-robin HTTP balancer for tests: each request goes to the next upstream."""

from __future__ import annotations

from collections import Counter

import aiohttp
from aiohttp import web
from yarl import URL

_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


class Balancer:
    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = upstreams
        self.hits: Counter[str] = Counter()
        self._next = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self, port: int) -> Balancer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._session = aiohttp.ClientSession(auto_decompress=False)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        upstream = self.upstreams[self._next % len(self.upstreams)]
        self._next += 1
        self.hits[upstream] += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        target = URL(upstream + request.raw_path, encoded=True)
        body = await request.read()
        async with self._session.request(
            request.method, target, headers=headers, data=body or None, allow_redirects=False
        ) as upstream_response:
            out = web.StreamResponse(status=upstream_response.status)
            for key, value in upstream_response.headers.items():
                if key.lower() not in _HOP:
                    out.headers.add(key, value)
            if upstream_response.content_length is not None:
                out.content_length = upstream_response.content_length
            await out.prepare(request)
            async for chunk in upstream_response.content.iter_any():
                await out.write(chunk)
            await out.write_eof()
            return out
