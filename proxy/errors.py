"""Every error the proxy answers with, as one tree.

::

    ProxyError                      500 internal
    ├── BadRequest                  400 bad_request
    ├── Unauthorized                401 unauthorized
    │   └── Disabled                401 unauthorized     a right secret, but disabled
    ├── Forbidden                   403
    │   ├── InvalidSignature        403 invalid_signature
    │   ├── Expired                 403 expired
    │   ├── NotYetValid             403 not_yet_valid        a token before its ``nb``
    │   ├── Revoked                 403 revoked
    │   ├── AddressNotAllowed       403 address_not_allowed  a token bound to other addresses
    │   └── OutOfScope              403 out_of_scope         a key the token does not cover
    ├── NotFound                    404 not_found
    ├── RequestTimeout              408 request_timeout  (closes the connection)
    ├── PreconditionFailed          412 precondition_failed
    ├── PayloadTooLarge             413 too_large
    ├── RangeNotSatisfiable         416 range_not_satisfiable
    ├── TooManyRequests             429 too_many_requests
    ├── ServiceUnavailable          503 unavailable
    └── BackendError                502 backend_error        the backend failed, no more said
        ├── BackendUnavailable      502 backend_unavailable  cannot be reached (or not started)
        ├── BackendTimeout          504 backend_timeout      did not answer in time
        ├── BackendRefused          502 backend_error        refused the proxy's credentials
        ├── StoreMissing            502 backend_error        no such bucket (or root folder)
        │   └── ContainerMissing    502 backend_error        no such container (Azure)
        ├── ObjectChanged           502 backend_error        another version than the headers'
        │   └── ObjectTruncated     502 backend_error        a file shrank while it was sent
        ├── BadBackendAnswer        502 backend_error        an answer the proxy cannot use
        ├── FileUnreadable          502 backend_error        a file could not be opened or read
        └── CannotPresign           502 backend_error        no native URL with these credentials

    ConfigError                     not HTTP: start-up stops with one line

Each class carries its status, a machine-readable ``code`` and a public
message, and ``closes_connection`` when the connection cannot be reused (the
client is still sending a body nobody will read). The message is what the
client reads, so it never holds a key, a secret, a credential or a full
signature; backends put vendor detail in the exception chain
(``raise ... from exc``), which only reaches server logs.

Backends tell their failures apart by class, never by message: each maps its
vendor's errors onto this tree with one table at its boundary
(``proxy.storage.base.translator``). Only ``BackendUnavailable`` and
``BackendTimeout`` have codes of their own; the rest answer ``backend_error``
with their message.
"""

from __future__ import annotations

from typing import ClassVar


class ProxyError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"
    default_message: ClassVar[str] = "internal error"
    closes_connection: ClassVar[bool] = False

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        self.headers: dict[str, str] = {}
        super().__init__(self.message)

    def body(self) -> dict[str, str]:
        return {"data": self.message, "error": self.code}


class BadRequest(ProxyError):
    status = 400
    code = "bad_request"
    default_message = "malformed request"


class Unauthorized(ProxyError):
    status = 401
    code = "unauthorized"
    default_message = "invalid credentials"


class Disabled(Unauthorized):
    """A secret that verified, of a disabled account or a disabled credential: refused, and
    who it was is known, so the access log can name them (never the secret)."""

    def __init__(self, message: str, account: str, credential: str) -> None:
        super().__init__(message)
        self.account = account
        self.credential = credential


class Forbidden(ProxyError):
    status = 403
    code = "forbidden"
    default_message = "forbidden"


class InvalidSignature(Forbidden):
    code = "invalid_signature"
    default_message = "the link's signature is not valid"


class Expired(Forbidden):
    code = "expired"
    default_message = "the link has expired"


class Revoked(Forbidden):
    code = "revoked"
    default_message = "the link has been revoked"


class NotYetValid(Forbidden):
    code = "not_yet_valid"
    default_message = "the link is not valid yet"


class AddressNotAllowed(Forbidden):
    code = "address_not_allowed"
    default_message = "the link is not valid from this address"


class OutOfScope(Forbidden):
    code = "out_of_scope"
    default_message = "the link does not cover this object"


class NotFound(ProxyError):
    status = 404
    code = "not_found"
    default_message = "object not found"


class RequestTimeout(ProxyError):
    status = 408
    code = "request_timeout"
    default_message = "the request took too long to arrive"
    closes_connection = True


class PreconditionFailed(ProxyError):
    status = 412
    code = "precondition_failed"
    default_message = "a precondition (If-Match / If-Unmodified-Since) failed"


class PayloadTooLarge(ProxyError):
    status = 413
    code = "too_large"
    default_message = "the request body is too large"


class TooManyRequests(ProxyError):
    status = 429
    code = "too_many_requests"
    default_message = "too many failed authentications; try again later"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.headers["Retry-After"] = str(retry_after)


class RangeNotSatisfiable(ProxyError):
    status = 416
    code = "range_not_satisfiable"
    default_message = "the requested range is not satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__()
        self.headers["Content-Range"] = f"bytes */{size}"


class ServiceUnavailable(ProxyError):
    status = 503
    code = "unavailable"
    default_message = "the proxy is at its stream limit; try again shortly"

    def __init__(self, retry_after: int = 1, message: str | None = None) -> None:
        super().__init__(message)
        self.headers["Retry-After"] = str(retry_after)


class BackendError(ProxyError):
    status = 502
    code = "backend_error"
    default_message = "the storage backend failed"


class BackendUnavailable(BackendError):
    code = "backend_unavailable"
    default_message = "the storage backend is unreachable"


class BackendTimeout(BackendError):
    status = 504
    code = "backend_timeout"
    default_message = "the storage backend timed out"


class BackendRefused(BackendError):
    default_message = "the storage backend refused the proxy's credentials"


class StoreMissing(BackendError):
    """The bucket is not there; on disk, the root folder cannot be listed."""

    default_message = "the bucket does not exist"


class ContainerMissing(StoreMissing):
    default_message = "the container does not exist"


class ObjectChanged(BackendError):
    """The object is no longer the version its headers (ETag, size) came from."""

    default_message = "the object changed while it was being served"


class ObjectTruncated(ObjectChanged):
    default_message = "the file ended early (truncated while being served)"


class BadBackendAnswer(BackendError):
    """An answer that breaks what was asked (another range, no length): never relayed."""

    default_message = "the storage backend answered another range"


class FileUnreadable(BackendError):
    default_message = "reading the file failed"


class CannotPresign(BackendError):
    """Native mode needs credentials that can sign (a key), and this provider has none."""

    default_message = "the provider cannot make native URLs with its credentials"


class ConfigError(Exception):
    """Bad configuration: start-up prints ``str(exc)`` as one line and stops."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        detail = "; ".join(f"{key}: {problem}" for key, problem in problems)
        super().__init__(f"bad configuration in {source}: {detail}")
