"""decide(): the status of a GET or HEAD from the request's field lines and the metadata alone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from multidict import CIMultiDict

from proxy.http.decision import Decision, RequestFields, decide
from proxy.http.ranges import ByteRange

SIZE = 1000
STRONG = '"v1"'
WEAK = 'W/"v1"'
MODIFIED = datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)
AT = "Wed, 01 May 2024 12:00:00 GMT"
BEFORE = "Wed, 01 May 2024 11:59:59 GMT"
AFTER = "Wed, 01 May 2024 12:00:01 GMT"

OK = Decision(200)
NOT_MODIFIED = Decision(304)
FAILED = Decision(412)
UNSATISFIABLE = Decision(416)
FIRST_100 = Decision(206, ByteRange(0, 99))


def partial(start: int, end: int) -> Decision:
    return Decision(206, ByteRange(start, end))


# (fields as header lines, size, etag, last_modified, expected)
Case = tuple[list[tuple[str, str]], int, str | None, datetime | None, Decision]
CASES: dict[str, Case] = {
    "nothing asked": ([], SIZE, STRONG, MODIFIED, OK),
    "one range": ([("Range", "bytes=0-99")], SIZE, STRONG, MODIFIED, FIRST_100),
    "open range": ([("Range", "bytes=900-")], SIZE, STRONG, MODIFIED, partial(900, 999)),
    "suffix range": ([("Range", "bytes=-10")], SIZE, STRONG, MODIFIED, partial(990, 999)),
    "field name in any case": ([("range", "bytes=0-99")], SIZE, STRONG, MODIFIED, FIRST_100),
    # several ranges, or several Range lines: the whole object
    "several ranges": ([("Range", "bytes=0-1,5-9")], SIZE, STRONG, MODIFIED, OK),
    "repeated Range": (
        [("Range", "bytes=0-99"), ("Range", "bytes=0-99")],
        SIZE,
        STRONG,
        MODIFIED,
        OK,
    ),
    "malformed range": ([("Range", "bytes=9-1")], SIZE, STRONG, MODIFIED, OK),
    "unknown unit": ([("Range", "items=0-1")], SIZE, STRONG, MODIFIED, OK),
    # unsatisfiable
    "past the end": ([("Range", "bytes=1000-")], SIZE, STRONG, MODIFIED, UNSATISFIABLE),
    "zero suffix": ([("Range", "bytes=-0")], SIZE, STRONG, MODIFIED, UNSATISFIABLE),
    # an empty object
    "empty, plain": ([], 0, STRONG, MODIFIED, OK),
    "empty, from 0": ([("Range", "bytes=0-")], 0, STRONG, MODIFIED, UNSATISFIABLE),
    "empty, suffix": ([("Range", "bytes=-5")], 0, STRONG, MODIFIED, OK),
    # If-Match: strong comparison; empty matches nothing
    "If-Match same": ([("If-Match", STRONG)], SIZE, STRONG, MODIFIED, OK),
    "If-Match other": ([("If-Match", '"v2"')], SIZE, STRONG, MODIFIED, FAILED),
    "If-Match empty": ([("If-Match", "")], SIZE, STRONG, MODIFIED, FAILED),
    "If-Match weak": ([("If-Match", WEAK)], SIZE, STRONG, MODIFIED, FAILED),
    "If-Match star": ([("If-Match", "*")], SIZE, None, None, OK),
    "If-Match repeated, one matches": (
        [("If-Match", '"v2"'), ("If-Match", STRONG)],
        SIZE,
        STRONG,
        MODIFIED,
        OK,
    ),
    "If-Match fails before an unsatisfiable range": (
        [("If-Match", '"v2"'), ("Range", "bytes=5000-")],
        SIZE,
        STRONG,
        MODIFIED,
        FAILED,
    ),
    # If-Unmodified-Since
    "If-Unmodified-Since after": ([("If-Unmodified-Since", AFTER)], SIZE, STRONG, MODIFIED, OK),
    "If-Unmodified-Since before": (
        [("If-Unmodified-Since", BEFORE)],
        SIZE,
        STRONG,
        MODIFIED,
        FAILED,
    ),
    "If-Unmodified-Since repeated is ignored": (
        [("If-Unmodified-Since", BEFORE), ("If-Unmodified-Since", BEFORE)],
        SIZE,
        STRONG,
        MODIFIED,
        OK,
    ),
    # If-None-Match: weak comparison; a match is 304 even with a range
    "If-None-Match same": ([("If-None-Match", STRONG)], SIZE, STRONG, MODIFIED, NOT_MODIFIED),
    "If-None-Match weak": ([("If-None-Match", WEAK)], SIZE, STRONG, MODIFIED, NOT_MODIFIED),
    "If-None-Match other": ([("If-None-Match", '"v2"')], SIZE, STRONG, MODIFIED, OK),
    "If-None-Match empty": ([("If-None-Match", "")], SIZE, STRONG, MODIFIED, OK),
    "If-None-Match with a range": (
        [("If-None-Match", STRONG), ("Range", "bytes=0-99")],
        SIZE,
        STRONG,
        MODIFIED,
        NOT_MODIFIED,
    ),
    "If-None-Match over an unsatisfiable range": (
        [("If-None-Match", STRONG), ("Range", "bytes=5000-")],
        SIZE,
        STRONG,
        MODIFIED,
        NOT_MODIFIED,
    ),
    "If-None-Match empty hides If-Modified-Since": (
        [("If-None-Match", ""), ("If-Modified-Since", AT)],
        SIZE,
        STRONG,
        MODIFIED,
        OK,
    ),
    # If-Modified-Since
    "If-Modified-Since at": ([("If-Modified-Since", AT)], SIZE, STRONG, MODIFIED, NOT_MODIFIED),
    "If-Modified-Since before": ([("If-Modified-Since", BEFORE)], SIZE, STRONG, MODIFIED, OK),
    "If-Modified-Since unknown date": ([("If-Modified-Since", AT)], SIZE, STRONG, None, OK),
    # If-Range: a strong tag or the exact date, else the whole object
    "If-Range strong": (
        [("Range", "bytes=0-99"), ("If-Range", STRONG)],
        SIZE,
        STRONG,
        MODIFIED,
        FIRST_100,
    ),
    "If-Range other": ([("Range", "bytes=0-99"), ("If-Range", '"v2"')], SIZE, STRONG, MODIFIED, OK),
    "If-Range weak": ([("Range", "bytes=0-99"), ("If-Range", WEAK)], SIZE, WEAK, MODIFIED, OK),
    "If-Range against a weak ETag": (
        [("Range", "bytes=0-99"), ("If-Range", STRONG)],
        SIZE,
        WEAK,
        MODIFIED,
        OK,
    ),
    "If-Range date": (
        [("Range", "bytes=0-99"), ("If-Range", AT)],
        SIZE,
        STRONG,
        MODIFIED,
        FIRST_100,
    ),
    "If-Range older date": (
        [("Range", "bytes=0-99"), ("If-Range", BEFORE)],
        SIZE,
        STRONG,
        MODIFIED,
        OK,
    ),
    "If-Range repeated": (
        [("Range", "bytes=0-99"), ("If-Range", STRONG), ("If-Range", STRONG)],
        SIZE,
        STRONG,
        MODIFIED,
        OK,
    ),
    "If-Range mismatch over an unsatisfiable range": (
        [("Range", "bytes=5000-"), ("If-Range", '"v2"')],
        SIZE,
        STRONG,
        MODIFIED,
        OK,
    ),
    "If-Range match over an unsatisfiable range": (
        [("Range", "bytes=5000-"), ("If-Range", STRONG)],
        SIZE,
        STRONG,
        MODIFIED,
        UNSATISFIABLE,
    ),
    "If-Range without Range": ([("If-Range", '"v2"')], SIZE, STRONG, MODIFIED, OK),
}


@pytest.mark.parametrize(
    ("lines", "size", "etag", "last_modified", "expected"), CASES.values(), ids=CASES.keys()
)
def test_decide(
    lines: list[tuple[str, str]],
    size: int,
    etag: str | None,
    last_modified: datetime | None,
    expected: Decision,
) -> None:
    fields = RequestFields.of(CIMultiDict(lines))
    assert decide(fields, size=size, etag=etag, last_modified=last_modified) == expected


def test_fields_keep_every_line_in_order() -> None:
    headers = CIMultiDict(
        [("If-None-Match", '"a"'), ("Range", "bytes=0-1"), ("if-none-match", '"b"')]
    )
    fields = RequestFields.of(headers)
    assert fields.if_none_match == ('"a"', '"b"')
    assert fields.range == ("bytes=0-1",)
    assert fields.first_range == "bytes=0-1"
    assert RequestFields().first_range is None


@pytest.mark.parametrize(
    ("lines", "conditional"),
    [
        ([], False),
        ([("Range", "bytes=0-1"), ("If-Range", STRONG)], False),
        ([("If-Match", "")], True),
        ([("If-None-Match", STRONG)], True),
        ([("If-Modified-Since", "garbage")], True),
        ([("If-Unmodified-Since", AT)], True),
    ],
)
def test_conditional_means_metadata_first(lines: list[tuple[str, str]], conditional: bool) -> None:
    # Present at all, even empty or unparsable: the answer may be 304 or 412.
    assert RequestFields.of(CIMultiDict(lines)).conditional is conditional


def test_only_200_and_206_send_a_body() -> None:
    assert [Decision(s).sends_body for s in (200, 206, 304, 412, 416)] == [
        True,
        True,
        False,
        False,
        False,
    ]
