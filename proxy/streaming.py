"""Relaying a backend body to the client: the point of no return.

Before ``prepare()`` sends the headers, any failure is still a status code.
After it, the only honest signal left is to abort the connection: the client
then sees fewer bytes than ``Content-Length`` promised and knows the transfer
failed, instead of keeping a short file that looks complete.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from proxy.errors import BackendError, ProxyError
from proxy.storage.base import ByteRange, ObjectMeta, Storage

log = logging.getLogger("proxy.streaming")


async def send_body(
    request: web.Request,
    response: web.StreamResponse,
    storage: Storage,
    key: str,
    byte_range: ByteRange | None,
    meta: ObjectMeta,
    client_timeout: float,
) -> web.StreamResponse:
    """Open the backend, send the headers, relay exactly ``Content-Length`` bytes.

    A client that accepts nothing for ``client_timeout`` seconds is cut off, so it cannot
    hold a backend connection (and a slot of its pool) for ever.
    """
    expected = byte_range.length if byte_range else meta.size
    response.content_length = expected
    if request.method == "HEAD" or expected == 0:
        await response.prepare(request)
        return response

    # Opening can still fail with a status (404 if the object just vanished, 502, 504).
    async with storage.open(key, byte_range, meta) as chunks:
        await response.prepare(request)
        sent = 0
        try:
            async for chunk in chunks:
                sent += len(chunk)
                if sent > expected:
                    raise BackendError("the backend sent more bytes than announced")
                async with asyncio.timeout(client_timeout):
                    await response.write(chunk)
            if sent != expected:
                raise BackendError("the backend body ended early")
        except ConnectionError:
            pass  # the client went away; leaving the `async with` releases the backend
        except TimeoutError:
            log.warning("aborting stream: client read nothing for %ss", client_timeout)
            abort(request)
        except ProxyError as exc:
            log.warning(
                "aborting stream: provider=%s error=%s sent=%d of %d",
                storage.name,
                exc.code,
                sent,
                expected,
            )
            abort(request)
        except Exception:
            # Past the headers nothing else can be said honestly: a 500 now would land
            # inside the body.
            log.exception("aborting stream: unexpected error")
            abort(request)
    return response


def abort(request: web.Request) -> None:
    """Drop the connection without a clean end, so the client sees a failed transfer."""
    transport = request.transport
    if transport is not None:
        transport.abort()
