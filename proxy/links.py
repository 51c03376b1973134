"""The signed link's query string (§1): parse it strictly, or build one.

Parsing is where a malformed request stops: each of the five parameters must
appear exactly once, nothing else may appear, and every value must follow its
rule. Anything else is a ``BadRequest`` before any key or backend is touched.

What of a link may be logged is decided here too (``redact_query``,
``redact_signatures``): however a client mangles one, its signature never
reaches a log.
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
_SURROGATE = re.compile("[\ud800-\udfff]")
_QUERY_SEPARATORS = re.compile(r"([&;])")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# A run of exactly 43 base64url characters (a signature's length), none next to it.
_RUN = re.compile(rf"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{{{SIGNATURE_LENGTH}}}(?![A-Za-z0-9_-])")
# Every span that could decode to a signature: base64url characters and escapes, 43 or more.
_SUSPECT = re.compile(rf"[A-Za-z0-9_%-]{{{SIGNATURE_LENGTH},}}")
_DECODE_ROUNDS = 4
REDACTED = "[redacted]"


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

    Names are compared decoded (``%73`` is ``s``), pieces are split at ``;`` as well
    as ``&``, and unknown pieces are redacted whole. What is kept still goes through
    ``redact_signatures`` before it is logged (a signature may hide inside ``f``).
    """
    out = []
    for piece in _QUERY_SEPARATORS.split(raw):
        if piece in ("&", ";"):
            out.append(piece)
            continue
        name, sep, _ = piece.partition("=")
        try:
            plain = unquote_plus(name, errors="strict")
        except UnicodeDecodeError:
            plain = ""
        if plain in _LOGGED or not piece:
            out.append(piece)
        elif plain == "s":
            out.append(f"{name}{sep}{REDACTED}")
        else:  # an unknown name may itself be a pasted signature
            out.append(REDACTED)
    return "".join(out)


def redact_signatures(text: str) -> str:
    """``text`` (a raw request target) with everything that reads as a signature redacted.

    A signature is a run of exactly 43 base64url characters with no base64url
    character on either side. The text is examined as sent and after each of up to
    four rounds of percent-decoding (the characters of a ``%XX`` escape never count
    as part of a run), and a run found in any round is redacted where it came from
    in the text as sent, so a percent-encoded link, ``%26s%3D...`` inside ``f`` or a
    signature as a path segment are all caught. Longer runs (Kerberos file names
    are 50 and more) stay readable. A stretch still percent-encoded after four rounds
    that could hold a signature is redacted whole.
    """
    hidden: list[tuple[int, int]] = []
    # A signature in any round comes from one stretch of base64url characters and escapes
    # (whatever surrounds a stretch decodes to itself), so each is examined on its own.
    for stretch in _SUSPECT.finditer(text):
        offset = stretch.start()
        hidden += [(offset + a, offset + b) for a, b in _hidden_in(stretch.group())]
    return _blank(text, hidden) if hidden else text


def _hidden_in(stretch: str) -> list[tuple[int, int]]:
    if "%" not in stretch:  # nothing to decode: one run, a signature only if exactly 43
        return [(0, len(stretch))] if len(stretch) == SIGNATURE_LENGTH else []
    view = stretch
    starts = list(range(len(stretch)))  # where each character of this round came from
    ends = list(range(1, len(stretch) + 1))
    hidden: list[tuple[int, int]] = []
    for round_ in range(_DECODE_ROUNDS + 1):
        escapes = [m.start() for m in _ESCAPE.finditer(view)]
        # An escape's three characters are never part of a run: mask them out.
        masked = _ESCAPE.sub("%%%", view)
        hidden += [(starts[m.start()], ends[m.end() - 1]) for m in _RUN.finditer(masked)]
        if not escapes:
            break
        if round_ == _DECODE_ROUNDS:  # still encoded: it could hide one, so all of it goes
            return [(0, len(stretch))]
        view, starts, ends = _percent_decode(view, starts, ends, escapes)
    return hidden


def _percent_decode(
    view: str, starts: list[int], ends: list[int], escapes: list[int]
) -> tuple[str, list[int], list[int]]:
    """One round of decoding; a byte past ASCII becomes U+FFFD (it is no base64url anyway)."""
    out, out_starts, out_ends = [], [], []
    done = 0
    for at in escapes:
        out.append(view[done:at])
        out_starts += starts[done:at]
        out_ends += ends[done:at]
        byte = int(view[at + 1 : at + 3], 16)
        out.append(chr(byte) if byte < 0x80 else "\ufffd")
        out_starts.append(starts[at])
        out_ends.append(ends[at + 2])
        done = at + 3
    out.append(view[done:])
    out_starts += starts[done:]
    out_ends += ends[done:]
    return "".join(out), out_starts, out_ends


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    out, pos = [], 0
    for start, end in sorted(spans):
        if end <= pos:
            continue
        if start > pos:
            out.append(text[pos:start])
        elif out and out[-1] == REDACTED:
            pos = end  # overlaps the last redaction: one marker for both
            continue
        out.append(REDACTED)
        pos = end
    out.append(text[pos:])
    return "".join(out)


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
    if _SURROGATE.search(value):  # not UTF-8 at all: it would not even encode
        raise BadRequest("parameter 'f' is not valid UTF-8")
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
