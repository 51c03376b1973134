"""Every header name the proxy reads or writes, spelled once.

Lookups are case-insensitive (aiohttp's multidicts), but what goes out keeps
the spelling given here. The ``X-Kerberos-Storage-*`` names are §3's wire
contract; the others are RFC 9110's, RFC 7239's and CORS's.
"""

from __future__ import annotations

from typing import Final

# Request: the byte range and its preconditions (RFC 9110 §13, §14).
RANGE: Final = "Range"
IF_RANGE: Final = "If-Range"
IF_MATCH: Final = "If-Match"
IF_NONE_MATCH: Final = "If-None-Match"
IF_MODIFIED_SINCE: Final = "If-Modified-Since"
IF_UNMODIFIED_SINCE: Final = "If-Unmodified-Since"

# Response: the representation and its validators.
CONTENT_TYPE: Final = "Content-Type"
CONTENT_LENGTH: Final = "Content-Length"
CONTENT_RANGE: Final = "Content-Range"
CONTENT_DISPOSITION: Final = "Content-Disposition"
ACCEPT_RANGES: Final = "Accept-Ranges"
ETAG: Final = "ETag"
LAST_MODIFIED: Final = "Last-Modified"
CACHE_CONTROL: Final = "Cache-Control"
CONTENT_SECURITY_POLICY: Final = "Content-Security-Policy"
X_CONTENT_TYPE_OPTIONS: Final = "X-Content-Type-Options"
RETRY_AFTER: Final = "Retry-After"
ALLOW: Final = "Allow"
SERVER: Final = "Server"
VARY: Final = "Vary"

# CORS.
ORIGIN: Final = "Origin"
ACCESS_CONTROL_ALLOW_ORIGIN: Final = "Access-Control-Allow-Origin"
ACCESS_CONTROL_ALLOW_METHODS: Final = "Access-Control-Allow-Methods"
ACCESS_CONTROL_ALLOW_HEADERS: Final = "Access-Control-Allow-Headers"
ACCESS_CONTROL_EXPOSE_HEADERS: Final = "Access-Control-Expose-Headers"
ACCESS_CONTROL_MAX_AGE: Final = "Access-Control-Max-Age"

# Tracing and the client behind reverse proxies.
X_REQUEST_ID: Final = "X-Request-ID"
X_FORWARDED_FOR: Final = "X-Forwarded-For"
FORWARDED: Final = "Forwarded"  # RFC 7239

# The issuing endpoints (§3).
ACCESS_KEY: Final = "X-Kerberos-Storage-AccessKey"
SECRET_ACCESS_KEY: Final = "X-Kerberos-Storage-SecretAccessKey"  # noqa: S105 - a header name
FILENAME: Final = "X-Kerberos-Storage-FileName"
PROVIDER: Final = "X-Kerberos-Storage-Provider"
URI_EXPIRY_TIME: Final = "X-Kerberos-Storage-UriExpiryTime"
# §6's issuing options: any of them makes the answer a token link.
SCOPE: Final = "X-Kerberos-Storage-Scope"
NOT_BEFORE: Final = "X-Kerberos-Storage-NotBefore"
DOWNLOAD: Final = "X-Kerberos-Storage-Download"
CLIENT_IP: Final = "X-Kerberos-Storage-ClientIp"
