"""What of a link may be logged: however a client mangles one, its signature never
reaches a log.

``redact_query`` keeps only the values of ``a``, ``p``, ``f`` and ``e`` of a query;
``redact_signatures`` then blanks anything in a request target that reads as a
signature (43 base64url characters), percent-encoded or not, in a query or a path.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

from proxy.links.query import PARAMS
from proxy.links.signing import SIGNATURE_LENGTH

REDACTED = "[redacted]"
_LOGGED = frozenset(PARAMS) - {"s"}
_QUERY_SEPARATORS = re.compile(r"([&;])")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# A run of exactly 43 base64url characters (a signature's length), none next to it.
_RUN = re.compile(rf"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{{{SIGNATURE_LENGTH}}}(?![A-Za-z0-9_-])")
# Every span that could decode to a signature: base64url characters and escapes, 43 or more.
_SUSPECT = re.compile(rf"[A-Za-z0-9_%-]{{{SIGNATURE_LENGTH},}}")
_DECODE_ROUNDS = 4


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
