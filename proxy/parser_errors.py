"""The HTTP parser's own refusals (bad request line, oversized header) answered as JSON errors.

aiohttp answers them before any handler runs, in plain text that repeats the
refused request line, which may hold a full signature. Its ``handle_error``
keeps doing the logging and the connection handling; only the answer it
returns is replaced.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web, web_protocol

from proxy.http import names

# The Server field of every answer (app.py sets it on the rest): a name, never the versions
# aiohttp would announce ("Python/3.11 aiohttp/3.x"), which only help an attacker pick exploits.
SERVER = "proxy"

_original = web_protocol.RequestHandler.handle_error


def _handle_error(
    self: web_protocol.RequestHandler,
    request: web.BaseRequest,
    status: int = 500,
    exc: BaseException | None = None,
    message: str | None = None,
) -> web.StreamResponse:
    _original(self, request, status, exc, "")  # logs (filtered), and refuses if bytes went out
    if status >= 500:
        body = {"data": "internal error", "error": "internal"}
    else:
        name = type(exc).__name__ if exc is not None else "error"
        body = {"data": f"malformed HTTP request ({name})", "error": "bad_request"}
    response = web.json_response(body, status=status, headers={names.SERVER: SERVER})
    response.force_close()
    return response


def install() -> None:
    """Idempotent: replace the parser-error answer for every server in this process."""
    handler: Any = web_protocol.RequestHandler
    if handler.handle_error is not _handle_error:
        handler.handle_error = _handle_error
