"""Conditional requests (RFC 9110 §13) for GET and HEAD. Pure but for the clock of
``proxy.http.dates`` (an rfc850-date's two-digit year).

``evaluate_preconditions`` runs If-Match, If-Unmodified-Since, If-None-Match and
If-Modified-Since in the order of §13.2.2 and says whether to answer 412, 304
or carry on; ``if_range_matches`` decides whether a Range request may be
honoured. Both take each field as the list of its field lines, as received
(empty when absent), and the validators the backend reported, and neither
raises on anything a client sends: a field that cannot be parsed is ignored
or, inside a list, simply matches nothing.

Repeated lines: the list fields (If-Match, If-None-Match) are combined into one
comma-separated value (§5.2); the single-value fields (the dates, If-Range)
are then invalid, so a repeated date is ignored (§13.1.3, §13.1.4) and a
repeated If-Range never matches (the whole body is always a correct answer).
"""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import NamedTuple

from proxy.http.dates import parse_http_date

# A field's lines in the order received; a list or tuple, never a bare str (which would
# read as one line per character).
FieldLines = list[str] | tuple[str, ...]


class Precondition(enum.Enum):
    PROCEED = "proceed"  # evaluate Range next, then send the body
    NOT_MODIFIED = "not_modified"  # 304
    FAILED = "failed"  # 412


class _EntityTag(NamedTuple):
    weak: bool
    opaque: str


# The grammar (§8.8.3) forbids spaces and controls inside the quotes; the tag
# is only ever compared with the one the backend gave us, so any run of
# non-quote characters is accepted.
_ENTITY_TAG = re.compile(r'(W/)?"([^"]*)"')
# One element of a list: a comma inside quotes does not end it, and an
# unterminated quote runs to the end of the field.
_LIST_ELEMENT = re.compile(r'(?:"[^"]*"?|[^,"])+')


def evaluate_preconditions(
    *,
    if_match: FieldLines,
    if_none_match: FieldLines,
    if_modified_since: FieldLines,
    if_unmodified_since: FieldLines,
    etag: str | None,
    last_modified: datetime | None,
) -> Precondition:
    """The outcome of the request's preconditions against the current representation.

    Each field is the list of its lines (empty when absent). ``etag`` is the
    entity-tag as sent in HTTP (``"abc"`` or ``W/"abc"``) and ``last_modified``
    a timezone-aware datetime; either may be None if unknown.
    """
    current = _parse_entity_tag(etag)
    modified = _whole_seconds(last_modified)

    if if_match:
        # §13.2.2 step 1, §13.1.1: strong comparison; "*" matches any current
        # representation, and one always exists by the time this runs. A field sent
        # empty is present and lists no tag, so nothing matches it (412, as nginx).
        field = _combined(if_match)
        if not _is_star(field) and not any(
            _strong_match(tag, current) for tag in _entity_tags(field)
        ):
            return Precondition.FAILED
    elif modified is not None:
        # §13.2.2 step 2, §13.1.4: an invalid or repeated date is ignored.
        date = _single_date(if_unmodified_since)
        if date is not None and modified > date:
            return Precondition.FAILED

    if if_none_match:
        # §13.2.2 step 3, §13.1.2: weak comparison; a match means 304 for GET and HEAD.
        # Present, even empty, it also means If-Modified-Since is not looked at.
        field = _combined(if_none_match)
        if _is_star(field) or any(_weak_match(tag, current) for tag in _entity_tags(field)):
            return Precondition.NOT_MODIFIED
    elif modified is not None:
        # §13.2.2 step 4, §13.1.3: an invalid or repeated date is ignored.
        date = _single_date(if_modified_since)
        if date is not None and modified <= date:
            return Precondition.NOT_MODIFIED

    return Precondition.PROCEED


def if_range_matches(
    if_range: FieldLines, *, etag: str | None, last_modified: datetime | None
) -> bool:
    """True when a Range request may be honoured, False when the whole body must be sent.

    ``if_range`` is the field's lines (empty when absent)."""
    if not if_range:
        return True
    if len(if_range) > 1:
        # §13.1.5 allows one validator; several lines are invalid, and an invalid
        # If-Range must not select a part of what may be another representation.
        return False
    value = if_range[0].strip(" \t")
    if value.startswith(('"', "W/")):
        # §13.1.5: strong comparison, so a weak tag on either side never matches.
        tag = _parse_entity_tag(value)
        return tag is not None and _strong_match(tag, _parse_entity_tag(etag))
    # §13.1.5: a date must equal Last-Modified exactly; anything unparsable
    # falls back to the whole body, which is always a correct answer.
    date = parse_http_date(value)
    modified = _whole_seconds(last_modified)
    return date is not None and modified is not None and modified == date


def _combined(lines: FieldLines) -> str:
    # §5.2: a list field's lines are one comma-separated value, in order.
    return ", ".join(lines)


def _single_date(lines: FieldLines) -> datetime | None:
    # §13.1.3, §13.1.4: a date field with more than one member is ignored, like an invalid one.
    return parse_http_date(lines[0]) if len(lines) == 1 else None


def _is_star(field: str) -> bool:
    return field.strip(" \t") == "*"


def _parse_entity_tag(text: str | None) -> _EntityTag | None:
    match = _ENTITY_TAG.fullmatch(text) if text is not None else None
    if match is None:
        return None
    return _EntityTag(weak=match[1] is not None, opaque=match[2])


def _entity_tags(field: str) -> list[_EntityTag]:
    """The well-formed entity-tags of a list field; malformed elements are dropped."""
    tags = (_parse_entity_tag(element.strip(" \t")) for element in _LIST_ELEMENT.findall(field))
    return [tag for tag in tags if tag is not None]


def _strong_match(a: _EntityTag, b: _EntityTag | None) -> bool:
    # §8.8.3.2: both strong and identical.
    return b is not None and not a.weak and not b.weak and a.opaque == b.opaque


def _weak_match(a: _EntityTag, b: _EntityTag | None) -> bool:
    # §8.8.3.2: identical once any W/ is set aside.
    return b is not None and a.opaque == b.opaque


def _whole_seconds(moment: datetime | None) -> datetime | None:
    # An HTTP-date cannot say anything finer than a second (§5.6.7).
    return moment.replace(microsecond=0) if moment is not None else None
