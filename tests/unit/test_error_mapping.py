"""Each backend maps its vendor's errors onto the proxy's tree at one boundary; all of them."""

from __future__ import annotations

import aiohttp
import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from proxy.errors import BackendError, BackendTimeout, BackendUnavailable, NotFound, ProxyError
from proxy.storage import azure, gcs, s3


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetObject",
    )


def response_error(status: int) -> aiohttp.ClientResponseError:
    info = aiohttp.RequestInfo(url=aiohttp.client.URL("http://x"), method="GET", headers={})  # type: ignore[call-arg]
    return aiohttp.ClientResponseError(info, (), status=status, message="m")


def azure_error(
    cls: type[HttpResponseError], status: int, code: str | None = None
) -> HttpResponseError:
    exc = cls(message="m")
    exc.status_code = status
    exc.error_code = code
    return exc


CASES = [
    (s3._translate, client_error("NoSuchKey", 404), NotFound, None),
    (s3._translate, client_error("404", 404), NotFound, None),
    (s3._translate, client_error("NoSuchBucket", 404), BackendError, "the bucket does not exist"),
    (s3._translate, client_error("PreconditionFailed", 412), BackendError, "changed"),
    (
        s3._translate,
        client_error("AccessDenied", 403),
        BackendError,
        "refused the proxy's credentials",
    ),
    (s3._translate, client_error("InvalidAccessKeyId", 403), BackendError, "refused"),
    (s3._translate, client_error("SignatureDoesNotMatch", 403), BackendError, "refused"),
    (s3._translate, client_error("InternalError", 500), BackendError, "failed"),
    (s3._translate, client_error("SlowDown", 503), BackendError, "failed"),
    (s3._translate, ReadTimeoutError(endpoint_url="http://x"), BackendTimeout, None),
    (s3._translate, ConnectTimeoutError(endpoint_url="http://x"), BackendTimeout, None),
    (s3._translate, TimeoutError(), BackendTimeout, None),
    (s3._translate, EndpointConnectionError(endpoint_url="http://x"), BackendUnavailable, None),
    (s3._translate, ResponseStreamingError(error="x"), BackendError, None),
    (s3._translate, NoCredentialsError(), BackendError, None),
    (s3._translate, aiohttp.ClientPayloadError("x"), BackendError, None),
    (gcs._translate, response_error(404), NotFound, None),
    (gcs._translate, response_error(412), BackendError, "changed"),
    (gcs._translate, response_error(401), BackendError, "refused"),
    (gcs._translate, response_error(403), BackendError, "refused"),
    (gcs._translate, response_error(500), BackendError, "failed"),
    (gcs._translate, TimeoutError(), BackendTimeout, None),
    (gcs._translate, aiohttp.ServerTimeoutError(), BackendTimeout, None),
    (
        gcs._translate,
        aiohttp.ClientConnectorError(None, OSError(111, "refused")),
        BackendUnavailable,
        None,
    ),  # type: ignore[arg-type]
    (gcs._translate, aiohttp.ClientPayloadError("x"), BackendError, None),
    (gcs._translate, KeyError("size"), BackendError, None),
    (azure._translate, azure_error(ResourceNotFoundError, 404, "BlobNotFound"), NotFound, None),
    (
        azure._translate,
        azure_error(ResourceNotFoundError, 404, "ContainerNotFound"),
        BackendError,
        "container",
    ),
    (azure._translate, azure_error(ResourceModifiedError, 412), BackendError, "changed"),
    (azure._translate, azure_error(ClientAuthenticationError, 401), BackendError, "refused"),
    (
        azure._translate,
        azure_error(HttpResponseError, 403, "AuthorizationFailure"),
        BackendError,
        "refused",
    ),
    (azure._translate, azure_error(HttpResponseError, 500), BackendError, "failed"),
    (azure._translate, ServiceRequestTimeoutError("m"), BackendTimeout, None),
    (azure._translate, ServiceResponseTimeoutError("m"), BackendTimeout, None),
    (azure._translate, ServiceRequestError("m"), BackendUnavailable, None),
    (azure._translate, ServiceResponseError("m"), BackendError, None),
    (azure._translate, TimeoutError(), BackendTimeout, None),
]


@pytest.mark.parametrize(("translate", "vendor", "expected", "fragment"), CASES)
def test_vendor_errors_become_proxy_errors(translate, vendor, expected, fragment) -> None:
    with pytest.raises(ProxyError) as info, translate():
        raise vendor
    assert type(info.value) is expected
    assert info.value.__cause__ is vendor  # the detail stays in the chain, for logs
    if fragment:
        assert fragment in info.value.message
