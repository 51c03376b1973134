"""S3 provider (AWS, MinIO, R2, ...) through aiobotocore.

One client per provider, opened at start-up and shared by every request, with
a bounded connection pool. Ranges go to S3 as ``Range: bytes=a-b`` and the
GET carries ``If-Match`` with the ETag that ``stat`` saw, so a body never mixes
two versions of an object. Every botocore/aiohttp error is mapped onto
``proxy.errors`` in ``_translate``, the one place that knows vendor errors.
"""

from __future__ import annotations

import os
import re
import ssl
import time
import urllib.request
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import aiohttp
import yarl
from aiobotocore.config import AioConfig
from aiobotocore.httpsession import AIOHTTPSession
from aiobotocore.session import get_session
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.utils import parse_timestamp

from proxy.config import S3Provider
from proxy.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    BadRequest,
    NotFound,
    ProxyError,
)
from proxy.storage.base import (
    ByteRange,
    Fetched,
    ObjectMeta,
    read_chunks,
    started,
    stored_type,
)

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
# S3 refuses a SigV4 presigned URL whose X-Amz-Expires is above a week.
_MAX_PRESIGNED_SECONDS = 7 * 86400


class S3Storage:
    def __init__(self, settings: S3Provider, chunk_size: int = 256 * 1024) -> None:
        self.name = settings.name
        self._settings = settings
        self._chunk_size = chunk_size
        self._stack = AsyncExitStack()
        self._client: S3Client | None = None
        self._direct: _DirectGets | None = None

    def __repr__(self) -> str:
        return f"S3Storage({self.name!r}, bucket={self._settings.bucket!r})"

    async def start(self) -> None:
        s = self._settings
        config = AioConfig(
            max_pool_connections=s.max_connections,
            connect_timeout=s.connect_timeout,
            read_timeout=s.read_timeout,
            retries={"total_max_attempts": s.retries + 1, "mode": "standard"},
            s3={"addressing_style": s.addressing_style},
            # SigV4 everywhere, presigned URLs included (SigV2 is refused by newer regions).
            signature_version="s3v4",
            # Whole-object checksums cost CPU on every byte and say nothing about ranges.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            http_session_cls=_session_class(s.read_buffer_bytes),
        )
        session = get_session()
        # botocore's default parses each Last-Modified with dateutil: ~8 % of a seek's CPU.
        factory = session.get_component("response_parser_factory")
        factory.set_parser_defaults(timestamp_parser=_timestamp)
        self._client = await self._stack.enter_async_context(
            session.create_client(
                "s3",
                region_name=s.region,
                endpoint_url=s.endpoint_url,
                aws_access_key_id=s.access_key_id,
                aws_secret_access_key=s.secret_access_key,
                aws_session_token=s.session_token,
                config=config,
            )
        )

        # Behind an HTTP(S) proxy every byte goes through botocore, which honours it.
        http = None
        if not {"http", "https"} & set(urllib.request.getproxies()):
            ca_bundle = os.environ.get("AWS_CA_BUNDLE") or None  # as botocore reads it
            http = await self._stack.enter_async_context(
                aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(
                        limit=s.max_connections, ssl=ssl.create_default_context(cafile=ca_bundle)
                    ),
                    timeout=aiohttp.ClientTimeout(
                        sock_connect=s.connect_timeout, sock_read=s.read_timeout
                    ),
                    read_bufsize=s.read_buffer_bytes,
                    auto_decompress=False,
                )
            )
        self._direct = _DirectGets(self._client, http, s.bucket)

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None
        self._direct = None

    @property
    def client(self) -> S3Client:
        return started(self._client, "S3")

    async def check(self) -> None:
        with _translate():
            await self.client.list_objects_v2(Bucket=self._settings.bucket, MaxKeys=1)

    async def presign(self, key: str, expires_in: int) -> str | None:
        if expires_in > _MAX_PRESIGNED_SECONDS:
            # The client asked for more than the backend can grant: its mistake (400), and
            # better now than a URL that S3 refuses when it is used.
            raise BadRequest(
                f"S3 presigned URLs live at most 7 days ({_MAX_PRESIGNED_SECONDS} seconds)"
            )
        with _translate():
            url: str = await self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self._settings.bucket, "Key": key},
                ExpiresIn=expires_in,
            )
        return url

    async def stat(self, key: str, *, scope: str = "") -> ObjectMeta:
        with _translate():
            head = await self.client.head_object(Bucket=self._settings.bucket, Key=key)
        return ObjectMeta(
            size=head["ContentLength"],
            etag=head.get("ETag"),
            last_modified=head.get("LastModified"),
            content_type=stored_type(head.get("ContentType")),
        )

    @asynccontextmanager
    async def fetch(
        self, key: str, wanted: str | None, *, scope: str = ""
    ) -> AsyncIterator[Fetched | None]:
        """One GET for metadata and body: a seek costs one round trip, not two."""
        headers = {"Range": wanted} if wanted is not None else {}
        direct = started(self._direct, "S3")
        response = await direct.get(key, headers)
        if response is None:  # botocore's path: its retries, its error names
            async with self._fetch_with_botocore(key, wanted) as fetched:
                yield fetched
            return
        try:
            if response.status == 416:
                yield None  # unsatisfiable: the caller learns the size from stat
                return
            size, served = _extent(response.headers.get("Content-Range"), _length(response))
            yield Fetched(_direct_meta(response, size), served, _body(response, self._chunk_size))
        finally:
            response.close()  # after the whole body the connection is already back in the pool

    @asynccontextmanager
    async def open(
        self, key: str, byte_range: ByteRange | None, meta: ObjectMeta, *, scope: str = ""
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        headers = {}
        if byte_range is not None:
            headers["Range"] = f"bytes={byte_range.start}-{byte_range.end}"
        if meta.etag:
            headers["If-Match"] = meta.etag
        direct = started(self._direct, "S3")
        response = await direct.get(key, headers)
        if response is None:
            async with self._open_with_botocore(key, byte_range, meta) as chunks:
                yield chunks
            return
        try:
            if response.status == 416:
                raise BackendError("the object changed while it was being served")
            _, served = _extent(response.headers.get("Content-Range"), _length(response))
            if served != byte_range:
                raise BackendError("the storage backend answered another range")
            yield _body(response, self._chunk_size)
        finally:
            response.close()

    @asynccontextmanager
    async def _fetch_with_botocore(
        self, key: str, wanted: str | None
    ) -> AsyncIterator[Fetched | None]:
        params: dict[str, Any] = {"Bucket": self._settings.bucket, "Key": key}
        if wanted is not None:
            params["Range"] = wanted
        try:
            with _translate():
                response = await self.client.get_object(**params)
        except BackendError as exc:
            if _status(exc.__cause__) != 416:
                raise
            response = None
        if response is None:
            yield None
            return
        body = response["Body"]
        try:
            size, served = _extent(response.get("ContentRange"), response["ContentLength"])
            meta = ObjectMeta(
                size=size,
                etag=response.get("ETag"),
                last_modified=response.get("LastModified"),
                content_type=stored_type(response.get("ContentType")),
            )
            yield Fetched(meta, served, read_chunks(body.read, self._chunk_size, _translate))
        finally:
            body.close()

    @asynccontextmanager
    async def _open_with_botocore(
        self, key: str, byte_range: ByteRange | None, meta: ObjectMeta
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        params: dict[str, Any] = {"Bucket": self._settings.bucket, "Key": key}
        if byte_range is not None:
            params["Range"] = f"bytes={byte_range.start}-{byte_range.end}"
        if meta.etag:
            params["IfMatch"] = meta.etag
        with _translate():
            response = await self.client.get_object(**params)
        body = response["Body"]
        try:
            yield read_chunks(body.read, self._chunk_size, _translate)
        finally:
            # Closing a body that was not read to the end drops its connection
            # instead of returning it to the pool half-read.
            body.close()


class _DirectGets:
    """GETs of object bytes over a plain aiohttp pool, with URLs botocore presigned.

    Each botocore call costs about a millisecond of CPU (events, signing, parsing);
    a seek through it was ~1,000 a second. Here a presigned GET URL per key is made
    once and reused for ``_REUSE`` seconds (it stays valid for ``_VALID``, so a
    reused one never expires in flight), and Range and If-Match ride along unsigned
    as SigV4 query signing allows. The URLs live only in this process's memory:
    never in a log line, an error or a response. Any answer this path cannot judge
    (403, e.g. rotated credentials; 5xx; a refused connection; a redirect) gets
    ``None``, and the caller repeats the GET through botocore, with its retries
    and error names.
    """

    _VALID = 900
    _REUSE = 300
    _KEYS = 4096

    def __init__(self, client: S3Client, http: aiohttp.ClientSession | None, bucket: str) -> None:
        self._client = client
        self._http = http
        self._bucket = bucket
        self._urls: OrderedDict[str, tuple[str, float]] = OrderedDict()

    async def get(self, key: str, headers: dict[str, str]) -> aiohttp.ClientResponse | None:
        """A 200, 206 or 416 response (the caller closes it); None: ask botocore."""
        if self._http is None:
            return None
        url = await self._url(key)
        try:
            # encoded=True: sent exactly as signed (yarl would re-encode "(", "!", "'" ...).
            response = await self._http.get(
                yarl.URL(url, encoded=True), headers=headers, allow_redirects=False
            )
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None
        if response.status in (200, 206, 416):
            return response
        try:
            if response.status == 404:
                # Only the error's code tells a missing key from a missing bucket.
                detail = await response.content.read(4096)
                if b"<Code>NoSuchBucket</Code>" in detail:
                    raise BackendError("the bucket does not exist")
                raise NotFound()
            if response.status == 412:
                raise BackendError("the object changed while it was being served")
            self._urls.pop(key, None)  # 403 (rotated credentials?), 5xx, a redirect: sign anew
            return None
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None
        finally:
            response.close()

    async def _url(self, key: str) -> str:
        now = time.monotonic()
        cached = self._urls.get(key)
        if cached is not None and cached[1] > now:
            self._urls.move_to_end(key)
            return cached[0]
        with _translate():
            url: str = await self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=self._VALID
            )
        self._urls[key] = (url, now + self._REUSE)
        if len(self._urls) > self._KEYS:
            self._urls.popitem(last=False)
        return url


def _length(response: aiohttp.ClientResponse) -> int:
    if response.content_length is None:
        raise BackendError("the storage backend sent no Content-Length")
    return response.content_length


def _direct_meta(response: aiohttp.ClientResponse, size: int) -> ObjectMeta:
    modified = response.headers.get("Last-Modified")
    try:
        last_modified = parsedate_to_datetime(modified) if modified else None
    except (ValueError, TypeError):
        last_modified = None
    if last_modified is not None and last_modified.tzinfo is None:
        last_modified = last_modified.replace(tzinfo=UTC)  # "-0000": an HTTP-date is UTC
    return ObjectMeta(
        size=size,
        etag=response.headers.get("ETag"),
        last_modified=last_modified,
        content_type=stored_type(response.headers.get("Content-Type")),
    )


def _body(response: aiohttp.ClientResponse, chunk_size: int) -> AsyncIterator[bytes]:
    """The body as the parser hands it over (no re-slicing), vendor errors translated."""
    content = response.content

    async def read(_: int) -> bytes:
        return await content.readany()

    return read_chunks(read, chunk_size, _translate)


def _session_class(read_buffer: int) -> type[AIOHTTPSession]:
    """aiobotocore's HTTP session, with aiohttp's per-response read buffer set to ``read_buffer``.

    aiohttp stops reading a response once twice its ``read_bufsize`` waits unread.
    The default (64 KiB) keeps a slow client's stream small; 1 MiB relayed a 256 MiB
    object 1.16x faster with 24 % less CPU (medians of 6), at up to 2 MiB held per
    stream whose client is slower than the backend. aiobotocore does not pass the
    option through, so the session it creates is given it here; a test
    (tests/functional/test_s3_session.py) fails if a new aiobotocore breaks this.
    """

    class Session(AIOHTTPSession):
        async def _get_session(self, proxy_url: str | None) -> aiohttp.ClientSession:
            session: aiohttp.ClientSession = await super()._get_session(proxy_url)  # type: ignore[misc]
            session._read_bufsize = read_buffer
            return session

    return Session


_CONTENT_RANGE = re.compile(r"bytes ([0-9]+)-([0-9]+)/([0-9]+)")


def _extent(content_range: str | None, length: int) -> tuple[int, ByteRange | None]:
    """The object's size and the range a GET answered (None: the whole object)."""
    if content_range is None:
        return length, None
    match = _CONTENT_RANGE.fullmatch(content_range)
    if match is None:
        raise BackendError("the storage backend sent an unusable Content-Range")
    start, end, size = (int(group) for group in match.groups())
    if end - start + 1 != length or end >= size:
        raise BackendError("the storage backend sent an inconsistent Content-Range")
    return size, ByteRange(start, end)


def _timestamp(value: str) -> datetime:
    """A timestamp S3 sent: an HTTP-date header or an ISO 8601 body field, else botocore's."""
    try:
        iso = value[:1].isdigit()
        parsed = datetime.fromisoformat(value) if iso else parsedate_to_datetime(value)
    except (ValueError, TypeError, IndexError):
        parsed = None
    if parsed is not None and parsed.tzinfo is not None:
        return parsed
    result: datetime = parse_timestamp(value)
    return result


def _status(exc: BaseException | None) -> int | None:
    if isinstance(exc, ClientError):
        status: int | None = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status
    return None


@contextmanager
def _translate() -> Iterator[None]:
    """Map every vendor error onto the proxy's tree; vendor detail stays in ``__cause__``."""
    try:
        yield
    except ProxyError:
        raise
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "NoSuchBucket":
            raise BackendError("the bucket does not exist") from exc
        if code in _NOT_FOUND_CODES or status == 404:
            raise NotFound() from exc
        if code == "PreconditionFailed" or status == 412:
            raise BackendError("the object changed while it was being served") from exc
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch") or status == 403:
            raise BackendError("the storage backend refused the proxy's credentials") from exc
        raise BackendError() from exc
    except (TimeoutError, ConnectTimeoutError, ReadTimeoutError) as exc:
        raise BackendTimeout() from exc
    except EndpointConnectionError as exc:
        raise BackendUnavailable() from exc
    except (BotoCoreError, aiohttp.ClientError, OSError) as exc:
        raise BackendError() from exc
