from datetime import UTC, datetime, timedelta

import pytest

from proxy.http.conditional import Precondition, evaluate_preconditions, if_range_matches

SECOND = timedelta(seconds=1)
PROCEED = Precondition.PROCEED
NOT_MODIFIED = Precondition.NOT_MODIFIED
FAILED = Precondition.FAILED

STRONG = '"abc"'
WEAK = 'W/"abc"'
# Half a second past the date below: HTTP-dates only carry whole seconds.
MODIFIED = datetime(2024, 5, 1, 12, 0, 0, 500_000, tzinfo=UTC)
AT = "Wed, 01 May 2024 12:00:00 GMT"
BEFORE = "Wed, 01 May 2024 11:59:59 GMT"
AFTER = "Wed, 01 May 2024 12:00:01 GMT"
FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"
PAST = "Sun, 06 Nov 1994 08:49:37 GMT"

# The same instants in the two obsolete forms (§5.6.7).
AT_850 = "Wednesday, 01-May-24 12:00:00 GMT"
BEFORE_850 = "Wednesday, 01-May-24 11:59:59 GMT"
AT_ASCTIME = "Wed May  1 12:00:00 2024"
BEFORE_ASCTIME = "Wed May  1 11:59:59 2024"

GARBAGE_DATES = [
    "",
    " ",
    "yesterday",
    "0",
    "1714564800",
    "2024-05-01T12:00:00Z",
    "Wed, 01 May 2024 12:00:00 UTC",
    "Wed, 01 May 2024 12:00:00 +0000",
    "wed, 01 may 2024 12:00:00 gmt",
    "Wed, 1 May 2024 12:00:00 GMT",
    "Wed, 01 May 24 12:00:00 GMT",
    "Wed, 01 May 2024 12:00 GMT",
    "Wed, 31 Feb 2024 12:00:00 GMT",
    "Wed, 01 May 2024 25:00:00 GMT",
    "Wed, 01 May 0000 12:00:00 GMT",
    "Wed, 01 May 2024 12:00:00 GMT, Thu, 02 May 2024 12:00:00 GMT",
    "Wed, 01 May 2024 12:00:00 GMT\n",
    "Wed, 01 May 2024 \uff11\uff12:00:00 GMT",
    'W/"abc"',
    "x" * 500,
]


Field = str | list[str] | None


def lines(field: Field) -> list[str]:
    """A field as its lines: None is absent, a str one line, a list several lines."""
    if field is None:
        return []
    return [field] if isinstance(field, str) else field


def evaluate(
    *,
    if_match: Field = None,
    if_none_match: Field = None,
    if_modified_since: Field = None,
    if_unmodified_since: Field = None,
    etag: str | None = STRONG,
    last_modified: datetime | None = MODIFIED,
) -> Precondition:
    return evaluate_preconditions(
        if_match=lines(if_match),
        if_none_match=lines(if_none_match),
        if_modified_since=lines(if_modified_since),
        if_unmodified_since=lines(if_unmodified_since),
        etag=etag,
        last_modified=last_modified,
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, PROCEED),
        ({"etag": None, "last_modified": None}, PROCEED),
        # If-Match: strong comparison
        ({"if_match": STRONG}, PROCEED),
        ({"if_match": '"other"'}, FAILED),
        ({"if_match": WEAK}, FAILED),
        ({"if_match": STRONG, "etag": WEAK}, FAILED),
        ({"if_match": WEAK, "etag": WEAK}, FAILED),
        ({"if_match": "*"}, PROCEED),
        ({"if_match": " * "}, PROCEED),
        ({"if_match": "*", "etag": None}, PROCEED),
        ({"if_match": "*", "etag": WEAK}, PROCEED),
        ({"if_match": STRONG, "etag": None}, FAILED),
        ({"if_match": '"x", "abc"'}, PROCEED),
        ({"if_match": '"x","abc"'}, PROCEED),
        ({"if_match": ' "x" ,\t"abc" , '}, PROCEED),
        ({"if_match": ',,"abc",,'}, PROCEED),
        ({"if_match": 'W/"abc", "abc"'}, PROCEED),
        ({"if_match": '"x", W/"abc"'}, FAILED),
        ({"if_match": '"ABC"'}, FAILED),
        ({"if_match": "abc"}, FAILED),
        ({"if_match": 'w/"abc"'}, FAILED),
        ({"if_match": '"abc'}, FAILED),
        ({"if_match": '"x", "abc'}, FAILED),
        ({"if_match": 'garbage, "abc"'}, PROCEED),
        ({"if_match": '"abc"garbage'}, FAILED),
        ({"if_match": '*, "abc"'}, PROCEED),
        ({"if_match": '*, "x"'}, FAILED),
        ({"if_match": "**"}, FAILED),
        ({"if_match": '"a,b"', "etag": '"a,b"'}, PROCEED),
        ({"if_match": '"a", "b"', "etag": '"a,b"'}, FAILED),
        ({"if_match": '"a,b"', "etag": '"a"'}, FAILED),
        ({"if_match": '"x,y", "abc"'}, PROCEED),
        ({"if_match": '"abc,", "x"'}, FAILED),
        ({"if_match": '"", "abc"', "etag": '""'}, PROCEED),
        ({"if_match": STRONG, "etag": "abc"}, FAILED),  # a backend tag without quotes
        # An empty field is present and lists no tag: nothing matches (RFC 9110 §13.1.1; nginx).
        ({"if_match": ""}, FAILED),
        ({"if_match": " \t"}, FAILED),
        ({"if_match": "", "etag": None}, FAILED),
        ({"if_match": "", "if_unmodified_since": FUTURE}, FAILED),
        ({"if_match": ","}, FAILED),
        ({"if_match": '"' * 10_001}, FAILED),
        ({"if_match": ", ".join(['"x"'] * 1000 + [STRONG])}, PROCEED),
        # If-Unmodified-Since, only without If-Match
        ({"if_unmodified_since": AT}, PROCEED),
        ({"if_unmodified_since": AFTER}, PROCEED),
        ({"if_unmodified_since": FUTURE}, PROCEED),
        ({"if_unmodified_since": BEFORE}, FAILED),
        ({"if_unmodified_since": PAST}, FAILED),
        ({"if_unmodified_since": AT_850}, PROCEED),
        ({"if_unmodified_since": BEFORE_850}, FAILED),
        ({"if_unmodified_since": AT_ASCTIME}, PROCEED),
        ({"if_unmodified_since": BEFORE_ASCTIME}, FAILED),
        ({"if_unmodified_since": BEFORE, "last_modified": None}, PROCEED),
        ({"if_unmodified_since": BEFORE, "if_match": STRONG}, PROCEED),
        ({"if_unmodified_since": BEFORE, "if_match": "*"}, PROCEED),
        ({"if_unmodified_since": AT, "if_match": '"other"'}, FAILED),
        # If-None-Match: weak comparison
        ({"if_none_match": STRONG}, NOT_MODIFIED),
        ({"if_none_match": WEAK}, NOT_MODIFIED),
        ({"if_none_match": STRONG, "etag": WEAK}, NOT_MODIFIED),
        ({"if_none_match": WEAK, "etag": WEAK}, NOT_MODIFIED),
        ({"if_none_match": '"other"'}, PROCEED),
        ({"if_none_match": 'W/"other"'}, PROCEED),
        ({"if_none_match": "*"}, NOT_MODIFIED),
        ({"if_none_match": "*", "etag": None}, NOT_MODIFIED),
        ({"if_none_match": STRONG, "etag": None}, PROCEED),
        ({"if_none_match": '"x", W/"abc"'}, NOT_MODIFIED),
        ({"if_none_match": '"x" , "y"'}, PROCEED),
        ({"if_none_match": '  "x",  "abc"  '}, NOT_MODIFIED),
        ({"if_none_match": '"a,b"', "etag": 'W/"a,b"'}, NOT_MODIFIED),
        ({"if_none_match": '"a", "b"', "etag": '"a,b"'}, PROCEED),
        ({"if_none_match": '"abc'}, PROCEED),
        ({"if_none_match": 'W/abc, "abc"'}, NOT_MODIFIED),
        ({"if_none_match": "W/"}, PROCEED),
        ({"if_none_match": "abc"}, PROCEED),
        ({"if_none_match": '"abc" "abc"'}, PROCEED),
        # If-Modified-Since, only without If-None-Match
        ({"if_modified_since": AT}, NOT_MODIFIED),
        ({"if_modified_since": AFTER}, NOT_MODIFIED),
        ({"if_modified_since": FUTURE}, NOT_MODIFIED),
        ({"if_modified_since": BEFORE}, PROCEED),
        ({"if_modified_since": PAST}, PROCEED),
        ({"if_modified_since": AT_850}, NOT_MODIFIED),
        ({"if_modified_since": BEFORE_850}, PROCEED),
        ({"if_modified_since": AT_ASCTIME}, NOT_MODIFIED),
        ({"if_modified_since": "Wed May 01 12:00:00 2024"}, NOT_MODIFIED),
        ({"if_modified_since": BEFORE_ASCTIME}, PROCEED),
        ({"if_modified_since": " " + AT + "\t"}, NOT_MODIFIED),
        ({"if_modified_since": "Wed, 01 May 2024 12:00:60 GMT"}, NOT_MODIFIED),  # leap second
        ({"if_modified_since": AT, "last_modified": None}, PROCEED),
        ({"if_modified_since": AT, "if_none_match": '"other"'}, PROCEED),
        ({"if_modified_since": BEFORE, "if_none_match": STRONG}, NOT_MODIFIED),
        # An empty If-None-Match is present (it matches nothing), so If-Modified-Since is not read.
        ({"if_modified_since": AT, "if_none_match": ""}, PROCEED),
        ({"if_none_match": ""}, PROCEED),
        # If-Match and If-Unmodified-Since come first
        ({"if_match": '"other"', "if_none_match": STRONG}, FAILED),
        ({"if_match": STRONG, "if_none_match": STRONG}, NOT_MODIFIED),
        ({"if_unmodified_since": BEFORE, "if_modified_since": AT}, FAILED),
        ({"if_unmodified_since": AT, "if_modified_since": AT}, NOT_MODIFIED),
        ({"if_match": STRONG, "if_modified_since": BEFORE}, PROCEED),
        # a last_modified that is not UTC is still compared as an instant
        (
            {
                "if_modified_since": AT,
                "last_modified": datetime.fromisoformat("2024-05-01T14:00:00.9+02:00"),
            },
            NOT_MODIFIED,
        ),
        # Repeated list fields are one comma-separated list (§5.2); every line counts.
        ({"if_match": ['"x"', STRONG]}, PROCEED),
        ({"if_match": [STRONG, '"x"']}, PROCEED),
        ({"if_match": ['"x"', '"y"']}, FAILED),
        ({"if_match": ["", STRONG]}, PROCEED),
        ({"if_match": ["", ""]}, FAILED),
        ({"if_match": ["*", '"x"']}, FAILED),  # as '*, "x"': a star is never a list member
        ({"if_match": ['"a', 'b"'], "etag": '"a, b"'}, PROCEED),  # as one line '"a, b"'
        ({"if_none_match": ['"x"', STRONG]}, NOT_MODIFIED),
        ({"if_none_match": ['"x"', WEAK]}, NOT_MODIFIED),
        ({"if_none_match": ['"x"', '"y"']}, PROCEED),
        ({"if_none_match": ['"x"', '"y"'], "if_modified_since": AT}, PROCEED),
        ({"if_none_match": ["", ""], "if_modified_since": AT}, PROCEED),
        # Repeated dates are invalid (§13.1.3, §13.1.4), so ignored: even two equal ones.
        ({"if_modified_since": [AT, AT]}, PROCEED),
        ({"if_modified_since": [AT, BEFORE]}, PROCEED),
        ({"if_modified_since": [BEFORE, FUTURE]}, PROCEED),
        ({"if_unmodified_since": [BEFORE, BEFORE]}, PROCEED),
        ({"if_unmodified_since": [PAST, AT]}, PROCEED),
        ({"if_unmodified_since": [BEFORE, BEFORE], "if_modified_since": AT}, NOT_MODIFIED),
        ({"if_modified_since": [AT, AT], "if_unmodified_since": BEFORE}, FAILED),
    ],
)
def test_evaluate_preconditions(headers: dict[str, object], expected: Precondition) -> None:
    assert evaluate(**headers) is expected  # type: ignore[arg-type]


LIST_VALUES = ["", "*", STRONG, WEAK, '"x"', 'W/"x"', '"abc', 'b"', "garbage", '"x", "abc"']


@pytest.mark.parametrize("first", LIST_VALUES)
@pytest.mark.parametrize("second", LIST_VALUES)
@pytest.mark.parametrize("field", ["if_match", "if_none_match"])
def test_two_list_lines_mean_their_comma_joined_value(field: str, first: str, second: str) -> None:
    # RFC 9110 §5.2: combining the lines with ", " must not change the outcome.
    for etag in (STRONG, WEAK, '"x"', None):
        as_lines = evaluate(**{field: [first, second]}, etag=etag)  # type: ignore[arg-type]
        as_one = evaluate(**{field: f"{first}, {second}"}, etag=etag)  # type: ignore[arg-type]
        assert as_lines is as_one


@pytest.mark.parametrize("date", GARBAGE_DATES)
def test_invalid_dates_are_ignored(date: str) -> None:
    # Any date parsed by mistake would turn one of these around.
    earliest = datetime(1, 1, 1, tzinfo=UTC)
    latest = datetime(9999, 12, 31, tzinfo=UTC)
    assert evaluate(if_modified_since=date, last_modified=earliest) is PROCEED
    assert evaluate(if_unmodified_since=date, last_modified=latest) is PROCEED


@pytest.mark.parametrize(
    ("date", "year"),
    [
        ("Sunday, 06-Nov-94 08:49:37 GMT", 1994),
        ("Saturday, 01-Jan-00 00:00:00 GMT", 2000),
        ("Thursday, 31-Dec-99 23:59:59 GMT", 1999),
        # not more than 50 years ahead, so this century's (§5.6.7)
        ("Tuesday, 01-Jan-70 00:00:00 GMT", 2070),
    ],
)
def test_rfc850_two_digit_years(date: str, year: int) -> None:
    at = datetime.strptime(date, "%A, %d-%b-%y %H:%M:%S GMT").replace(year=year, tzinfo=UTC)
    assert evaluate(if_modified_since=date, last_modified=at) is NOT_MODIFIED
    assert evaluate(if_modified_since=date, last_modified=at + SECOND) is PROCEED
    assert evaluate(if_unmodified_since=date, last_modified=at - SECOND) is PROCEED
    assert evaluate(if_unmodified_since=date, last_modified=at + SECOND) is FAILED


@pytest.mark.parametrize(
    ("if_range", "etag", "last_modified", "expected"),
    [
        (None, STRONG, MODIFIED, True),
        (None, None, None, True),
        # entity-tags: strong comparison only
        (STRONG, STRONG, MODIFIED, True),
        (" " + STRONG + " ", STRONG, MODIFIED, True),
        ('"other"', STRONG, MODIFIED, False),
        (WEAK, STRONG, MODIFIED, False),
        (STRONG, WEAK, MODIFIED, False),
        (WEAK, WEAK, MODIFIED, False),
        (STRONG, None, MODIFIED, False),
        ('"ABC"', STRONG, MODIFIED, False),
        ('"abc', STRONG, MODIFIED, False),
        ('"abc", "abc"', STRONG, MODIFIED, False),
        ("W/", STRONG, MODIFIED, False),
        ('W/"abc', STRONG, MODIFIED, False),
        ('"a,b"', '"a,b"', MODIFIED, True),
        ("*", STRONG, MODIFIED, False),
        # dates: equal to the second
        (AT, STRONG, MODIFIED, True),
        (AT_850, STRONG, MODIFIED, True),
        (AT_ASCTIME, STRONG, MODIFIED, True),
        (AT, None, MODIFIED, True),
        (BEFORE, STRONG, MODIFIED, False),
        (AFTER, STRONG, MODIFIED, False),
        (FUTURE, STRONG, MODIFIED, False),
        (AT, STRONG, None, False),
        # a date-looking value in quotes is an entity-tag
        (f'"{AT}"', STRONG, MODIFIED, False),
        # anything else: the whole body
        *((date, STRONG, MODIFIED, False) for date in GARBAGE_DATES),
        # one value only: repeated lines are invalid, so the whole body, even if each matches
        ([STRONG, STRONG], STRONG, MODIFIED, False),
        ([STRONG, '"other"'], STRONG, MODIFIED, False),
        (['"other"', STRONG], STRONG, MODIFIED, False),
        ([AT, AT], STRONG, MODIFIED, False),
        (["", STRONG], STRONG, MODIFIED, False),
    ],
)
def test_if_range_matches(
    if_range: Field, etag: str | None, last_modified: datetime | None, expected: bool
) -> None:
    assert if_range_matches(lines(if_range), etag=etag, last_modified=last_modified) is expected
