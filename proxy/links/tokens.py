"""§6 token links: the claims of a link as one signed policy in a path segment. Pure.

::

    {public_url}/api/storage/t/{token}/{key}
    token     = payload "." signature
    payload   = base64url_nopad( UTF-8 compact JSON of the claims )
    signature = base64url_nopad( HMAC-SHA256( key, "vault-token-v1" LF payload ) )

The signature is checked over the payload characters as they arrived, before
the JSON is decoded, so nothing a client sends is parsed unless a configured
key signed it; the domain string keeps §1 and §6 signatures apart. Then the
claims are read strictly: known names only, each once, each of its type
(else 400). The clock is passed in by the caller.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import ip_network
from typing import Any
from urllib.parse import quote, unquote

from proxy.errors import BadRequest, InvalidSignature
from proxy.links.rules import check_filename, check_name
from proxy.links.signing import SIGNATURE_LENGTH, Signer
from proxy.timeline.naming import Window

TOKEN_PATH = "/api/storage/t"  # noqa: S105 - a route, not a secret
TIMELINE_PATH = "/api/storage/timeline"  # §7
MAX_TOKEN_CHARS = 8192
MAX_CIDRS = 32
_DOMAIN = b"vault-token-v1\n"
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PAYLOAD = re.compile(r"[A-Za-z0-9_-]+")
_SIGNATURE = re.compile(rf"[A-Za-z0-9_-]{{{SIGNATURE_LENGTH}}}")
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,32}")
_MAX_SECONDS = 10**12 - 1  # what §1's twelve digits hold
_CLAIM_ORDER = ("a", "p", "f", "d", "e", "nb", "dl", "ip", "k", "tl")


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a token grants: one file (``file``) or a folder (``folder``), until ``expires``."""

    account: str
    provider: str
    expires: int
    file: str | None = None
    folder: str | None = None
    not_before: int | None = None
    download: bool | str | None = None  # True: attachment named by the key; str: this name
    client_ips: tuple[str, ...] = ()  # CIDRs as signed
    key_id: str | None = None
    timeline: Window | None = None  # §7 ``tl``: valid only on the timeline route

    @property
    def scope(self) -> str:
        """The file, or the folder: what the account's prefix must cover."""
        return self.file if self.file is not None else self.folder or ""

    def covers(self, key: str) -> bool:
        if self.file is not None:
            return key == self.file
        return self.folder is not None and key.startswith(self.folder)

    def as_json(self) -> dict[str, Any]:
        """The claims object, names in the order §6 shows them."""
        values: dict[str, Any] = {
            "a": self.account,
            "p": self.provider,
            "f": self.file,
            "d": self.folder,
            "e": self.expires,
            "nb": self.not_before,
            "dl": self.download,
            "ip": list(self.client_ips) if self.client_ips else None,
            "k": self.key_id,
            "tl": _timeline_json(self.timeline) if self.timeline is not None else None,
        }
        return {name: values[name] for name in _CLAIM_ORDER if values[name] is not None}


@dataclass(frozen=True, slots=True)
class Token:
    claims: TokenClaims
    signature: str = field(repr=False)


def encode_payload(claims: TokenClaims) -> str:
    text = json.dumps(claims.as_json(), separators=(",", ":"), ensure_ascii=False)
    return _b64encode(text.encode())


def make_token(claims: TokenClaims, signer: Signer) -> str:
    """``payload.signature``, signed with the current key (whose id ``claims`` should name)."""
    payload = encode_payload(claims)
    return f"{payload}.{signer.sign_message(_DOMAIN + payload.encode())}"


def parse_token(token: str, signer: Signer) -> Token:
    """The claims of a token a configured key signed; ``BadRequest`` for a malformed one,
    ``InvalidSignature`` for one no key (or not the key it names) signed."""
    if len(token) > MAX_TOKEN_CHARS:
        raise BadRequest("token too long")
    payload, dot, signature = token.partition(".")
    if not dot or not _PAYLOAD.fullmatch(payload) or not _SIGNATURE.fullmatch(signature):
        raise BadRequest("a token is base64url(claims) '.' a 43-character signature")
    signed_by = signer.signed_by(_DOMAIN + payload.encode(), signature)
    if signed_by is None:
        raise InvalidSignature()
    claims = _claims(_decode_json(payload))
    # Only the key a token names may have signed it: a removed key's tokens die with it.
    if claims.key_id is not None and claims.key_id not in signed_by:
        raise InvalidSignature()
    return Token(claims, signature)


def token_url(public_url: str, token: str, key: str) -> str:
    """``{public_url}/api/storage/t/{token}/{key}``, each segment of ``key`` percent-encoded
    (RFC 3986 unreserved characters kept); a folder's URL ends with ``/``."""
    path = "/".join(quote(segment, safe="") for segment in key.split("/"))
    return f"{public_url}{TOKEN_PATH}/{token}/{path}"


def timeline_url(public_url: str, token: str) -> str:
    """§7's playlist URL of a token that carries ``tl``."""
    return f"{public_url}{TIMELINE_PATH}/{token}.m3u8"


@functools.lru_cache(maxsize=1024)  # pure; a player sends the same key again and again
def decode_key(raw: str) -> str:
    """The object key of a token link's path: each segment percent-decoded exactly once,
    then §1's rules for ``f`` (400 otherwise)."""
    if _BAD_PERCENT.search(raw):
        raise BadRequest("the key has a '%' that is not followed by two hex digits")
    try:
        key = "/".join(unquote(segment, errors="strict") for segment in raw.split("/"))
    except UnicodeDecodeError:
        raise BadRequest("the key's percent-encoded bytes are not UTF-8") from None
    check_filename(key)
    return key


def check_key_id(text: str) -> None:
    if not _KEY_ID.fullmatch(text):
        raise ValueError("a key id is 1-32 characters of A-Z a-z 0-9 . _ -")


def _decode_json(payload: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        doc = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        # ValueError includes json's own and an integer beyond Python's digit limit.
        raise BadRequest("the token's claims are not a JSON object") from None
    if not isinstance(doc, dict):
        raise BadRequest("the token's claims are not a JSON object")
    return doc


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for name, value in pairs:
        if name in doc:
            raise ValueError(f"claim {name!r} appears twice")
        doc[name] = value
    return doc


def _claims(doc: dict[str, Any]) -> TokenClaims:
    unknown = set(doc) - set(_CLAIM_ORDER)
    if unknown:
        raise BadRequest(f"unknown claim {sorted(unknown)[0]!r}")
    for name in ("a", "p", "e"):
        if name not in doc:
            raise BadRequest(f"missing claim {name!r}")
    account, provider = _text(doc, "a"), _text(doc, "p")
    check_name("a", account)
    check_name("p", provider)
    if ("f" in doc) == ("d" in doc):
        raise BadRequest("a token names exactly one of 'f' (a file) and 'd' (a folder)")
    file = folder = None
    if "f" in doc:
        file = _text(doc, "f")
        check_filename(file)
    else:
        folder = _text(doc, "d")
        check_filename(folder.removesuffix("/"))
        if not folder.endswith("/"):
            raise BadRequest("claim 'd' is a folder: it ends with '/'")
    download = doc.get("dl")
    if download is not None and download is not True:
        download = _text(doc, "dl")
        check_filename(download)
        if "/" in download:
            raise BadRequest("claim 'dl' is a file name, not a path")
    ips = doc.get("ip")
    if ips is not None:
        if not isinstance(ips, list) or not ips or len(ips) > MAX_CIDRS:
            raise BadRequest(f"claim 'ip' is a list of 1-{MAX_CIDRS} CIDRs")
        for cidr in ips:
            check_cidr(cidr)
    key_id = doc.get("k")
    if key_id is not None:
        try:
            check_key_id(_text(doc, "k"))
        except ValueError as exc:
            raise BadRequest(f"claim 'k': {exc}") from None
    timeline = _timeline(doc["tl"]) if "tl" in doc else None
    if timeline is not None and folder is None:
        raise BadRequest("claim 'tl' needs a folder ('d')")
    return TokenClaims(
        account=account,
        provider=provider,
        expires=_seconds(doc, "e"),
        file=file,
        folder=folder,
        not_before=_seconds(doc, "nb") if "nb" in doc else None,
        download=download,
        client_ips=tuple(ips) if ips else (),
        key_id=key_id,
        timeline=timeline,
    )


_TL_NAMES = frozenset({"start", "end", "dev"})
MAX_DEVICE_CHARS = 255


def _timeline(value: object) -> Window:
    """§7's ``tl``: ``{"start": int, "end": int}`` and ``"dev"`` if a device was given."""
    if not isinstance(value, dict):
        raise BadRequest("claim 'tl' is an object")
    unknown = set(value) - _TL_NAMES
    if unknown:
        raise BadRequest(f"claim 'tl' has an unknown field {sorted(unknown)[0]!r}")
    for name in ("start", "end"):
        if name not in value:
            raise BadRequest(f"claim 'tl' needs {name!r}")
    start, end = _seconds(value, "start"), _seconds(value, "end")
    if end <= start:
        raise BadRequest("claim 'tl': 'end' is after 'start'")
    device = value.get("dev")
    if "dev" in value:  # present, it names a device: null is no device, and a wrong type
        check_device(device, "claim 'tl' 'dev'")
    return Window(start, end, device)


def check_device(value: object, field: str) -> None:
    """A device is one field of a recording's name: text without '_' or '/'."""
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= MAX_DEVICE_CHARS
        or "_" in value
        or "/" in value
        or not value.isprintable()
    ):
        raise BadRequest(f"{field}: 1-{MAX_DEVICE_CHARS} printable characters, no '_' or '/'")


def _timeline_json(window: Window) -> dict[str, object]:
    claim: dict[str, object] = {"start": window.start, "end": window.end}
    if window.device is not None:
        claim["dev"] = window.device
    return claim


def check_cidr(value: object, field: str = "claim 'ip'") -> None:
    if not isinstance(value, str):
        raise BadRequest(f"{field} holds CIDRs as strings")
    try:
        ip_network(value, strict=False)
    except ValueError:
        raise BadRequest(f"{field}: {value[:64]!r} is not an IP address or CIDR") from None


def _text(doc: Mapping[str, Any], name: str) -> str:
    value = doc[name]
    if not isinstance(value, str):
        raise BadRequest(f"claim {name!r} is a string")
    return value


def _seconds(doc: Mapping[str, Any], name: str) -> int:
    value = doc[name]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_SECONDS:
        raise BadRequest(f"claim {name!r} is Unix seconds (an integer, 1 to 12 digits)")
    return value


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
