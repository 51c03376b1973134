import itertools

import pytest

from proxy.http.ranges import UNSATISFIABLE, ByteRange, RangeDecision, parse_range

BIG = "9" * 5000

CASES: list[tuple[str | None, int, RangeDecision]] = [
    # no header, or nothing to parse
    (None, 1000, None),
    ("", 1000, None),
    ("bytes=", 1000, None),
    ("bytes=,", 1000, None),
    ("bytes= , ,", 1000, None),
    # the three forms
    ("bytes=0-0", 1000, ByteRange(0, 0)),
    ("bytes=0-499", 1000, ByteRange(0, 499)),
    ("bytes=500-999", 1000, ByteRange(500, 999)),
    ("bytes=500-", 1000, ByteRange(500, 999)),
    ("bytes=0-", 1000, ByteRange(0, 999)),
    ("bytes=999-", 1000, ByteRange(999, 999)),
    ("bytes=-500", 1000, ByteRange(500, 999)),
    ("bytes=-1", 1000, ByteRange(999, 999)),
    ("bytes=-1000", 1000, ByteRange(0, 999)),
    ("bytes=-5000", 1000, ByteRange(0, 999)),
    ("bytes=7-7", 8, ByteRange(7, 7)),
    # end past the object is clamped
    ("bytes=0-1000", 1000, ByteRange(0, 999)),
    ("bytes=500-100000", 1000, ByteRange(500, 999)),
    # start at or past the end
    ("bytes=1000-", 1000, UNSATISFIABLE),
    ("bytes=1000-1000", 1000, UNSATISFIABLE),
    ("bytes=1000-2000", 1000, UNSATISFIABLE),
    ("bytes=1001-", 1000, UNSATISFIABLE),
    ("bytes=-0", 1000, UNSATISFIABLE),
    ("bytes=-000", 1000, UNSATISFIABLE),
    # an empty object
    ("bytes=0-0", 0, UNSATISFIABLE),
    ("bytes=0-", 0, UNSATISFIABLE),
    ("bytes=-1", 0, None),
    ("bytes=-500", 0, None),
    ("bytes=-0", 0, UNSATISFIABLE),
    # leading zeros are plain decimal
    ("bytes=007-010", 1000, ByteRange(7, 10)),
    # several ranges: served whole
    ("bytes=0-1,2-3", 1000, None),
    ("bytes=0-1, -5", 1000, None),
    ("bytes=0-1,0-1", 1000, None),
    # empty list elements are dropped
    ("bytes=0-1,", 1000, ByteRange(0, 1)),
    ("bytes=,0-1", 1000, ByteRange(0, 1)),
    ("bytes=,,0-1,,", 1000, ByteRange(0, 1)),
    # whitespace around a spec
    ("bytes= 0-1", 1000, ByteRange(0, 1)),
    ("bytes=0-1 ", 1000, ByteRange(0, 1)),
    ("bytes=\t0-1\t", 1000, ByteRange(0, 1)),
    ("bytes= 0-1 , ", 1000, ByteRange(0, 1)),
    # whitespace where the grammar has none
    ("bytes=0 -1", 1000, None),
    ("bytes=0- 1", 1000, None),
    ("bytes=1 0-20", 1000, None),
    ("bytes =0-1", 1000, None),
    (" bytes=0-1", 1000, None),
    ("bytes=0-1\n", 1000, None),
    # units
    ("BYTES=0-1", 1000, ByteRange(0, 1)),
    ("Bytes=0-1", 1000, ByteRange(0, 1)),
    ("items=0-1", 1000, None),
    ("byte=0-1", 1000, None),
    ("bytes 0-1", 1000, None),
    ("=0-1", 1000, None),
    ("0-1", 1000, None),
    # malformed specs
    ("bytes=-", 1000, None),
    ("bytes=--1", 1000, None),
    ("bytes=1-2-3", 1000, None),
    ("bytes=5-4", 1000, None),
    ("bytes=1000-999", 1000, None),
    ("bytes=a-b", 1000, None),
    ("bytes=0-x", 1000, None),
    ("bytes=0x10-0x20", 1000, None),
    ("bytes=+1-2", 1000, None),
    ("bytes=1-+2", 1000, None),
    ("bytes=-+5", 1000, None),
    ("bytes=-1-2", 1000, None),
    ("bytes=1.5-2", 1000, None),
    ("bytes=1", 1000, None),
    ("bytes=0-1;q=1", 1000, None),
    ("bytes=0=1", 1000, None),
    ("bytes==0-1", 1000, None),
    ("bytes=\u0661-\u0662", 1000, None),  # Arabic-Indic digits are not DIGIT
    ("bytes=\uff10-\uff11", 1000, None),  # nor are fullwidth ones
    # numbers too long for int(); larger than any object
    ("bytes=0-" + BIG, 1000, ByteRange(0, 999)),
    ("bytes=" + BIG + "-", 1000, UNSATISFIABLE),
    ("bytes=" + BIG + "-" + BIG, 1000, UNSATISFIABLE),
    ("bytes=-" + BIG, 1000, ByteRange(0, 999)),
    ("bytes=" + BIG + "-1", 1000, None),
    ("bytes=" + BIG + "-" + BIG[1:], 1000, None),  # both huge, last < first
    ("bytes=" + "0" * 5000 + "5-" + "0" * 5000 + "6", 1000, ByteRange(5, 6)),
    ("bytes=0-99999999999999999999", 1000, ByteRange(0, 999)),
    ("bytes=999999999999999999-", 1000, UNSATISFIABLE),
]


@pytest.mark.parametrize(("header", "size", "expected"), CASES)
def test_parse_range(header: str | None, size: int, expected: RangeDecision) -> None:
    assert parse_range(header, size) == expected


def test_content_range_of_a_parsed_range() -> None:
    result = parse_range("bytes=-500", 1234)
    assert isinstance(result, ByteRange)
    assert result.content_range(1234) == "bytes 734-1233/1234"
    assert result.length == 500


_NUMBERS = ["", "0", "1", "2", "9", "10", "11", "00", "01", "+1", "x", " ", BIG[:30]]
_SIZES = [0, 1, 2, 10, 11]


def _headers() -> list[str]:
    specs = [f"{a}-{b}" for a, b in itertools.product(_NUMBERS, repeat=2)]
    specs += ["", "-", "1", ",", "0-1,2-3"]
    return [prefix + spec for prefix in ("bytes=", "BYTES=", "bytes= ", "x=") for spec in specs]


def test_every_answer_is_inside_the_object() -> None:
    seen = set()
    for header, size in itertools.product(_headers(), _SIZES):
        result = parse_range(header, size)
        if isinstance(result, ByteRange):
            assert 0 <= result.start <= result.end < size, (header, size, result)
        else:
            assert result is None or result is UNSATISFIABLE, (header, size, result)
        seen.add(type(result))
    # the sweep exercised all three answers, so the invariant was really tested
    assert seen == {ByteRange, type(None), type(UNSATISFIABLE)}
