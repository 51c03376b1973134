"""Azure Blob provider through azure-storage-blob (aio); the ``azure`` extra.

Ranges go down as explicit offset and length (never a suffix form, which
Azurite mishandles). The downloader reads each request into memory whole, so
its first and later requests are sized to the proxy's chunk size: a range read
never fetches more than it must, and a stream holds one chunk at a time. The
GET carries ``If-Match`` with the ETag that ``stat`` saw. What the SDK raises
becomes the proxy's errors by one table, ``VENDOR_ERRORS``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from azure.core import MatchConditions
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import AioHttpTransport
from azure.storage.blob import BlobProperties, BlobSasPermissions, generate_blob_sas
from azure.storage.blob.aio import BlobServiceClient, ContainerClient

from proxy.errors import (
    BackendError,
    BackendRefused,
    BackendTimeout,
    BackendUnavailable,
    CannotPresign,
    ContainerMissing,
    NotFound,
    ObjectChanged,
    ProxyError,
)
from proxy.storage.azure.settings import AzureProvider
from proxy.storage.base import (
    ByteRange,
    Listed,
    ObjectMeta,
    VendorErrors,
    started,
    stored_type,
    translator,
)


def _missing(exc: ResourceNotFoundError) -> type[ProxyError]:
    return ContainerMissing if getattr(exc, "error_code", None) == "ContainerNotFound" else NotFound


def _answered(exc: HttpResponseError) -> type[ProxyError]:
    return BackendRefused if exc.status_code in (401, 403) else BackendError


# What the Azure SDK and aiohttp raise -> the proxy's errors, most specific first.
VENDOR_ERRORS: VendorErrors = (
    (ResourceNotFoundError, _missing),
    (ResourceModifiedError, ObjectChanged),
    (ClientAuthenticationError, BackendRefused),
    (HttpResponseError, _answered),
    ((ServiceRequestTimeoutError, ServiceResponseTimeoutError, TimeoutError), BackendTimeout),
    (ServiceRequestError, BackendUnavailable),
    ((AzureError, aiohttp.ClientError, OSError), BackendError),
)
translate = translator(VENDOR_ERRORS)

# Blobs asked for per List Blobs call (Azure's default and maximum is 5000).
LIST_PAGE = 1000


class AzureStorage:
    def __init__(self, settings: AzureProvider, chunk_size: int = 256 * 1024) -> None:
        self.name = settings.name
        self._settings = settings
        # Azure's downloader buffers each request whole: 1 MiB keeps that small and the
        # number of requests per stream reasonable.
        self._get_size = max(chunk_size, 1024 * 1024)
        self._session: aiohttp.ClientSession | None = None
        self._service: BlobServiceClient | None = None
        self._container: ContainerClient | None = None

    def __repr__(self) -> str:
        return f"AzureStorage({self.name!r}, container={self._settings.container!r})"

    async def start(self) -> None:
        s = self._settings
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=s.max_connections)
        )
        # Timeouts go on the transport itself: a transport passed in ignores the client's.
        transport = AioHttpTransport(
            session=self._session,
            session_owner=False,
            connection_timeout=s.connect_timeout,
            read_timeout=s.read_timeout,
        )
        options: dict[str, Any] = {
            "transport": transport,
            "max_single_get_size": self._get_size,
            "max_chunk_get_size": self._get_size,
            "retry_total": s.retries,
        }
        if s.connection_string:
            self._service = BlobServiceClient.from_connection_string(s.connection_string, **options)
        else:
            url = s.endpoint_url or f"https://{s.account_name}.blob.core.windows.net"
            credential = AzureNamedKeyCredential(s.account_name or "", s.account_key or "")
            self._service = BlobServiceClient(url, credential=credential, **options)
        self._container = self._service.get_container_client(s.container)

    async def close(self) -> None:
        if self._service is not None:
            await self._service.close()
        if self._session is not None:
            await self._session.close()
        self._service = self._container = None
        self._session = None

    @property
    def container(self) -> ContainerClient:
        return started(self._container, "Azure")

    async def check(self) -> None:
        with translate():
            await self.container.get_container_properties()

    async def stat(self, key: str, *, scope: str = "") -> ObjectMeta:
        with translate():
            props = await self.container.get_blob_client(key).get_blob_properties()
        return _meta(props)

    async def listing(
        self, folder: str, start_after: str = "", *, scope: str = ""
    ) -> AsyncIterator[list[Listed]]:
        """List Blobs with a "/" delimiter, one page per call as the caller gets that far.

        Azure has no start-after: the keys up to ``start_after`` are listed and skipped."""
        if folder and not folder.endswith("/"):
            return
        pages = self.container.walk_blobs(
            name_starts_with=folder, delimiter="/", results_per_page=LIST_PAGE
        ).by_page()
        while True:
            with translate():
                try:
                    page = await pages.__anext__()
                except StopAsyncIteration:
                    return
                items = [item async for item in page]  # already fetched: no further call
            yield [
                Listed(item.name, _meta(item))
                for item in items
                # A BlobPrefix is a subfolder; a folder's own marker blob is not inside it.
                if isinstance(item, BlobProperties)
                and item.name != folder
                and "/" not in item.name[len(folder) :]
                and item.name > start_after
            ]

    @asynccontextmanager
    async def open(
        self, key: str, byte_range: ByteRange | None, meta: ObjectMeta, *, scope: str = ""
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        offset = byte_range.start if byte_range else 0
        length = byte_range.length if byte_range else meta.size
        with translate():
            downloader = await self.container.get_blob_client(key).download_blob(
                offset=offset,
                length=length,
                etag=meta.etag,
                match_condition=MatchConditions.IfNotModified,
                max_concurrency=1,
            )
        yield self._chunks(downloader)

    async def _chunks(self, downloader: Any) -> AsyncIterator[bytes]:
        chunks = downloader.chunks()
        while True:
            with translate():
                try:
                    chunk: bytes = await chunks.__anext__()
                except StopAsyncIteration:
                    return
            yield chunk

    async def presign(self, key: str, expires_in: int) -> str | None:
        """A read-only SAS URL for the blob, valid for ``expires_in`` seconds."""
        s = self._settings
        service = started(self._service, "Azure")
        credential = service.credential
        account_key = getattr(credential, "account_key", None) or s.account_key
        if not account_key:
            raise CannotPresign("native Azure URLs need the account key")
        sas = generate_blob_sas(
            account_name=service.account_name or s.account_name or "",
            container_name=s.container,
            blob_name=key,
            account_key=account_key,
            permission=BlobSasPermissions(read=True),
            expiry=datetime.now(UTC) + timedelta(seconds=expires_in),
        )
        return f"{self.container.get_blob_client(key).url}?{sas}"


def _meta(props: BlobProperties) -> ObjectMeta:
    """What a blob's properties (``stat``'s, or an item of a listing) say of it. A listing
    sends the ETag unquoted, the properties' header quoted: both become the quoted form."""
    modified = props.last_modified
    etag = props.etag
    return ObjectMeta(
        size=props.size,
        etag=etag if etag.startswith('"') else f'"{etag}"',
        last_modified=modified.astimezone(UTC) if modified else None,
        content_type=stored_type(props.content_settings.content_type),
    )
