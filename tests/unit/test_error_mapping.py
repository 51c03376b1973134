"""Each backend maps its vendor's errors onto the proxy's tree at one boundary; all of them.

The cases match types, never message text, and every row of every backend's table
(each vendor class it names) is hit by at least one case.
"""

from __future__ import annotations

import aiohttp
import pytest
from azure.core.exceptions import (
    AzureError,
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

from proxy.errors import (
    BackendError,
    BackendRefused,
    BackendTimeout,
    BackendUnavailable,
    ContainerMissing,
    NotFound,
    ObjectChanged,
    ProxyError,
    StoreMissing,
)
from proxy.storage.azure import backend as azure
from proxy.storage.gcs import backend as gcs
from proxy.storage.s3 import botocore as s3


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


BACKENDS = {"s3": s3, "gcs": gcs, "azure": azure}

CASES = [
    ("s3", client_error("NoSuchKey", 404), NotFound),
    ("s3", client_error("404", 404), NotFound),
    ("s3", client_error("NotFound", 404), NotFound),
    ("s3", client_error("NoSuchVersion", 404), NotFound),  # by its status
    ("s3", client_error("NoSuchBucket", 404), StoreMissing),
    ("s3", client_error("PreconditionFailed", 412), ObjectChanged),
    ("s3", client_error("", 412), ObjectChanged),
    ("s3", client_error("AccessDenied", 403), BackendRefused),
    ("s3", client_error("InvalidAccessKeyId", 403), BackendRefused),
    ("s3", client_error("SignatureDoesNotMatch", 403), BackendRefused),
    ("s3", client_error("AllAccessDisabled", 403), BackendRefused),  # by its status
    ("s3", client_error("InternalError", 500), BackendError),
    ("s3", client_error("SlowDown", 503), BackendError),
    ("s3", ReadTimeoutError(endpoint_url="http://x"), BackendTimeout),
    ("s3", ConnectTimeoutError(endpoint_url="http://x"), BackendTimeout),
    ("s3", TimeoutError(), BackendTimeout),
    ("s3", EndpointConnectionError(endpoint_url="http://x"), BackendUnavailable),
    ("s3", ResponseStreamingError(error="x"), BackendError),
    ("s3", NoCredentialsError(), BackendError),
    ("s3", aiohttp.ClientPayloadError("x"), BackendError),
    ("s3", ConnectionResetError(), BackendError),
    ("gcs", response_error(404), NotFound),
    ("gcs", response_error(412), ObjectChanged),
    ("gcs", response_error(401), BackendRefused),
    ("gcs", response_error(403), BackendRefused),
    ("gcs", response_error(500), BackendError),
    ("gcs", TimeoutError(), BackendTimeout),
    ("gcs", aiohttp.ServerTimeoutError(), BackendTimeout),
    ("gcs", aiohttp.ClientConnectorError(None, OSError(111, "refused")), BackendUnavailable),  # type: ignore[arg-type]
    ("gcs", aiohttp.ClientPayloadError("x"), BackendError),
    ("gcs", ConnectionResetError(), BackendError),
    ("gcs", ValueError("not JSON"), BackendError),
    ("gcs", KeyError("size"), BackendError),
    ("azure", azure_error(ResourceNotFoundError, 404, "BlobNotFound"), NotFound),
    ("azure", azure_error(ResourceNotFoundError, 404, "ContainerNotFound"), ContainerMissing),
    ("azure", azure_error(ResourceModifiedError, 412), ObjectChanged),
    ("azure", azure_error(ClientAuthenticationError, 401), BackendRefused),
    ("azure", azure_error(HttpResponseError, 403, "AuthorizationFailure"), BackendRefused),
    ("azure", azure_error(HttpResponseError, 401), BackendRefused),
    ("azure", azure_error(HttpResponseError, 500), BackendError),
    ("azure", ServiceRequestTimeoutError("m"), BackendTimeout),
    ("azure", ServiceResponseTimeoutError("m"), BackendTimeout),
    ("azure", TimeoutError(), BackendTimeout),
    ("azure", ServiceRequestError("m"), BackendUnavailable),
    ("azure", ServiceResponseError("m"), BackendError),
    ("azure", AzureError("m"), BackendError),
    ("azure", aiohttp.ClientPayloadError("x"), BackendError),
    ("azure", ConnectionResetError(), BackendError),
]


@pytest.mark.parametrize(("backend", "vendor", "expected"), CASES)
def test_vendor_errors_become_proxy_errors(backend, vendor, expected) -> None:
    with pytest.raises(ProxyError) as info, BACKENDS[backend].translate():
        raise vendor
    assert type(info.value) is expected
    assert info.value.__cause__ is vendor  # the detail stays in the chain, for logs


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_vendor_class_of_every_table_is_exercised(backend: str) -> None:
    """A case reaches each class a table names, in its row (a row added without one fails)."""
    rows = [
        classes if isinstance(classes, tuple) else (classes,)
        for classes, _ in BACKENDS[backend].VENDOR_ERRORS
    ]
    reached = set()
    for name, vendor, _ in CASES:
        if name == backend:
            row = next(row for row in rows if isinstance(vendor, row))
            reached |= {cls for cls in row if isinstance(vendor, cls)}
    assert {cls for row in rows for cls in row} - reached == set()


@pytest.mark.parametrize("backend", BACKENDS)
def test_proxy_errors_pass_through_and_the_unknown_propagates(backend: str) -> None:
    translate = BACKENDS[backend].translate
    raised = NotFound()
    with pytest.raises(NotFound) as info, translate():
        raise raised
    assert info.value is raised
    with pytest.raises(ZeroDivisionError), translate():
        raise ZeroDivisionError


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("NoSuchBucket", 404, StoreMissing),  # the direct path reads the code from the body
        ("NoSuchKey", 404, NotFound),
        ("", 404, NotFound),
        ("", 412, ObjectChanged),
        ("AccessDenied", 403, BackendRefused),
        ("", 500, BackendError),
    ],
)
def test_s3_answers_map_the_same_on_both_paths(code: str, status: int, expected: type) -> None:
    assert s3.answer_error(code, status) is expected
