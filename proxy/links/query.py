"""The signed link's query string (§1): parse it strictly, or build one.

Parsing is where a malformed request stops: each of the five parameters must
appear exactly once, nothing else may appear, and every value must follow its
rule (``proxy.links.rules``). Anything else is a ``BadRequest`` before any key
or backend is touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote_plus

from proxy.errors import BadRequest
from proxy.links.rules import check_filename, check_name
from proxy.links.signing import SIGNATURE_LENGTH, LinkClaims

SIGNED_PATH = "/api/storage/signed"
PARAMS = ("a", "p", "f", "e", "s")
# A query this long cannot hold five valid parameters (1024-byte f, percent-encoded,
# is at most 3072 characters); refusing early bounds the work done on junk.
MAX_QUERY_CHARS = 8192

_EXPIRY = re.compile(r"[1-9][0-9]{0,11}")
_SIGNATURE = re.compile(rf"[A-Za-z0-9_-]{{{SIGNATURE_LENGTH}}}")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


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

    check_name("a", values["a"])
    check_name("p", values["p"])
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


def _decode(text: str, what: str) -> str:
    if "%" not in text and "+" not in text:
        return text  # nothing encoded: most names, and most values of an issued link
    if _BAD_PERCENT.search(text):
        raise BadRequest(f"{what} has a malformed percent-encoding")
    try:
        return unquote_plus(text, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise BadRequest(f"{what} is not valid UTF-8") from None


def _shorten(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
