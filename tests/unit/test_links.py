"""Every rule of §1's query: what parses, and what is a 400 (and why)."""

from __future__ import annotations

import pytest

from proxy.errors import BadRequest
from proxy.links.query import build_query, parse_query
from proxy.links.redaction import redact_query
from proxy.links.signing import LinkClaims

SIG = "2iT5QlhsytCJ0SEbwTdhlH3E8RSqZkqp2ZYwmPyFyx0"
GOOD = {"a": "acct", "p": "prov", "f": "acct/x.mp4", "e": "1777032108", "s": SIG}


def q(**overrides: str | None) -> str:
    params = {**GOOD, **overrides}
    return "&".join(f"{k}={v}" for k, v in params.items() if v is not None)


def test_good_query_parses() -> None:
    parsed = parse_query(q())
    assert parsed.claims == LinkClaims("acct", "prov", "acct/x.mp4", 1777032108)
    assert parsed.signature == SIG


@pytest.mark.parametrize(
    ("raw", "expected_f"),
    [
        (q(f="acct%2Fa%20b.mp4"), "acct/a b.mp4"),
        (q(f="acct/a+b.mp4"), "acct/a b.mp4"),  # form decoding: + is a space
        (q(f="acct/a%2Bb.mp4"), "acct/a+b.mp4"),
        (q(f="acct/%C3%BC.mp4"), "acct/ü.mp4"),
        (q(f="acct/100%25.mp4"), "acct/100%.mp4"),
        (q(f="acct/a&b".replace("&", "%26")), "acct/a&b"),
        (q(f="acct/...mp4"), "acct/...mp4"),  # dots inside a segment are fine
        (q(f="acct/" + "x" * 1019), "acct/" + "x" * 1019),  # exactly 1024 bytes
        ("&&" + q() + "&", "acct/x.mp4"),  # empty pieces are skipped
        ("s={s}&e={e}&f={f}&p={p}&a={a}".format(**GOOD), "acct/x.mp4"),  # any order
    ],
)
def test_filename_decoding(raw: str, expected_f: str) -> None:
    assert parse_query(raw).claims.filename == expected_f


def test_percent_encoded_digits_are_the_same_expiry() -> None:
    assert parse_query(q(e="%31777032108")).claims.expires == 1777032108


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (q(a=None), "missing parameter 'a'"),
        (q(p=None), "missing parameter 'p'"),
        (q(f=None), "missing parameter 'f'"),
        (q(e=None), "missing parameter 'e'"),
        (q(s=None), "missing parameter 's'"),
        ("", "missing parameter 'a'"),
        (q() + "&a=acct", "'a' appears more than once"),
        (q() + "&s=" + SIG, "'s' appears more than once"),
        (q() + "&e=1777032108", "'e' appears more than once"),
        (q() + "&x=1", "unknown parameter 'x'"),
        (q() + "&download=1", "unknown parameter 'download'"),
        (q() + "&A=acct", "unknown parameter 'A'"),
        (q(a=""), "'a' is empty"),
        (q(a="x" * 129), "'a' is longer than 128"),
        (q(a="acct%0A"), "'a' has a non-printable"),
        (q(p="%00"), "'p' has a non-printable"),
        (q(p="p" * 129), "'p' is longer than 128"),
        (q(f=""), "'f' is empty"),
        (q(f="acct/" + "x" * 1020), "'f' is longer than 1024 bytes"),
        (q(f="acct/" + "%C3%BC" * 510), "'f' is longer than 1024 bytes"),  # bytes, not chars
        (q(f="acct/a%00b"), "control character"),
        (q(f="acct/a%1Fb"), "control character"),
        (q(f="acct/a%7Fb"), "control character"),
        (q(f="acct/a%0Db"), "control character"),
        (q(f="acct%5Cx.mp4"), "backslash"),
        (q(f="%2Facct/x.mp4"), "starts with '/'"),
        (q(f="/acct/x.mp4"), "starts with '/'"),
        (q(f="acct//x.mp4"), "empty, '.' or '..'"),
        (q(f="acct/x.mp4/"), "empty, '.' or '..'"),
        (q(f="acct/./x.mp4"), "empty, '.' or '..'"),
        (q(f="acct/../x.mp4"), "empty, '.' or '..'"),
        (q(f="acct/%2e%2e/x.mp4"), "empty, '.' or '..'"),
        (q(f="acct%2F%2E%2E%2Fetc%2Fpasswd"), "empty, '.' or '..'"),
        (q(f=".."), "empty, '.' or '..'"),
        (q(f="acct/%zz.mp4"), "malformed percent-encoding"),
        (q(f="acct/%C3.mp4"), "not valid UTF-8"),
        (q(f="acct/%FF.mp4"), "not valid UTF-8"),
        (q(e="0"), "'e' must be Unix seconds"),
        (q(e="01777032108"), "'e' must be Unix seconds"),
        (q(e="-1"), "'e' must be Unix seconds"),
        (q(e="1e9"), "'e' must be Unix seconds"),
        (q(e="1777032108.5"), "'e' must be Unix seconds"),
        (q(e="1234567890123"), "'e' must be Unix seconds"),  # 13 digits
        (q(e="+1777032108"), "'e' must be Unix seconds"),
        (q(s=SIG[:-1]), "'s' must be 43 base64url"),
        (q(s=SIG + "A"), "'s' must be 43 base64url"),
        (q(s=SIG[:-1] + "/"), "'s' must be 43 base64url"),
        (q(s=SIG[:-2] + "=="), "'s' must be 43 base64url"),
        (q(s=SIG[:-1] + "%2B"), "'s' must be 43 base64url"),
        ("x" * 9000, "query string too long"),
    ],
)
def test_malformed_queries_are_400(raw: str, message: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_query(raw)
    assert message in info.value.message
    assert info.value.status == 400
    assert info.value.body()["error"] == "bad_request"


def test_build_query_encodes_everything_outside_unreserved() -> None:
    claims = LinkClaims("a b", "p+q", "acct/ü &=+%/x.mp4", 123)
    built = build_query(claims, SIG)
    assert "f=acct%2F%C3%BC%20%26%3D%2B%25%2Fx.mp4" in built
    assert parse_query(built).claims == claims


def test_redact_query_keeps_only_the_known_unsigned_fields() -> None:
    assert redact_query(q()) == q(s="[redacted]")
    assert SIG not in redact_query("s=" + SIG + "&a=x&s=" + SIG)
    assert redact_query("%73=" + SIG + "&a=1") == "%73=[redacted]&a=1"  # %73 is s
    assert redact_query("as=" + SIG + "&a=1") == "[redacted]&a=1"
    assert redact_query(SIG + "&a=1") == "[redacted]&a=1"
    assert redact_query("a=x&f=cam%2Fa.mp4&e=9") == "a=x&f=cam%2Fa.mp4&e=9"


def test_signed_query_repr_hides_the_signature() -> None:
    assert SIG not in repr(parse_query(q()))
