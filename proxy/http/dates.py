"""HTTP-dates (RFC 9110 §5.6.7): the one parser and the one formatter.

``format_http_date`` writes the IMF-fixdate every answer uses
(``Sun, 06 Nov 1994 08:49:37 GMT``); ``parse_http_date`` reads all three
forms a client may send, case-sensitive as the grammar is, and returns None
for anything else, never raising.

The one impurity: an rfc850-date has a two-digit year, which §5.6.7 resolves
against the current year.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from email.utils import format_datetime

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH = f"(?P<month>{'|'.join(_MONTHS)})"
_DAY_NAME = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_TIME = "(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
_FORMS = (
    # IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
    re.compile(rf"{_DAY_NAME}, (?P<day>[0-9]{{2}}) {_MONTH} (?P<year>[0-9]{{4}}) {_TIME} GMT"),
    # rfc850-date: Sunday, 06-Nov-94 08:49:37 GMT
    re.compile(
        r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), "
        rf"(?P<day>[0-9]{{2}})-{_MONTH}-(?P<year>[0-9]{{2}}) {_TIME} GMT"
    ),
    # asctime-date: Sun Nov  6 08:49:37 1994
    re.compile(rf"{_DAY_NAME} {_MONTH} (?P<day>[0-9]{{2}}| [0-9]) {_TIME} (?P<year>[0-9]{{4}})"),
)


@functools.lru_cache(maxsize=4096)  # pure; an object's date is formatted for every answer
def format_http_date(moment: datetime) -> str:
    """``moment`` (timezone-aware) as an IMF-fixdate; fractions of a second are dropped."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def parse_http_date(text: str) -> datetime | None:
    """An HTTP-date in any of the three forms of §5.6.7 (space or tab around it), else None."""
    value = text.strip(" \t")
    for pattern in _FORMS:
        match = pattern.fullmatch(value)
        if match is not None:
            break
    else:
        return None
    year = int(match["year"])
    if len(match["year"]) == 2:
        # §5.6.7: a two-digit year more than 50 years ahead is the latest past one.
        this_year = datetime.now(UTC).year
        year += this_year - this_year % 100
        if year > this_year + 50:
            year -= 100
    try:
        return datetime(
            year,
            _MONTHS.index(match["month"]) + 1,
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            # A leap second (":60") is allowed on the wire but not by datetime.
            min(int(match["second"]), 59),
            tzinfo=UTC,
        )
    except ValueError:  # 31 Feb, hour 25 and the like
        return None
