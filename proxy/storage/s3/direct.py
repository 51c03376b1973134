"""The direct transport: object bytes over a plain pooled aiohttp GET of a presigned URL.

Each botocore call costs about a millisecond of CPU (events, signing, parsing); a
seek through it was ~1,000 a second. Here a presigned GET URL per key is made once
and reused for ``_REUSE`` seconds (it stays valid for ``_VALID``, so a reused one
never expires in flight), and Range and If-Match ride along unsigned as SigV4 query
signing allows. The URLs live only in this process's memory: never in a log line,
an error or a response. Any answer this path cannot judge (403, e.g. rotated
credentials; 5xx; a refused connection; a redirect) gets ``None``, and the caller
repeats the GET through botocore, with its retries and error names.
"""

from __future__ import annotations

import os
import re
import ssl
import time
import urllib.request
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import aiohttp
import yarl

from proxy.errors import BadBackendAnswer
from proxy.storage.base import ObjectMeta, read_chunks, stored_type
from proxy.storage.s3.botocore import answer_error, timestamp, translate
from proxy.storage.s3.settings import S3Provider

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

_ERROR_CODE = re.compile(rb"<Code>([^<]*)</Code>")


@asynccontextmanager
async def open_pool(settings: S3Provider) -> AsyncIterator[aiohttp.ClientSession | None]:
    """The pool of plain connections to the bucket; None behind an HTTP(S) proxy, where
    every byte goes through botocore, which honours it."""
    if {"http", "https"} & set(urllib.request.getproxies()):
        yield None
        return
    s = settings
    ca_bundle = os.environ.get("AWS_CA_BUNDLE") or None  # as botocore reads it
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=s.max_connections, ssl=ssl.create_default_context(cafile=ca_bundle)
        ),
        timeout=aiohttp.ClientTimeout(sock_connect=s.connect_timeout, sock_read=s.read_timeout),
        read_bufsize=s.read_buffer_bytes,
        auto_decompress=False,
    ) as http:
        yield http


class DirectGets:
    """GETs of object bytes over a plain aiohttp pool, with URLs botocore presigned."""

    _VALID = 900
    _REUSE = 300
    _KEYS = 4096

    def __init__(self, client: S3Client, http: aiohttp.ClientSession | None, bucket: str) -> None:
        self._client = client
        self._http = http
        self._bucket = bucket
        self._urls: OrderedDict[str, tuple[yarl.URL, float]] = OrderedDict()

    async def get(self, key: str, headers: dict[str, str]) -> aiohttp.ClientResponse | None:
        """A 200, 206 or 416 response (the caller closes it); None: ask botocore."""
        if self._http is None:
            return None
        url = await self._url(key)
        try:
            response = await self._http.get(url, headers=headers, allow_redirects=False)
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None
        if response.status in (200, 206, 416):
            return response
        try:
            if response.status in (404, 412):
                # Only the error's code tells a missing key from a missing bucket.
                detail = await response.content.read(4096) if response.status == 404 else b""
                code = _ERROR_CODE.search(detail)
                raise answer_error(code[1].decode() if code else "", response.status)()
            self._urls.pop(key, None)  # 403 (rotated credentials?), 5xx, a redirect: sign anew
            return None
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None
        finally:
            response.close()

    async def _url(self, key: str) -> yarl.URL:
        now = time.monotonic()
        cached = self._urls.get(key)
        if cached is not None and cached[1] > now:
            self._urls.move_to_end(key)
            return cached[0]
        with translate():
            url: str = await self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=self._VALID
            )
        # encoded=True: sent exactly as signed (yarl would re-encode "(", "!", "'" ...); parsed
        # once here, not on every GET.
        parsed = yarl.URL(url, encoded=True)
        self._urls[key] = (parsed, now + self._REUSE)
        if len(self._urls) > self._KEYS:
            self._urls.popitem(last=False)
        return parsed


def length(response: aiohttp.ClientResponse) -> int:
    if response.content_length is None:
        raise BadBackendAnswer("the storage backend sent no Content-Length")
    return response.content_length


def meta(response: aiohttp.ClientResponse, size: int) -> ObjectMeta:
    """What a GET's headers say of the object (``size``: all of it)."""
    modified = response.headers.get("Last-Modified")
    try:
        last_modified = timestamp(modified) if modified else None
    except (ValueError, TypeError):
        last_modified = None  # unreadable: served without one, as before
    return ObjectMeta(
        size=size,
        etag=response.headers.get("ETag"),
        last_modified=last_modified,
        content_type=stored_type(response.headers.get("Content-Type")),
    )


def body(response: aiohttp.ClientResponse, chunk_size: int) -> AsyncIterator[bytes]:
    """The body as the parser hands it over (no re-slicing), vendor errors translated."""
    content = response.content

    async def read(_: int) -> bytes:
        return await content.readany()

    return read_chunks(read, chunk_size, translate)
