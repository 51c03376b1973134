"""Google Cloud Storage provider through gcloud-aio-storage.

One aiohttp session per provider with a bounded pool. gcloud-aio's default
timeout is a *total* one, which would cut any stream longer than it; every
call here passes an ``aiohttp.ClientTimeout`` with a connect and a per-read
timeout instead, so a long stream is fine and a stall is not. The object's
generation is its ETag, and the body must come from that same generation.
What aiohttp and gcloud-aio raise becomes the proxy's errors by one table,
``VENDOR_ERRORS``.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from gcloud.aio.storage import Storage as GcsClient

from proxy.errors import (
    BackendError,
    BackendRefused,
    BackendTimeout,
    BackendUnavailable,
    BadRequest,
    CannotPresign,
    NotFound,
    ObjectChanged,
    ProxyError,
    StoreMissing,
)
from proxy.storage.base import (
    ByteRange,
    Listed,
    ObjectMeta,
    VendorErrors,
    range_header,
    read_chunks,
    started,
    stored_type,
    translator,
)
from proxy.storage.gcs.settings import GcsProvider

_PUBLIC_HOST = "https://storage.googleapis.com"
_MAX_SIGNED_SECONDS = 7 * 86400  # the V4 limit
_NO_KEY = "native GCS URLs need service-account credentials with a key"
# Objects asked for per list call (GCS's own maximum).
LIST_PAGE = 1000

_BY_STATUS: dict[int, type[ProxyError]] = {
    404: NotFound,
    412: ObjectChanged,
    401: BackendRefused,
    403: BackendRefused,
}


def _answered(exc: aiohttp.ClientResponseError) -> type[ProxyError]:
    return _BY_STATUS.get(exc.status, BackendError)


# What aiohttp and gcloud-aio raise -> the proxy's errors, most specific first.
VENDOR_ERRORS: VendorErrors = (
    (aiohttp.ClientResponseError, _answered),
    ((TimeoutError, aiohttp.ServerTimeoutError), BackendTimeout),
    (aiohttp.ClientConnectorError, BackendUnavailable),
    ((aiohttp.ClientError, OSError, ValueError, KeyError), BackendError),
)
translate = translator(VENDOR_ERRORS)


class GcsStorage:
    def __init__(self, settings: GcsProvider, chunk_size: int = 256 * 1024) -> None:
        self.name = settings.name
        self._settings = settings
        self._chunk_size = chunk_size
        self._session: aiohttp.ClientSession | None = None
        self._client: GcsClient | None = None
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.connect_timeout, sock_read=settings.read_timeout
        )
        self._service = json.loads(settings.credentials_json) if settings.credentials_json else None

    def __repr__(self) -> str:
        return f"GcsStorage({self.name!r}, bucket={self._settings.bucket!r})"

    async def start(self) -> None:
        s = self._settings
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=s.max_connections),
            timeout=self._timeout,
            auto_decompress=False,  # bytes as stored: the length is the metadata's
        )
        service_file = io.StringIO(s.credentials_json) if s.credentials_json else None
        self._client = GcsClient(
            service_file=service_file,
            session=self._session,  # type: ignore[arg-type] # gcloud-aio's alias of this type
            api_root=s.endpoint_url,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = self._client = None

    @property
    def client(self) -> GcsClient:
        return started(self._client, "GCS")

    async def check(self) -> None:
        try:
            with translate():
                await self.client.list_objects(
                    self._settings.bucket,
                    params={"maxResults": "1"},
                    timeout=self._timeout,  # type: ignore[arg-type]
                )
        except NotFound:
            raise StoreMissing() from None

    async def stat(self, key: str, *, scope: str = "") -> ObjectMeta:
        with translate():
            doc = await self.client.download_metadata(
                self._settings.bucket,
                key,
                timeout=self._timeout,  # type: ignore[arg-type]
            )
            # Inside the translation too: a document without these is a backend failure.
            return _meta(doc)

    async def listing(
        self, folder: str, start_after: str = "", *, scope: str = ""
    ) -> AsyncIterator[list[Listed]]:
        """GCS's objects list with a "/" delimiter, a page per call as the caller gets that far.

        GCS's ``startOffset`` is inclusive: a key equal to ``start_after`` is skipped here."""
        if folder and not folder.endswith("/"):
            return
        params = {"prefix": folder, "delimiter": "/", "maxResults": str(LIST_PAGE)}
        if start_after:
            params["startOffset"] = start_after
        while True:
            try:
                with translate():
                    page = await self.client.list_objects(
                        self._settings.bucket,
                        params=params,
                        timeout=self._timeout,  # type: ignore[arg-type]
                    )
                    listed = [
                        Listed(item["name"], _meta(item))
                        for item in page.get("items", ())
                        # A folder's own placeholder object ("folder/") is not inside it.
                        if item["name"] != folder and item["name"] > start_after
                    ]
            except NotFound:
                raise StoreMissing() from None  # a listing's only 404: no such bucket
            yield listed
            token = page.get("nextPageToken")
            if not token:
                return
            params["pageToken"] = token

    @asynccontextmanager
    async def open(
        self, key: str, byte_range: ByteRange | None, meta: ObjectMeta, *, scope: str = ""
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        generation = (meta.etag or "").strip('"')
        # "Accept-Encoding: gzip" keeps a gzip-stored object as stored, so its length is the
        # metadata's and Range applies (decompressive transcoding would ignore both).
        headers = {"Accept-Encoding": "gzip"}
        if byte_range is not None:
            headers["Range"] = range_header(byte_range)
        with translate():
            stream = await self.client._download_stream(
                self._settings.bucket,
                key,
                headers=headers,
                params={"alt": "media", "ifGenerationMatch": generation},
                timeout=self._timeout,  # type: ignore[arg-type]
            )
        response: aiohttp.ClientResponse = stream._response
        try:
            # Emulators ignore ifGenerationMatch; the generation header is checked everywhere.
            served = response.headers.get("x-goog-generation")
            if served is not None and served != generation:
                raise ObjectChanged()
            yield read_chunks(response.content.read, self._chunk_size, translate)
        finally:
            response.close()

    async def presign(self, key: str, expires_in: int) -> str | None:
        """A V4 signed URL, signed with the service account's key (RSA-SHA256)."""
        if self._service is None or "private_key" not in self._service:
            raise CannotPresign(_NO_KEY)
        if expires_in > _MAX_SIGNED_SECONDS:
            # The client's request, not the backend, is at fault: a 400, as for S3.
            raise BadRequest(f"GCS signed URLs live at most 7 days ({_MAX_SIGNED_SECONDS} seconds)")
        host = (self._settings.endpoint_url or _PUBLIC_HOST).rstrip("/")
        if "client_email" not in self._service:
            raise CannotPresign(_NO_KEY)
        return v4_signed_url(
            host,
            self._settings.bucket,
            key,
            self._service["client_email"],
            self._service["private_key"],
            expires_in,
            datetime.now(UTC),
        )


def _meta(doc: Mapping[str, Any]) -> ObjectMeta:
    """What an object resource (``stat``'s, or an item of a listing) says of the object."""
    updated = doc.get("updated")
    return ObjectMeta(
        size=int(doc["size"]),
        # The generation names one version of the object; ``open`` holds it to that.
        etag=f'"{doc["generation"]}"',
        last_modified=datetime.fromisoformat(updated) if updated else None,
        content_type=stored_type(doc.get("contentType")),
    )


def v4_signed_url(
    host: str,
    bucket: str,
    key: str,
    client_email: str,
    private_key_pem: str,
    expires_in: int,
    now: datetime,
) -> str:
    """The V4 signing process for a GET, as GCS documents it (GOOG4-RSA-SHA256)."""
    netloc = host.split("://", 1)[1]
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{now:%Y%m%d}/auto/storage/goog4_request"
    path = f"/{bucket}/{quote(key, safe='/~')}"
    query = {
        "X-Goog-Algorithm": "GOOG4-RSA-SHA256",
        "X-Goog-Credential": f"{client_email}/{scope}",
        "X-Goog-Date": stamp,
        "X-Goog-Expires": str(expires_in),
        "X-Goog-SignedHeaders": "host",
    }
    canonical_query = "&".join(
        f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in sorted(query.items())
    )
    canonical = "\n".join(
        ("GET", path, canonical_query, f"host:{netloc}\n", "host", "UNSIGNED-PAYLOAD")
    )
    to_sign = "\n".join(
        ("GOOG4-RSA-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest())
    )
    key_obj = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    if not isinstance(key_obj, rsa.RSAPrivateKey):
        raise CannotPresign("the service account's key is not an RSA key")
    signature = key_obj.sign(to_sign.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()
    return f"{host}{path}?{canonical_query}&X-Goog-Signature={signature}"
