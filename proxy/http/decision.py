"""The status of a GET or HEAD, decided before any body byte is read. Pure.

As aiohttp's ``web_fileresponse.py`` does, the answer is settled from the
request's fields and the object's metadata alone: ``decide`` returns a
``Decision`` (200, 206, 304, 412 or 416, and the bytes a 206 sends), and only
then does a handler write headers or open a body.

The order is RFC 9110 §13.2.2's: the preconditions (412, 304; see
``proxy.http.conditional``), then ``Range``. Exactly one ``Range`` line naming
one satisfiable range is a 206, unless ``If-Range`` does not match (then 200);
several lines are as malformed as several ranges (200); an unsatisfiable one
is a 416 (unless ``If-Range`` does not match: 200).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from multidict import MultiMapping

from proxy.http import names
from proxy.http.conditional import Precondition, evaluate_preconditions, if_range_matches
from proxy.http.ranges import UNSATISFIABLE, ByteRange, parse_range

Status = Literal[200, 206, 304, 412, 416]


@dataclass(frozen=True, slots=True)
class RequestFields:
    """The fields that can change the status, each as its lines in the order received
    (empty when absent): a repeated line means something, so none is merged away here."""

    range: tuple[str, ...] = ()
    if_range: tuple[str, ...] = ()
    if_match: tuple[str, ...] = ()
    if_none_match: tuple[str, ...] = ()
    if_modified_since: tuple[str, ...] = ()
    if_unmodified_since: tuple[str, ...] = ()

    @classmethod
    def of(cls, headers: MultiMapping[str]) -> RequestFields:
        """The fields of ``headers``, a case-insensitive multidict such as ``request.headers``."""

        def lines(name: str) -> tuple[str, ...]:
            return tuple(headers.getall(name, ()))

        return cls(
            range=lines(names.RANGE),
            if_range=lines(names.IF_RANGE),
            if_match=lines(names.IF_MATCH),
            if_none_match=lines(names.IF_NONE_MATCH),
            if_modified_since=lines(names.IF_MODIFIED_SINCE),
            if_unmodified_since=lines(names.IF_UNMODIFIED_SINCE),
        )

    @property
    def conditional(self) -> bool:
        """Whether the answer may be 304 or 412: then metadata comes first, never a body."""
        return any(
            (self.if_match, self.if_none_match, self.if_modified_since, self.if_unmodified_since)
        )

    @property
    def first_range(self) -> str | None:
        """The first ``Range`` line: what a backend is asked for before the size is known."""
        return self.range[0] if self.range else None


@dataclass(frozen=True, slots=True)
class Decision:
    status: Status
    # The bytes a 206 sends; None for every other status (a 200 sends the whole object).
    byte_range: ByteRange | None = None

    @property
    def sends_body(self) -> bool:
        return self.status in (200, 206)


def decide(
    fields: RequestFields, *, size: int, etag: str | None, last_modified: datetime | None
) -> Decision:
    """The answer to ``fields`` for an object of ``size`` bytes with these validators.

    ``etag`` is the entity-tag as sent in HTTP (``"abc"`` or ``W/"abc"``),
    ``last_modified`` timezone-aware; either may be None when unknown. Never raises.
    """
    outcome = evaluate_preconditions(
        if_match=fields.if_match,
        if_none_match=fields.if_none_match,
        if_modified_since=fields.if_modified_since,
        if_unmodified_since=fields.if_unmodified_since,
        etag=etag,
        last_modified=last_modified,
    )
    if outcome is Precondition.FAILED:
        return Decision(412)
    if outcome is Precondition.NOT_MODIFIED:
        return Decision(304)
    # Several Range fields are as malformed as several ranges: serve the whole object.
    wanted = parse_range(fields.range[0], size) if len(fields.range) == 1 else None
    if wanted is None or not if_range_matches(
        fields.if_range, etag=etag, last_modified=last_modified
    ):
        return Decision(200)
    if wanted is UNSATISFIABLE:
        return Decision(416)
    return Decision(206, wanted)
