"""The signed link's query string (§1): parse it strictly, or build one.

Parsing is where a malformed request stops: each of the five parameters must
appear exactly once, nothing else may appear, and every value must follow its
rule. Anything else is a ``BadRequest`` before any key or backend is touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote_plus

from proxy.errors import BadRequest
from proxy.signing import SIGNATURE_LENGTH, LinkClaims

SIGNED_PATH = "/api/storage/signed"
PARAMS = ("a", "p", "f", "e", "s")
_LOGGED = frozenset({"a", "p", "f", "e"})
MAX_NAME_CHARS = 128
MAX_FILENAME_BYTES = 1024
# A query this long cannot hold five valid parameters (1024-byte f, percent-encoded,
# is at most 3072 characters); refusing early bounds the work done on junk.
MAX_QUERY_CHARS = 8192

_EXPIRY = re.compile(r"[1-9][0-9]{0,11}")
_SIGNATURE = re.compile(rf"[A-Za-z0-9_-]{{{SIGNATURE_LENGTH}}}")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class SignedQuery:
    claims: LinkClaims
    signature: str = field(repr=False)


def parse_query(raw: str) -> SignedQuery:
    """Parse a raw (still percent-encoded) query string, or raise ``BadRequest``."""
    if len(raw) > MAX_QUERY_CHARS:
        raise BadRequest("query string too long")
    values: dict[str, str] = {}
    for piece in raw.split("&"):
        if not piece:
            continue  # "a=1&&b=2" or a trailing "&": no parameter there
        raw_name, _, raw_value = piece.partition("=")
        name = _decode(raw_name, "parameter name")
        if name not in PARAMS:
            raise BadRequest(f"unknown parameter {_shorten(name)!r}")
        if name in values:
            raise BadRequest(f"parameter {name!r} appears more than once")
        values[name] = _decode(raw_value, f"parameter {name!r}")
    missing = [name for name in PARAMS if name not in values]
    if missing:
        raise BadRequest(f"missing parameter {missing[0]!r}")

    _check_name("a", values["a"])
    _check_name("p", values["p"])
    check_filename(values["f"])
    if not _EXPIRY.fullmatch(values["e"]):
        raise BadRequest("parameter 'e' must be Unix seconds (1 to 12 digits)")
    if not _SIGNATURE.fullmatch(values["s"]):
        raise BadRequest(f"parameter 's' must be {SIGNATURE_LENGTH} base64url characters")
    claims = LinkClaims(values["a"], values["p"], values["f"], int(values["e"]))
    return SignedQuery(claims, values["s"])


def build_query(claims: LinkClaims, signature: str) -> str:
    """The query string an issuer sends: every byte outside RFC 3986's unreserved set is encoded."""
    pairs = (
        ("a", claims.account),
        ("p", claims.provider),
        ("f", claims.filename),
        ("e", str(claims.expires)),
        ("s", signature),
    )
    return "&".join(f"{name}={quote(value, safe='')}" for name, value in pairs)


def build_url(public_url: str, claims: LinkClaims, signature: str) -> str:
    return f"{public_url.rstrip('/')}{SIGNED_PATH}?{build_query(claims, signature)}"


def redact_query(raw: str) -> str:
    """The query for logs: only the values of ``a``, ``p``, ``f`` and ``e`` are kept.

    Names are compared decoded (``%73`` is ``s``), and unknown pieces are redacted
    whole, so no spelling of the signature reaches a log.
    """
    out = []
    for piece in raw.split("&"):
        name, sep, _ = piece.partition("=")
        try:
            plain = unquote_plus(name, errors="strict")
        except UnicodeDecodeError:
            plain = ""
        if plain in _LOGGED:
            out.append(piece)
        elif plain == "s":
            out.append(f"{name}{sep}[redacted]")
        else:  # an unknown name may itself be a pasted signature
            out.append("[redacted]")
    return "&".join(out)


def _decode(text: str, what: str) -> str:
    if "%" not in text and "+" not in text:
        return text  # nothing encoded: most names, and most values of an issued link
    if _BAD_PERCENT.search(text):
        raise BadRequest(f"{what} has a malformed percent-encoding")
    try:
        return unquote_plus(text, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise BadRequest(f"{what} is not valid UTF-8") from None


def _check_name(param: str, value: str) -> None:
    if not value:
        raise BadRequest(f"parameter {param!r} is empty")
    if len(value) > MAX_NAME_CHARS:
        raise BadRequest(f"parameter {param!r} is longer than {MAX_NAME_CHARS} characters")
    if not value.isprintable():
        raise BadRequest(f"parameter {param!r} has a non-printable character")


def check_filename(value: str) -> None:
    """The rules of ``f``, shared by parsing and issuing."""
    if not value:
        raise BadRequest("parameter 'f' is empty")
    if len(value.encode()) > MAX_FILENAME_BYTES:
        raise BadRequest(f"parameter 'f' is longer than {MAX_FILENAME_BYTES} bytes")
    if _CONTROL.search(value):
        raise BadRequest("parameter 'f' has a control character")
    if "\\" in value:
        raise BadRequest("parameter 'f' has a backslash")
    if value.startswith("/"):
        raise BadRequest("parameter 'f' starts with '/'")
    for segment in value.split("/"):
        if segment in ("", ".", ".."):
            raise BadRequest("parameter 'f' has an empty, '.' or '..' path segment")


def _shorten(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
