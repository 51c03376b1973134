import re
import time

import pytest

from proxy.durations import parse_go_duration, parse_ttl

NS = 1
US = 1_000
MS = 1_000_000
S = 1_000_000_000
M = 60 * S
H = 60 * M
INT64_MAX = 2**63 - 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Go's own examples and the protocol's
        ("300ms", 300 * MS),
        ("30m", 30 * M),
        ("1h", H),
        ("2h45m", 2 * H + 45 * M),
        ("1.5h", 5_400_000_000_000),
        ("1h30m15s", H + 30 * M + 15 * S),
        ("-1.5h", -5_400_000_000_000),
        ("1h15m30.918273645s", H + 15 * M + 30 * S + 918_273_645),
        # every unit, both micro signs
        ("1ns", NS),
        ("1us", US),
        ("1\u00b5s", US),
        ("1\u03bcs", US),
        ("1ms", MS),
        ("1s", S),
        ("1m", M),
        # signs and zero
        ("-1h", -H),
        ("+1h", H),
        ("0", 0),
        ("+0", 0),
        ("-0", 0),
        ("0s", 0),
        ("0h0m", 0),
        ("-0s", 0),
        ("000000000000000000000000000001s", S),
        # fractions: either side of the dot may be empty, not both
        (".5h", 30 * M),
        ("1.h", H),
        ("1.0s", S),
        ("0.1s", 100 * MS),
        ("0.3s", 300 * MS),
        ("1.000000001s", S + 1),
        ("1.0000000001s", S),  # below a nanosecond: truncated
        ("0.0000000001s", 0),
        ("0.9999999999ns", 0),
        ("1.9ns", 1),
        ("0.000001h", 3_600_000),
        ("0.00000000000036h", 1),  # 1.296 ns: digits past the 12th still count
        ("0.1234567890123456789h", 444_444_440_444),
        pytest.param("0." + "0" * 5000 + "1h", 0, id="0.(5000 zeros)1h"),
        pytest.param("0." + "9" * 5000 + "s", S - 1, id="0.(5000 nines)s"),
        pytest.param("1." + "0" * 5000 + "s", S, id="1.(5000 zeros)s"),
        # several elements, in any order, units repeated
        ("1s1h", H + S),
        ("1m1m", 2 * M),
        ("1.5m.5m", 2 * M),
        # the int64 limits
        ("9223372036854775807ns", INT64_MAX),
        ("-9223372036854775808ns", -(2**63)),
        ("2562047h", 2562047 * H),
        ("2562047h47m16.854775807s", INT64_MAX),
        ("9223372036.854775807s", INT64_MAX),
    ],
)
def test_parse_go_duration(text: str, expected: int) -> None:
    assert parse_go_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid duration ''"),
        ("-", "invalid duration '-'"),
        ("+", "invalid duration '+'"),
        ("h", "invalid duration 'h'"),
        (".h", "invalid duration '.h'"),
        ("-.h", "invalid duration '-.h'"),
        (".", "invalid duration '.'"),
        ("1", "missing unit in duration '1'"),
        ("00", "missing unit in duration '00'"),
        ("-1", "missing unit in duration '-1'"),
        ("1.5", "missing unit in duration '1.5'"),
        ("1h1", "missing unit in duration '1h1'"),
        ("1.5.h", "missing unit in duration '1.5.h'"),
        ("1d", "unknown unit 'd' in duration '1d'"),
        ("1H", "unknown unit 'H' in duration '1H'"),
        ("1sec", "unknown unit 'sec' in duration '1sec'"),
        ("1 h", "unknown unit ' h' in duration '1 h'"),
        ("1h ", "unknown unit 'h ' in duration '1h '"),
        ("1h-1m", "unknown unit 'h-' in duration '1h-1m'"),
        ("1e3s", "unknown unit 'e' in duration '1e3s'"),
        (" 1h", "invalid duration ' 1h'"),
        ("--1h", "invalid duration '--1h'"),
        ("+-1h", "invalid duration '+-1h'"),
        ("1h\n", "unknown unit 'h\\n' in duration '1h\\n'"),
        ("\u0661h", "invalid duration"),  # Arabic-Indic one is not a digit here
        ("1_000s", "unknown unit '_'"),
        ("9223372036854775808ns", "duration '9223372036854775808ns' is out of range"),
        ("-9223372036854775809ns", "out of range"),
        ("2562048h", "duration '2562048h' is out of range"),
        ("2562047h47m16.854775808s", "out of range"),
        ("9223372036854775807ns1ns", "out of range"),
        ("99999999999999999999", "out of range"),  # Go reads the number before the unit
        pytest.param("1" + "0" * 5000 + "ns", "out of range", id="1(5000 zeros)ns"),
        pytest.param("1" + "0" * 5000, "out of range", id="1(5000 zeros)"),
    ],
)
def test_parse_go_duration_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_go_duration(text)


def test_go_duration_error_shows_at_most_40_characters() -> None:
    text = "1" * 5000 + "x"
    started = time.perf_counter()
    with pytest.raises(ValueError, match="out of range") as info:
        parse_go_duration(text)
    assert time.perf_counter() - started < 0.1
    assert "1" * 40 not in str(info.value)
    assert len(str(info.value)) < 80


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Go durations, rounded up to whole seconds
        ("300ms", 1),
        ("1ns", 1),
        ("1.001s", 2),
        ("1s", 1),
        ("30m", 1800),
        ("1h", 3600),
        ("2h45m", 9900),
        ("1.5h", 5400),
        ("1h30m15s", 5415),
        (".5h", 1800),
        ("1.h", 3600),
        ("1\u00b5s", 1),
        ("1\u03bcs", 1),
        ("1us", 1),
        ("+1h", 3600),
        ("2562047h", 2562047 * 3600),
        ("9223372036854775807ns", 9223372037),
        # digit strings are seconds
        ("1", 1),
        ("3600", 3600),
        ("0003600", 3600),
        ("999999999999", 999_999_999_999),
        pytest.param("0" * 5000 + "7", 7, id="(5000 zeros)7"),
        # ints are seconds
        (3600, 3600),
        (1, 1),
        (999_999_999_999, 999_999_999_999),
    ],
)
def test_parse_ttl(value: str | int, expected: int) -> None:
    result = parse_ttl(value)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    ("value", "message"),
    [
        # not positive
        (0, "must be positive"),
        (-1, "must be positive"),
        pytest.param(-(10**5000), "must be positive", id="-10**5000"),
        ("0", "must be positive"),
        ("000", "must be positive"),
        ("0s", "must be positive"),
        ("-0", "must be positive"),
        ("-1h", "must be positive"),
        ("-300ms", "must be positive"),
        ("0.0000000001s", "must be positive"),  # 0 ns after truncation
        # too large
        ("1000000000000", "too large"),
        pytest.param("9" * 5000, "too large", id="(5000 nines)"),
        (10**12, "too large"),
        pytest.param(10**5000, "too large", id="10**5000"),
        # neither seconds nor a duration
        ("", "invalid duration"),
        ("h", "invalid duration"),
        ("-", "invalid duration"),
        ("+1", "missing unit"),
        ("-1", "missing unit"),
        (" 1", "invalid duration"),
        ("1 ", "unknown unit"),
        ("1d", "unknown unit 'd'"),
        ("1 h", "unknown unit"),
        (" 1h", "invalid duration"),
        ("1h ", "unknown unit"),
        ("1.5.h", "missing unit"),
        ("\u0661\u0662", "invalid duration"),  # digits, but not ASCII ones
        ("9223372036854775808ns", "out of range"),
        ("2562048h", "out of range"),
        pytest.param("1" * 5000 + "s", "out of range", id="(5000 ones)s"),
        # other types
        (True, "not bool"),
        (False, "not bool"),
        (1.5, "not float"),
        (None, "not NoneType"),
        (b"3600", "not bytes"),
    ],
)
def test_parse_ttl_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_ttl(value)  # type: ignore[arg-type]
