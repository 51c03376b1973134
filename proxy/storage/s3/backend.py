"""``S3Storage``: the ``Storage`` of an S3 provider, over its two transports.

Ranges go to S3 as ``Range: bytes=a-b`` and a body opened after ``stat`` carries
``If-Match`` with the ETag that ``stat`` saw, so a body never mixes two versions of
an object. Bytes go the direct way first (``direct``), botocore's when it cannot
judge the answer (``botocore``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

import aiohttp

from proxy.errors import BackendError, BadBackendAnswer, BadRequest, ObjectChanged
from proxy.http.ranges import parse_content_range
from proxy.storage.base import (
    ByteRange,
    Fetched,
    Listed,
    ObjectMeta,
    range_header,
    read_chunks,
    started,
)
from proxy.storage.s3 import botocore, direct
from proxy.storage.s3.settings import S3Provider

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

# S3 refuses a SigV4 presigned URL whose X-Amz-Expires is above a week.
_MAX_PRESIGNED_SECONDS = 7 * 86400
# Keys asked for per ListObjectsV2 call (S3's own maximum).
LIST_PAGE = 1000


class S3Storage:
    def __init__(self, settings: S3Provider, chunk_size: int = 256 * 1024) -> None:
        self.name = settings.name
        self._settings = settings
        self._chunk_size = chunk_size
        self._stack = AsyncExitStack()
        self._client: S3Client | None = None
        self._direct: direct.DirectGets | None = None

    def __repr__(self) -> str:
        return f"S3Storage({self.name!r}, bucket={self._settings.bucket!r})"

    async def start(self) -> None:
        s = self._settings
        self._client = await self._stack.enter_async_context(botocore.open_client(s))
        http = await self._stack.enter_async_context(direct.open_pool(s))
        self._direct = direct.DirectGets(self._client, http, s.bucket)

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None
        self._direct = None

    @property
    def client(self) -> S3Client:
        return started(self._client, "S3")

    async def check(self) -> None:
        with botocore.translate():
            await self.client.list_objects_v2(Bucket=self._settings.bucket, MaxKeys=1)

    async def presign(self, key: str, expires_in: int) -> str | None:
        if expires_in > _MAX_PRESIGNED_SECONDS:
            # The client asked for more than the backend can grant: its mistake (400), and
            # better now than a URL that S3 refuses when it is used.
            raise BadRequest(
                f"S3 presigned URLs live at most 7 days ({_MAX_PRESIGNED_SECONDS} seconds)"
            )
        with botocore.translate():
            url: str = await self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self._settings.bucket, "Key": key},
                ExpiresIn=expires_in,
            )
        return url

    async def stat(self, key: str, *, scope: str = "") -> ObjectMeta:
        """The object's metadata from a one-byte ranged GET over the direct pool (its
        ``Content-Range`` gives the size; its other headers are HEAD's), so a HEAD or a
        conditional GET costs what a seek does; botocore's HEAD where that cannot answer (an
        empty object, a store that ignores Range, anything the direct path cannot judge)."""
        response = await started(self._direct, "S3").get(key, {"Range": "bytes=0-0"})
        if response is not None:
            try:
                if response.status == 206:
                    size, _ = _extent(
                        response.headers.get("Content-Range"), direct.length(response)
                    )
                    with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                        # The one byte: read, the connection goes back to the pool.
                        await response.read()
                    return direct.meta(response, size)
            finally:
                response.close()  # a 200 (Range ignored: the whole body) is dropped unread
        with botocore.translate():
            head = await self.client.head_object(Bucket=self._settings.bucket, Key=key)
        return botocore.meta(head, head["ContentLength"])

    async def listing(
        self, folder: str, start_after: str = "", *, scope: str = ""
    ) -> AsyncIterator[list[Listed]]:
        """ListObjectsV2 with a "/" delimiter, one page per call as the caller gets that far."""
        if folder and not folder.endswith("/"):
            return
        params: dict[str, Any] = {
            "Bucket": self._settings.bucket,
            "Prefix": folder,
            "Delimiter": "/",
            "MaxKeys": LIST_PAGE,
        }
        if start_after:
            params["StartAfter"] = start_after
        while True:
            with botocore.translate():
                page = await self.client.list_objects_v2(**params)
            # A folder's own marker object ("folder/") is not inside it.
            yield [
                Listed(item["Key"], _listed_meta(item))
                for item in page.get("Contents", ())
                # An entry without its size (a store's oddity) is no object to play.
                if "Size" in item and item["Key"] != folder and item["Key"] > start_after
            ]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            params["ContinuationToken"] = token

    @asynccontextmanager
    async def fetch(
        self, key: str, wanted: str | None, *, scope: str = ""
    ) -> AsyncIterator[Fetched | None]:
        """One GET for metadata and body: a seek costs one round trip, not two."""
        response = await started(self._direct, "S3").get(key, _headers(wanted, None))
        if response is None:  # botocore's path: its retries, its error names
            async with self._fetch_with_botocore(key, wanted) as fetched:
                yield fetched
            return
        try:
            if response.status == 416:
                yield None  # unsatisfiable: the caller learns the size from stat
                return
            size, served = _extent(response.headers.get("Content-Range"), direct.length(response))
            chunks = direct.body(response, self._chunk_size)
            yield Fetched(direct.meta(response, size), served, chunks)
        finally:
            response.close()  # after the whole body the connection is already back in the pool

    @asynccontextmanager
    async def open(
        self, key: str, byte_range: ByteRange | None, meta: ObjectMeta, *, scope: str = ""
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        wanted = range_header(byte_range) if byte_range is not None else None
        response = await started(self._direct, "S3").get(key, _headers(wanted, meta.etag))
        if response is None:
            async with self._open_with_botocore(key, wanted, meta.etag) as chunks:
                yield chunks
            return
        try:
            if response.status == 416:
                raise ObjectChanged()
            _, served = _extent(response.headers.get("Content-Range"), direct.length(response))
            if served != byte_range:
                raise BadBackendAnswer()
            yield direct.body(response, self._chunk_size)
        finally:
            response.close()

    @asynccontextmanager
    async def _fetch_with_botocore(
        self, key: str, wanted: str | None
    ) -> AsyncIterator[Fetched | None]:
        try:
            response = await self._get_object(key, wanted, None)
        except BackendError as exc:
            if botocore.status_of(exc.__cause__) != 416:
                raise
            yield None
            return
        body = response["Body"]
        try:
            size, served = _extent(response.get("ContentRange"), response["ContentLength"])
            chunks = read_chunks(body.read, self._chunk_size, botocore.translate)
            yield Fetched(botocore.meta(response, size), served, chunks)
        finally:
            body.close()

    @asynccontextmanager
    async def _open_with_botocore(
        self, key: str, wanted: str | None, etag: str | None
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        response = await self._get_object(key, wanted, etag)
        body = response["Body"]
        try:
            yield read_chunks(body.read, self._chunk_size, botocore.translate)
        finally:
            # Closing a body that was not read to the end drops its connection
            # instead of returning it to the pool half-read.
            body.close()

    async def _get_object(self, key: str, wanted: str | None, etag: str | None) -> Any:
        params: dict[str, Any] = {"Bucket": self._settings.bucket, "Key": key}
        if wanted is not None:
            params["Range"] = wanted
        if etag:
            params["IfMatch"] = etag
        with botocore.translate():
            return await self.client.get_object(**params)


def _listed_meta(item: Any) -> ObjectMeta:
    """What a ListObjectsV2 entry says of its object, as ``stat`` would say it: the ETag
    as HEAD sends it (quoted; a listing from some S3-compatible stores is not), no type."""
    etag = item.get("ETag")
    if etag and not etag.startswith(('"', 'W/"')):
        etag = f'"{etag}"'
    return botocore.meta({"ETag": etag, "LastModified": item.get("LastModified")}, item["Size"])


def _headers(wanted: str | None, etag: str | None) -> dict[str, str]:
    """A direct GET's headers: the same Range and If-Match that botocore's would send."""
    headers = {}
    if wanted is not None:
        headers["Range"] = wanted
    if etag:
        headers["If-Match"] = etag
    return headers


def _extent(content_range: str | None, length: int) -> tuple[int, ByteRange | None]:
    """The object's size and the range a GET answered (None: the whole object)."""
    if content_range is None:
        return length, None
    parsed = parse_content_range(content_range)
    if parsed is None:
        raise BadBackendAnswer("the storage backend sent an unusable Content-Range")
    served, size = parsed
    if served.length != length:
        raise BadBackendAnswer("the storage backend sent an inconsistent Content-Range")
    return size, served
