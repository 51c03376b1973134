"""Property tests for every parser that meets hostile input, and for the signer.

10,000 examples each in CI (PROPERTY_EXAMPLES raises it for a longer run): no
input raises anything but the documented error, and every answer is inside
its bounds.
"""

from __future__ import annotations

import os
import re
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.durations import parse_go_duration, parse_ttl
from proxy.errors import BadRequest
from proxy.http.ranges import UNSATISFIABLE, ByteRange, parse_range, requested_range
from proxy.links.query import build_query, parse_query
from proxy.links.signing import LinkClaims, Signer

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "10000"))
many = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,  # no .hypothesis folder in the tree; failures print their example
)
SIGNER = Signer(b"property-test-key-0123456789abcdef0123456789")

# Text drawn from the right characters, not filtered after: rejection sampling was most of
# these tests' time. ``str.isprintable`` is false exactly for these categories (space aside).
_UNPRINTABLE = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs")
_CONTROLS = "".join(map(chr, range(32))) + "\x7f"


def printable(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    """Text for which ``str.isprintable`` holds (names: accounts, providers)."""
    chars = st.characters(exclude_categories=_UNPRINTABLE, include_characters=" ")
    return st.text(chars, min_size=min_size, max_size=max_size)


def key_segment(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    """One segment of an object key by §1's rules: no '/', '\\', C0 control or DEL, and
    neither '.' nor '..'."""
    chars = st.characters(exclude_categories=("Cs",), exclude_characters=_CONTROLS + "/\\")
    return st.text(chars, min_size=min_size, max_size=max_size).filter(
        lambda s: s not in (".", "..")
    )


# Query-ish text: mostly the characters a query is made of, so the parser's deeper
# branches are reached, plus anything at all.
QUERY_ALPHABET = st.sampled_from(list("apfes=&%+/.\\-_0123456789ABCDEFabcdef ~\x00\x7fü"))
query_text = st.one_of(st.text(QUERY_ALPHABET, max_size=300), st.text(max_size=300))


@many
@given(query_text)
def test_query_parser_raises_only_bad_request(raw: str) -> None:
    try:
        parsed = parse_query(raw)
    except BadRequest as exc:
        error: BadRequest | None = exc
    else:
        error = None
    if error is not None:
        assert error.status == 400
        assert error.message
        return
    # Anything accepted obeys every rule of §1.
    claims = parsed.claims
    assert 1 <= len(claims.account) <= 128
    assert 1 <= len(claims.provider) <= 128
    assert 1 <= len(claims.filename.encode()) <= 1024
    assert not claims.filename.startswith("/")
    assert all(seg not in ("", ".", "..") for seg in claims.filename.split("/"))
    assert 0 < claims.expires < 10**12
    assert len(parsed.signature) == 43


params = st.fixed_dictionaries(
    {
        "a": printable(1, 40),
        "p": printable(1, 40),
        "f": st.lists(key_segment(1, 12), min_size=1, max_size=5).map("/".join),
        "e": st.integers(min_value=1, max_value=10**12 - 1),
    }
)


@many
@given(params, st.booleans(), st.booleans())
def test_signing_is_stable_across_encodings_of_the_same_query(
    p: dict[str, object], encode_everything: bool, plus_for_space: bool
) -> None:
    claims = LinkClaims(str(p["a"]), str(p["p"]), str(p["f"]), int(str(p["e"])))
    signature = SIGNER.sign(claims)
    canonical = build_query(claims, signature)
    assert parse_query(canonical).claims == claims

    def enc(value: str) -> str:
        if encode_everything:  # percent-encode every byte, unreserved ones included
            text = "".join(f"%{b:02X}" for b in value.encode())
        else:
            text = quote(value, safe="")
        return text.replace("%20", "+") if plus_for_space else text

    values = {"a": claims.account, "p": claims.provider, "f": claims.filename}
    values |= {"e": str(claims.expires), "s": signature}
    other = "&".join(f"{k}={enc(v)}" for k, v in reversed(values.items()))
    parsed = parse_query(other)
    assert parsed.claims == claims
    assert SIGNER.verify(parsed.claims, parsed.signature)


range_text = st.one_of(
    st.text(max_size=60),
    st.builds(
        lambda unit, a, b, sep: f"{unit}={a}{sep}{b}",
        st.sampled_from(["bytes", "BYTES", "items", "bytes ", ""]),
        st.one_of(st.just(""), st.integers(min_value=-5, max_value=10**20).map(str)),
        st.one_of(st.just(""), st.integers(min_value=-5, max_value=10**20).map(str)),
        st.sampled_from(["-", "--", ",", "-,", " - "]),
    ),
)


@many
@given(range_text, st.integers(min_value=0, max_value=10**15))
def test_range_result_is_always_inside_the_object(header: str, size: int) -> None:
    decision = parse_range(header, size)
    if isinstance(decision, ByteRange):
        assert 0 <= decision.start <= decision.end < size
    else:
        assert decision is None or decision is UNSATISFIABLE


@many
@given(range_text, st.integers(min_value=0, max_value=10**15))
def test_the_range_asked_of_a_backend_decides_like_the_header(header: str, size: int) -> None:
    """The one-call GET asks the backend for ``requested_range(header)``: whenever that is
    a range, it selects exactly the bytes the header does, for any object size."""
    wanted = requested_range(header)
    if wanted is not None:
        assert re.fullmatch(r"bytes=([0-9]+-[0-9]*|-[0-9]+)", wanted)
        assert parse_range(wanted, size) == parse_range(header, size)
    else:
        assert parse_range(header, size) is None  # the whole object, asked for as such


duration_text = st.one_of(
    st.text(max_size=40),
    st.text(st.sampled_from(list("0123456789.+-hmsunµμ ")), max_size=30),
)


@many
@given(duration_text)
def test_go_durations_parse_or_raise_value_error(text: str) -> None:
    try:
        nanoseconds = parse_go_duration(text)
    except ValueError as exc:
        message = str(exc)
    else:
        assert -(2**63) <= nanoseconds < 2**63
        return
    assert message


@many
@given(st.one_of(duration_text, st.integers(min_value=-(10**15), max_value=10**15)))
def test_ttl_is_positive_seconds_or_value_error(value: str | int) -> None:
    try:
        seconds = parse_ttl(value)
    except ValueError:
        return
    assert isinstance(seconds, int)
    assert seconds > 0
