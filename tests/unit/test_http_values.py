"""HTTP-dates and Content-Range values, written and read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from proxy.http.dates import format_http_date, parse_http_date
from proxy.http.ranges import ByteRange, parse_content_range, unsatisfied_range


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC), "Sun, 06 Nov 1994 08:49:37 GMT"),
        # fractions of a second go; other zones are converted
        (datetime(2024, 5, 1, 12, 0, 0, 999_999, tzinfo=UTC), "Wed, 01 May 2024 12:00:00 GMT"),
        (
            datetime(2024, 5, 1, 14, 0, 0, tzinfo=timezone(timedelta(hours=2))),
            "Wed, 01 May 2024 12:00:00 GMT",
        ),
    ],
)
def test_format_http_date(moment: datetime, text: str) -> None:
    assert format_http_date(moment) == text
    assert parse_http_date(text) == moment.replace(microsecond=0)


@pytest.mark.parametrize(
    "text",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        " \tSun, 06 Nov 1994 08:49:37 GMT\t ",
    ],
)
def test_the_three_forms_are_one_instant(text: str) -> None:
    assert parse_http_date(text) == datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["", "Sun, 06 Nov 1994 08:49:37 UTC", "sun, 06 nov 1994 08:49:37 gmt", "1994-11-06"]
)
def test_anything_else_is_no_date(text: str) -> None:
    assert parse_http_date(text) is None


def test_content_range_values() -> None:
    assert ByteRange(0, 99).content_range(1000) == "bytes 0-99/1000"
    assert unsatisfied_range(1000) == "bytes */1000"


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("bytes 0-99/1000", (ByteRange(0, 99), 1000)),
        ("bytes 999-999/1000", (ByteRange(999, 999), 1000)),
        ("bytes 0-0/1", (ByteRange(0, 0), 1)),
        # not a satisfied range of a known length
        ("bytes */1000", None),
        ("bytes 0-99/*", None),
        ("bytes 5-4/1000", None),
        ("bytes 0-1000/1000", None),
        ("bytes 0-99/1000 ", None),
        ("Bytes 0-99/1000", None),
        ("bytes -1-99/1000", None),
        ("bytes 0-99", None),
        ("", None),
        (f"bytes 0-{'9' * 5000}/{'9' * 5000}", None),
    ],
)
def test_parse_content_range(value: str, parsed: tuple[ByteRange, int] | None) -> None:
    assert parse_content_range(value) == parsed
