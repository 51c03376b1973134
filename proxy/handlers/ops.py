"""Operators' endpoints: liveness, readiness, metrics, and the API's own description."""

from __future__ import annotations

import json

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from proxy.http import names
from proxy.openapi import document
from proxy.state import LIVE, METRICS, READINESS

_OPENAPI = json.dumps(document()).encode()


async def healthz(request: web.Request) -> web.Response:
    """The process is up and its event loop answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Config loaded and every provider's last check passed; 503 naming those that did not."""
    providers = request.app[LIVE].current.settings.providers
    problems = request.app[READINESS].problems(providers)
    if problems:
        return web.json_response({"status": "unready", "providers": problems}, status=503)
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={names.CONTENT_TYPE: CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=_OPENAPI, content_type="application/json")
