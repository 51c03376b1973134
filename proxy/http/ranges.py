"""Byte ranges (RFC 9110 §14): ``Range`` parsed for an object of known size, ``Content-Range``
written and read. Pure.

``parse_range(header, size)`` decides one of three answers before any byte is
read: a ``ByteRange`` (206), ``None`` (ignore the header and send the whole
body, 200) or ``UNSATISFIABLE`` (416 with ``Content-Range: bytes */size``).
Only a single range is served; a multi-range request is answered in full, which
RFC 9110 §14.2 allows and which spares us ``multipart/byteranges``.

``ByteRange`` is also the value that travels down to a backend (``proxy.storage``
imports it from here), so the backends' ``Content-Range`` answers are read here
too (``parse_content_range``).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias


@dataclass(frozen=True, slots=True)
class ByteRange:
    """An inclusive byte range ``start..end`` that lies inside the object."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        """The ``Content-Range`` of a 206 that sends these bytes of ``size``."""
        return f"bytes {self.start}-{self.end}/{size}"


def unsatisfied_range(size: int) -> str:
    """The ``Content-Range`` of a 416 (§14.4): no range, only the current length."""
    return f"bytes */{size}"


class Unsatisfiable(enum.Enum):
    UNSATISFIABLE = "unsatisfiable"


UNSATISFIABLE: Final = Unsatisfiable.UNSATISFIABLE

RangeDecision: TypeAlias = ByteRange | Literal[Unsatisfiable.UNSATISFIABLE] | None

# ASCII digits only: \d would also accept other scripts' digits.
_SPEC = re.compile(r"([0-9]*)-([0-9]*)")
# Python refuses int() of very long digit strings; a position this large lies
# past the end of any object, so longer numbers are clamped to it.
_MAX_DIGITS = 18
_HUGE = 10**_MAX_DIGITS
_CONTENT_RANGE = re.compile(
    rf"bytes ([0-9]{{1,{_MAX_DIGITS}}})-([0-9]{{1,{_MAX_DIGITS}}})"
    rf"/([0-9]{{1,{_MAX_DIGITS}}})"
)


def parse_range(header: str | None, size: int) -> RangeDecision:
    """Decide how to answer ``Range: header`` for an object of ``size`` bytes.

    Never raises; a returned range always satisfies ``0 <= start <= end < size``.
    """
    spec = _single_spec(header)
    if spec is None:
        return None
    first, last = spec
    if not first:
        suffix = _number(last)
        if suffix == 0:
            return UNSATISFIABLE  # §14.1.1: a suffix of zero bytes selects nothing
        if size == 0:
            return None  # the whole, empty, body is the answer; a 206 cannot say "0 bytes"
        return ByteRange(max(0, size - suffix), size - 1)
    start = _number(first)
    if start >= size:
        return UNSATISFIABLE
    end = size - 1 if not last else min(_number(last), size - 1)
    return ByteRange(start, end)


def requested_range(header: str | None) -> str | None:
    """The one range ``header`` asks for, as a backend's ``Range`` value, size unknown.

    ``None`` when the header is absent, malformed or asks for several ranges: the
    answer will then be the whole object. Used to ask a backend for the bytes and
    their metadata in one call; ``parse_range`` against the size the backend then
    reports still decides, so a backend that resolves a range differently is caught.
    """
    spec = _single_spec(header)
    if spec is None:
        return None
    first, last = spec
    if not first:
        return f"bytes=-{_number(last)}"
    return f"bytes={_number(first)}-{_number(last) if last else ''}"


def parse_content_range(value: str) -> tuple[ByteRange, int] | None:
    """The range and the complete length a 206's ``Content-Range`` states (§14.4), or None
    when it is not ``bytes first-last/length`` with ``first <= last < length``."""
    match = _CONTENT_RANGE.fullmatch(value)
    if match is None:
        return None
    start, end, size = (int(group) for group in match.groups())
    if end < start or end >= size:
        return None
    return ByteRange(start, end), size


def _single_spec(header: str | None) -> tuple[str, str] | None:
    """The first and last positions (digits, either may be empty) of a header that names
    exactly one valid byte range; None for anything the answer must ignore."""
    if not header:
        return None
    unit, equals, range_set = header.partition("=")
    # Range units are case-insensitive (§14.1); an unknown unit is ignored (§14.2).
    if not equals or unit.lower() != "bytes":
        return None
    # Empty list elements are tolerated (§5.6.1).
    specs = [spec for spec in (s.strip(" \t") for s in range_set.split(",")) if spec]
    match = _SPEC.fullmatch(specs[0]) if len(specs) == 1 else None
    if match is None:
        return None
    first, last = match.groups()
    # §14.1.1: no position at all, or last-pos below first-pos, makes the spec invalid.
    if not (first or last) or (first and last and _key(last) < _key(first)):
        return None
    return first, last


def _number(digits: str) -> int:
    significant = digits.lstrip("0")
    return int(significant or "0") if len(significant) <= _MAX_DIGITS else _HUGE


def _key(digits: str) -> tuple[int, str]:
    """Orders digit strings by value without converting them, also past the clamp."""
    significant = digits.lstrip("0")
    return len(significant), significant
