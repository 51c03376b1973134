"""Durations as operators write them: Go's ``time.ParseDuration`` and link TTLs.

Vault configures expiry times as Go durations (``300ms``, ``2h45m``, ``1.5h``)
or as plain seconds, so both spellings are accepted wherever a TTL is read.
"""

from __future__ import annotations

import re

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 MICRO SIGN
    "μs": 1_000,  # U+03BC GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_NS_PER_SECOND = 1_000_000_000
# Like Go, anything up to the next digit or dot is the unit, so "1 h" names the unit " h".
_ELEMENT = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")
_MAX_TTL_DIGITS = 12


def parse_go_duration(text: str) -> int:
    """Nanoseconds in ``text``, accepting exactly what Go's ``time.ParseDuration`` does.

    Fractions are computed exactly and truncated to the nanosecond, where Go goes
    through float64; the two agree except perhaps in the last nanosecond of a very
    long fraction.
    """
    rest = text
    negative = rest[:1] == "-"
    if rest[:1] in ("-", "+"):
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise ValueError(f"invalid duration {_show(text)}")
    # int64 nanoseconds: the magnitude may reach 2**63 only when negative.
    limit = 2**63 if negative else 2**63 - 1
    total = 0
    pos = 0
    while pos < len(rest):
        match = _ELEMENT.match(rest, pos)
        assert match is not None  # every part of the pattern may be empty
        whole, fraction, unit = match.groups()
        pos = match.end()
        if not whole and not fraction:
            raise ValueError(f"invalid duration {_show(text)}: expected a number")
        significant = whole.lstrip("0")
        # 2**63 has 19 digits, so a longer number overflows without int() ever seeing it.
        number = int(significant or "0") if len(significant) <= 19 else limit + 1
        if number > limit:  # before the unit, as in Go
            raise ValueError(f"duration {_show(text)} is out of range")
        if not unit:
            raise ValueError(f"missing unit in duration {_show(text)}")
        scale = _UNITS.get(unit)
        if scale is None:
            raise ValueError(f"unknown unit {_show(unit)} in duration {_show(text)}")
        total += number * scale
        if fraction:
            numerator, denominator = _fraction(fraction)
            total += numerator * scale // denominator
        if total > limit:
            raise ValueError(f"duration {_show(text)} is out of range")
    return -total if negative else total


def _fraction(digits: str) -> tuple[int, int]:
    """``0.digits`` as a fraction, keeping only the digits Go reads.

    Go stops reading once the digits' value would pass 2**63; what it drops is
    far below a nanosecond. This also keeps int() away from huge strings.
    """
    significant = digits.lstrip("0")
    kept = significant[:19]
    if kept and int(kept) > 2**63:
        kept = kept[:18]
    zeros = len(digits) - len(significant)
    return int(kept or "0"), 10 ** (zeros + len(kept))


def parse_ttl(value: str | int) -> int:
    """A link lifetime in whole seconds, rounded up, from seconds or a Go duration.

    Accepts an int, a string of ASCII digits (seconds) or a Go duration string;
    raises ValueError unless the result is positive.
    """
    # bool is an int, but True is surely a mistake rather than one second.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"must be seconds or a duration like '30m', not {type(value).__name__}")
    if isinstance(value, str) and value.isascii() and value.isdigit():
        significant = value.lstrip("0")
        if len(significant) > _MAX_TTL_DIGITS:
            raise ValueError(f"too large: at most {_MAX_TTL_DIGITS} digits of seconds")
        seconds = int(significant or "0")
    elif isinstance(value, str):
        seconds = -(-parse_go_duration(value) // _NS_PER_SECOND)
    else:
        seconds = value
    # No str() of an int here: a huge one would make str() itself raise.
    if seconds <= 0:
        raise ValueError("must be positive")
    if seconds >= 10**_MAX_TTL_DIGITS:
        raise ValueError(f"too large: at most {_MAX_TTL_DIGITS} digits of seconds")
    return seconds


def _show(text: str) -> str:
    """``text`` quoted for an error message, cut to 40 characters."""
    return repr(text if len(text) <= 40 else text[:39] + "…")
