"""The signature of §1: the protocol's vectors, rotation, and the key floor."""

from __future__ import annotations

import pytest

from proxy.links.query import build_query, parse_query
from proxy.links.signing import LinkClaims, Signer, message

KEY = b"test-signing-key-0123456789abcdef0123456789"
OLD = b"an-older-signing-key-0123456789abcdef012345"
OTHER = b"not-the-key-at-all-0123456789abcdef01234567"

VECTORS = [
    (
        "account-a",
        "primary-provider",
        "account-a/1776427171_1-1_frontdoor_402-263-805-680_801_29960.mp4",
        1777032108,
        "2iT5QlhsytCJ0SEbwTdhlH3E8RSqZkqp2ZYwmPyFyx0",
    ),
    (
        "account-a",
        "primary-provider",
        "account-a/1776427171_1-1_frontdoor_402-263-805-680_801_29960_thumbnail.jpg",
        1777032108,
        "t0TDk5GpS_5sS4pxhH2Kvz081_HpCpoYyZPb0f-5B70",
    ),
    (
        "cam",
        "local",
        "cam/dir with space/ünïcode+plus&amp.mp4",
        4102444800,
        "XlUdKz7ELGznY0R8NBJLWwjNhfmIizgN_ZJH4yp5zG0",
    ),
]


@pytest.mark.parametrize(("a", "p", "f", "e", "s"), VECTORS)
def test_protocol_vectors(a: str, p: str, f: str, e: int, s: str) -> None:
    claims = LinkClaims(a, p, f, e)
    signer = Signer(KEY)
    assert signer.sign(claims) == s
    assert len(s) == 43
    assert signer.verify(claims, s)


def test_message_is_the_exact_bytes() -> None:
    claims = LinkClaims("cam", "local", "cam/ü.mp4", 42)
    assert message(claims) == b"vault-signed-v1\ncam\nlocal\ncam/\xc3\xbc.mp4\n42"


def test_third_vector_as_the_protocol_writes_its_query() -> None:
    query = (
        "a=cam&p=local&f=cam%2Fdir%20with%20space%2F%C3%BCn%C3%AFcode%2Bplus%26amp.mp4"
        "&e=4102444800&s=XlUdKz7ELGznY0R8NBJLWwjNhfmIizgN_ZJH4yp5zG0"
    )
    parsed = parse_query(query)
    assert parsed.claims == LinkClaims(*VECTORS[2][:4])
    assert Signer(KEY).verify(parsed.claims, parsed.signature)
    # Issuing encodes every byte outside the unreserved set, so it rebuilds this query
    # except that a space is %20 either way.
    assert build_query(parsed.claims, parsed.signature) == query


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: LinkClaims(c.account + "x", c.provider, c.filename, c.expires),
        lambda c: LinkClaims(c.account, c.provider + "x", c.filename, c.expires),
        lambda c: LinkClaims(c.account, c.provider, c.filename + "x", c.expires),
        lambda c: LinkClaims(c.account, c.provider, c.filename, c.expires + 1),
        # Moving a separator between fields must not keep the signature valid.
        lambda c: LinkClaims(c.account + "\n" + c.provider, "", c.filename, c.expires),
    ],
)
def test_any_changed_field_breaks_the_signature(tamper) -> None:
    claims = LinkClaims(*VECTORS[0][:4])
    signer = Signer(KEY)
    assert not signer.verify(tamper(claims), signer.sign(claims))


def test_rotation_accepts_previous_keys_and_signs_with_the_current_one() -> None:
    claims = LinkClaims(*VECTORS[0][:4])
    rotated = Signer(OTHER, previous_keys=[KEY, OLD])
    assert rotated.verify(claims, Signer(KEY).sign(claims))
    assert rotated.verify(claims, Signer(OLD).sign(claims))
    assert rotated.sign(claims) == Signer(OTHER).sign(claims)
    assert rotated.sign(claims) != Signer(KEY).sign(claims)
    # A key that was dropped from the list no longer verifies.
    assert not Signer(OTHER, previous_keys=[OLD]).verify(claims, Signer(KEY).sign(claims))


@pytest.mark.parametrize("signature", ["", "x" * 43, VECTORS[0][4][:-1] + "A", "ü" * 43])
def test_wrong_signatures_are_refused(signature: str) -> None:
    assert not Signer(KEY).verify(LinkClaims(*VECTORS[0][:4]), signature)


@pytest.mark.parametrize("short", [b"", b"k" * 31])
def test_keys_shorter_than_32_bytes_are_refused(short: bytes) -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Signer(short)
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Signer(KEY, previous_keys=[short])


def test_repr_shows_no_key() -> None:
    assert KEY.decode() not in repr(Signer(KEY))
    assert "test-signing" not in repr(Signer(KEY))


@pytest.mark.parametrize(
    "seconds",
    [0, 1, 86399, 86400, 951782400, 1777032108, 4102444800, 253402300799, 1234567890, 68256000],
)
def test_utc_iso_matches_datetime(seconds: int) -> None:
    from datetime import UTC, datetime

    from proxy.links.verify import utc_iso

    assert utc_iso(seconds) == datetime.fromtimestamp(seconds, tz=UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def test_utc_iso_goes_past_year_9999() -> None:
    from proxy.links.verify import utc_iso

    assert utc_iso(999999999999) == "33658-09-27T01:46:39Z"
    assert utc_iso(253402300800) == "10000-01-01T00:00:00Z"
