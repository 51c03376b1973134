"""The aiobotocore transport: the client, its timestamp parser, and S3's errors mapped.

Everything but the bytes of a plain GET goes this way (HEAD, the readiness list,
presigning, and any GET the direct path cannot judge), with botocore's retries and
error names. ``VENDOR_ERRORS`` is the one table that turns what botocore and aiohttp
raise into the proxy's errors; ``answer_error`` reads an S3 error answer for it and
for the direct path alike.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import aiohttp
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

from proxy.errors import (
    BackendError,
    BackendRefused,
    BackendTimeout,
    BackendUnavailable,
    NotFound,
    ObjectChanged,
    ProxyError,
    StoreMissing,
)
from proxy.storage.base import ObjectMeta, VendorErrors, stored_type, translator
from proxy.storage.s3.settings import S3Provider

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

_REFUSED = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"})
# An S3 error answer -> the proxy's error, most specific first: (error codes, HTTP status).
_ANSWERS: tuple[tuple[frozenset[str], int | None, type[ProxyError]], ...] = (
    (frozenset({"NoSuchBucket"}), None, StoreMissing),
    (frozenset({"404", "NoSuchKey", "NotFound"}), 404, NotFound),
    (frozenset({"PreconditionFailed"}), 412, ObjectChanged),
    (_REFUSED, 403, BackendRefused),
)


def answer_error(code: str, status: int | None) -> type[ProxyError]:
    """The proxy's error for an S3 error answer: by its error code, else its status."""
    for codes, answered, error in _ANSWERS:
        if code in codes or (answered is not None and status == answered):
            return error
    return BackendError


def status_of(exc: BaseException | None) -> int | None:
    """The HTTP status of the S3 answer behind a botocore error, if there was one."""
    if isinstance(exc, ClientError):
        status: int | None = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status
    return None


def _client_error(exc: ClientError) -> type[ProxyError]:
    return answer_error(str(exc.response.get("Error", {}).get("Code", "")), status_of(exc))


VENDOR_ERRORS: VendorErrors = (
    (ClientError, _client_error),
    ((TimeoutError, ConnectTimeoutError, ReadTimeoutError), BackendTimeout),
    (EndpointConnectionError, BackendUnavailable),
    ((BotoCoreError, aiohttp.ClientError, OSError), BackendError),
)
translate = translator(VENDOR_ERRORS)


@asynccontextmanager
async def open_client(settings: S3Provider) -> AsyncIterator[S3Client]:
    """One client for the provider, with its bounded pool, for as long as the context."""
    s = settings
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
    # botocore's default parses each Last-Modified with dateutil, a visible share of a seek.
    factory = session.get_component("response_parser_factory")
    factory.set_parser_defaults(timestamp_parser=timestamp)
    async with session.create_client(
        "s3",
        region_name=s.region,
        endpoint_url=s.endpoint_url,
        aws_access_key_id=s.access_key_id,
        aws_secret_access_key=s.secret_access_key,
        aws_session_token=s.session_token,
        config=config,
    ) as client:
        yield client


def meta(answer: Any, size: int) -> ObjectMeta:
    """What a HEAD or GET answer of botocore's says of the object (``size``: all of it)."""
    return ObjectMeta(
        size=size,
        etag=answer.get("ETag"),
        last_modified=answer.get("LastModified"),
        content_type=stored_type(answer.get("ContentType")),
    )


@functools.lru_cache(maxsize=4096)  # pure; every object GET sends its Last-Modified
def timestamp(value: str) -> datetime:
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


def _session_class(read_buffer: int) -> type[AIOHTTPSession]:
    """aiobotocore's HTTP session, with aiohttp's per-response read buffer set to ``read_buffer``.

    aiohttp stops reading a response once twice its ``read_bufsize`` waits unread.
    The default (64 KiB) keeps a slow client's stream small; more relays faster with
    less CPU (the README's Backends table has the measured figures), at up to twice the
    buffer held per stream whose client is slower than the backend. aiobotocore does not pass the
    option through, so the session it creates is given it here; a test
    (tests/functional/test_s3_session.py) fails if a new aiobotocore breaks this.
    """

    class Session(AIOHTTPSession):
        async def _get_session(self, proxy_url: str | None) -> aiohttp.ClientSession:
            session: aiohttp.ClientSession = await super()._get_session(proxy_url)  # type: ignore[misc]
            session._read_bufsize = read_buffer
            return session

    return Session
