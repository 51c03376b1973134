"""The OpenAPI 3.1 description of every endpoint, served at ``/openapi.json``.

Kept true by tests: schemathesis runs against a live server with this document
and finds no 5xx and no answer that breaks it.
"""

from __future__ import annotations

from typing import Any

from proxy.http import names
from proxy.links.query import SIGNED_PATH
from proxy.links.rules import MAX_FILENAME_BYTES, MAX_NAME_CHARS
from proxy.links.tokens import TIMELINE_PATH, TOKEN_PATH

_JSON = "application/json"


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if headers:
        answer["headers"] = headers
    return answer


_RETRY_AFTER = {names.RETRY_AFTER: {"schema": {"type": "string"}, "description": "seconds"}}
_CORS = {
    names.ACCESS_CONTROL_ALLOW_ORIGIN: {"schema": {"type": "string"}},
    names.ACCESS_CONTROL_EXPOSE_HEADERS: {"schema": {"type": "string"}},
}
_BODY_HEADERS = {
    **_CORS,
    names.CONTENT_LENGTH: {"schema": {"type": "string"}},
    names.ACCEPT_RANGES: {"schema": {"type": "string", "const": "bytes"}},
    names.ETAG: {"schema": {"type": "string"}},
    names.LAST_MODIFIED: {"schema": {"type": "string"}},
    names.CACHE_CONTROL: {"schema": {"type": "string", "pattern": "^private, max-age=[0-9]+$"}},
    names.CONTENT_DISPOSITION: {"schema": {"type": "string", "pattern": "^inline; "}},
    names.X_CONTENT_TYPE_OPTIONS: {"schema": {"type": "string", "const": "nosniff"}},
}
_LINK_PARAMS = [
    {
        "name": "a",
        "in": "query",
        "required": True,
        "description": "account name",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS},
    },
    {
        "name": "p",
        "in": "query",
        "required": True,
        "description": "provider name",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS},
    },
    {
        "name": "f",
        "in": "query",
        "required": True,
        "description": "object key (UTF-8, at most 1024 bytes; no control characters, "
        "backslash, leading '/', or empty, '.' or '..' segment)",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_FILENAME_BYTES},
    },
    {
        "name": "e",
        "in": "query",
        "required": True,
        "description": "expiry, Unix seconds",
        "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,11}$"},
    },
    {
        "name": "s",
        "in": "query",
        "required": True,
        "description": "base64url(HMAC-SHA256(key, message)), no padding",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{43}$"},
    },
]
_TOKEN_PARAMS = [
    {
        "name": "token",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "base64url(claims) '.' signature (§6)",
    },
    {
        "name": "key",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "the object key, each segment percent-encoded",
    },
]
_CONDITIONAL_HEADERS = [
    {"name": name, "in": "header", "required": False, "schema": {"type": "string"}}
    for name in (
        names.RANGE,
        names.IF_RANGE,
        names.IF_NONE_MATCH,
        names.IF_MODIFIED_SINCE,
        names.IF_MATCH,
    )
]
_CREDENTIALS = [
    {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
    for name in (names.ACCESS_KEY, names.SECRET_ACCESS_KEY)
]
_STREAM_ERRORS = {
    "400": _error("malformed, missing, repeated or unknown parameter"),
    "403": _error("bad signature, expired, or revoked; `error` says which"),
    "404": _error("object not found"),
    "412": _error("If-Match or If-Unmodified-Since failed"),
    "416": _error(
        "range not satisfiable",
        {names.CONTENT_RANGE: {"schema": {"type": "string", "pattern": "^bytes \\*/[0-9]+$"}}},
    ),
    "502": _error("the backend failed or is unreachable"),
    "503": _error("this process is at its stream limit", _RETRY_AFTER),
    "504": _error("the backend timed out"),
}
_ISSUE_ERRORS = {
    "400": _error("malformed or missing header or body field (bulk names the item)"),
    "401": _error("credentials invalid, or the account is not bound to the provider"),
    "403": _error("the filename lies outside the account's prefix"),
    "429": _error("too many failed authentications", _RETRY_AFTER),
    "502": _error("the backend failed (native mode)"),
    "504": _error("the backend timed out (native mode)"),
}
_LINK_ANSWER = {
    "description": "the URL",
    "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Data"}}},
}


def _serving(parameters: list[dict[str, Any]], summary: str) -> dict[str, Any]:
    """GET, HEAD and OPTIONS of a path that streams one object (§2): §1 and §6 links alike."""
    binary = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    whole = {"description": "the whole object", "headers": _BODY_HEADERS, "content": binary}
    part = {"description": "one byte range", "headers": _BODY_HEADERS, "content": binary}
    return {
        "parameters": parameters,
        "get": {
            "summary": summary,
            "parameters": _CONDITIONAL_HEADERS,
            "responses": {
                "200": whole,
                "206": part,
                "304": {"description": "not modified"},
                **_STREAM_ERRORS,
            },
        },
        "head": {
            "summary": "The GET answer's status and headers, from metadata only",
            "parameters": _CONDITIONAL_HEADERS,
            "responses": {
                "200": {"description": "the object exists", "headers": _BODY_HEADERS},
                "206": {"description": "one byte range", "headers": _BODY_HEADERS},
                "304": {"description": "not modified"},
                **{code: {"description": a["description"]} for code, a in _STREAM_ERRORS.items()},
            },
        },
        "options": {
            "summary": "CORS preflight",
            "responses": {"204": {"description": "allowed methods and headers"}},
        },
    }


_SKIPPED = {"X-Timeline-Skipped": {"schema": {"type": "string", "pattern": "^[0-9]+$"}}}
_PLAYLIST_ERRORS = {
    "400": _error("malformed token, or more recordings, entries or segments than the caps"),
    "403": _error("bad signature, expired, revoked, not yet valid, or not a timeline's token"),
    "404": _error("neither .m3u8 nor .json"),
    "502": _error("the backend failed or is unreachable"),
    "503": _error("this process is at its stream limit", _RETRY_AFTER),
    "504": _error("the backend timed out"),
}
_TIMELINE_NAME = [
    {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "the token (§6, with tl) then .m3u8 (the playlist) or .json",
    }
]


def _timeline() -> dict[str, Any]:
    """§7: the playlist (or its JSON) of a timeline token."""
    answer = {
        "description": "the HLS playlist (.m3u8) or the recordings as JSON (.json)",
        "headers": {**_CORS, **_SKIPPED},
        "content": {
            "application/vnd.apple.mpegurl": {"schema": {"type": "string"}},
            _JSON: {"schema": {"type": "object"}},
        },
    }
    return {
        "parameters": _TIMELINE_NAME,
        "get": {
            "summary": "A folder's recordings in a time window as one HLS VOD stream (§7)",
            "responses": {"200": answer, **_PLAYLIST_ERRORS},
        },
        "head": {
            "summary": "The GET answer's status and headers",
            "responses": {
                "200": {"description": "the playlist's length", "headers": _SKIPPED},
                **{code: {"description": a["description"]} for code, a in _PLAYLIST_ERRORS.items()},
            },
        },
        "options": {
            "summary": "CORS preflight",
            "responses": {"204": {"description": "allowed methods and headers"}},
        },
    }


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "proxy: signed, expiring URLs for private media",
            "version": "1",
            "description": "The HTTP contract of the shared PROTOCOL.md (v1).",
        },
        "paths": {
            SIGNED_PATH: _serving(_LINK_PARAMS, "Stream the object (Range and conditionals)"),
            f"{SIGNED_PATH}/validate": {
                "get": {
                    "summary": "Describe a link without touching the backend",
                    "parameters": _LINK_PARAMS,
                    "responses": {
                        "200": {
                            "description": "valid or not, and why",
                            "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Report"}}},
                        },
                        "400": _error("malformed query"),
                    },
                },
            },
            f"{TOKEN_PATH}/{{token}}/{{key}}": _serving(
                _TOKEN_PARAMS, "Stream an object a §6 token covers (as a §1 link's GET)"
            ),
            f"{TOKEN_PATH}/{{token}}/": {
                "get": {
                    "summary": "Describe a §6 token without touching the backend",
                    "parameters": _TOKEN_PARAMS[:1],
                    "responses": {
                        "200": {
                            "description": "valid or not, and why (scope, notBefore, ...)",
                            "content": {_JSON: {"schema": {"type": "object"}}},
                        },
                        "400": _error("malformed token"),
                    },
                },
            },
            "/api/storage": {
                "get": {
                    "summary": "Issue one signed URL",
                    "parameters": [
                        *_CREDENTIALS,
                        {
                            "name": names.FILENAME,
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": names.PROVIDER,
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": names.URI_EXPIRY_TIME,
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {"200": _LINK_ANSWER, **_ISSUE_ERRORS},
                },
            },
            "/api/storage/bulk": {
                "post": {
                    "summary": "Issue many URLs; data is a JSON string of filename -> URL",
                    "parameters": _CREDENTIALS,
                    "requestBody": {
                        "required": True,
                        "content": {_JSON: {"schema": {"$ref": "#/components/schemas/BulkItems"}}},
                    },
                    "responses": {
                        "200": _LINK_ANSWER,
                        **_ISSUE_ERRORS,
                        "408": _error("the body did not arrive within server.body_timeout"),
                        "413": _error("body or item count over the limit"),
                    },
                },
            },
            TIMELINE_PATH: {
                "post": {
                    "summary": "Issue a timeline's playlist URL (§7)",
                    "parameters": _CREDENTIALS,
                    "requestBody": {
                        "required": True,
                        "content": {
                            _JSON: {"schema": {"$ref": "#/components/schemas/TimelineRequest"}}
                        },
                    },
                    "responses": {
                        "200": _LINK_ANSWER,
                        **_ISSUE_ERRORS,
                        "408": _error("the body did not arrive within server.body_timeout"),
                        "413": _error("the body is over the limit"),
                    },
                },
            },
            f"{TIMELINE_PATH}/{{name}}": _timeline(),
            "/healthz": {
                "get": {
                    "summary": "Liveness",
                    "responses": {
                        "200": {
                            "description": "up",
                            "content": {_JSON: {"schema": {"type": "object"}}},
                        }
                    },
                },
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness: config loaded and every provider's last check passed",
                    "responses": {
                        "200": {
                            "description": "ready",
                            "content": {_JSON: {"schema": {"type": "object"}}},
                        },
                        "503": {
                            "description": "not ready",
                            "content": {_JSON: {"schema": {"type": "object"}}},
                        },
                    },
                },
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics of this process",
                    "responses": {
                        "200": {
                            "description": "text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                },
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {_JSON: {"schema": {"type": "object"}}},
                        }
                    },
                },
            },
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["data", "error"],
                    "properties": {"data": {"type": "string"}, "error": {"type": "string"}},
                    "additionalProperties": False,
                },
                "Data": {
                    "type": "object",
                    "required": ["data"],
                    "properties": {"data": {"type": "string"}},
                    "additionalProperties": False,
                },
                "Report": {
                    "type": "object",
                    "required": [
                        "valid",
                        "account",
                        "provider",
                        "filename",
                        "expires",
                        "expiresAt",
                        "expiresIn",
                    ],
                    "properties": {
                        "valid": {"type": "boolean"},
                        "reason": {"enum": ["expired", "invalid_signature", "revoked"]},
                        "account": {"type": "string"},
                        "provider": {"type": "string"},
                        "filename": {"type": "string"},
                        "expires": {"type": "integer"},
                        "expiresAt": {"type": "string"},
                        "expiresIn": {"type": "integer", "minimum": 0},
                    },
                    "additionalProperties": False,
                },
                "TimelineRequest": {
                    "type": "object",
                    "required": ["prefix", "start", "end"],
                    "properties": {
                        "prefix": {"type": "string", "description": "a folder, ending with /"},
                        "provider": {"type": "string"},
                        "device": {"type": "string", "description": "the name's third field"},
                        "start": {"type": "integer", "description": "Unix seconds, included"},
                        "end": {"type": "integer", "description": "Unix seconds, excluded"},
                        "uriExpiryTime": {"type": ["string", "integer"]},
                    },
                    "additionalProperties": False,
                },
                "BulkItems": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["filename"],
                        "properties": {
                            "filename": {"type": "string"},
                            "provider": {"type": "string"},
                            "uriExpiryTime": {"type": ["string", "integer"]},
                        },
                        "additionalProperties": False,
                    },
                },
            },
        },
    }
