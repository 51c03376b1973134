"""What a request target may show in a log: a table of mangled links, each with a signature."""

from __future__ import annotations

from urllib.parse import quote, unquote

import pytest

from proxy.errors import BadRequest
from proxy.links.redaction import redact_query, redact_signatures
from proxy.links.rules import check_filename

SIG = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCd1"
assert len(SIG) == 43
R = "[redacted]"
KERBEROS = "1686135453_6-967003_frontdoor_200-200-400-400_24_769.mp4"


def every_char_encoded(text: str) -> str:
    return "".join(f"%{ord(c):02X}" for c in text)


def logged(target: str) -> str:
    path, sep, query = target.partition("?")
    return redact_signatures(path + (sep + redact_query(query) if sep else ""))


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        # A good link: a, p, f, e readable, s gone.
        (
            f"/api/storage/signed?a=cam&p=disk&f=cam%2F{KERBEROS}&e=1700000000&s={SIG}",
            f"/api/storage/signed?a=cam&p=disk&f=cam%2F{KERBEROS}&e=1700000000&s={R}",
        ),
        # The whole link percent-encoded into the path, once and twice.
        (
            "/api/storage/signed" + quote(f"?a=cam&f=cam/x.mp4&s={SIG}", safe=""),
            "/api/storage/signed%3Fa%3Dcam%26f%3Dcam%2Fx.mp4%26s%3D" + R,
        ),
        (
            "/api/storage/signed" + quote(quote(f"?a=cam&s={SIG}", safe=""), safe=""),
            "/api/storage/signed%253Fa%253Dcam%2526s%253D" + R,
        ),
        # ; separators.
        (
            f"/api/storage/signed?a=x;p=y;f=z;e=1;s={SIG}",
            f"/api/storage/signed?a=x;p=y;f=z;e=1;s={R}",
        ),
        (f"/api/storage/signed?a=x;{SIG}", f"/api/storage/signed?a=x;{R}"),
        # &s= smuggled inside f, raw and encoded.
        (
            f"/api/storage/signed?a=cam&f=cam%2Fx.mp4%26s%3D{SIG}&e=1",
            f"/api/storage/signed?a=cam&f=cam%2Fx.mp4%26s%3D{R}&e=1",
        ),
        # The signature as a path segment, plain or every character encoded.
        (f"/api/storage/signed/{SIG}", f"/api/storage/signed/{R}"),
        (f"/api/storage/signed/{SIG}/validate", f"/api/storage/signed/{R}/validate"),
        (f"/x/{every_char_encoded(SIG)}", f"/x/{R}"),
        (f"/x/{quote(every_char_encoded(SIG))}", f"/x/{R}"),
        (f"/x/{SIG[:20]}%{ord(SIG[20]):02X}{SIG[21:]}", f"/x/{R}"),
        # Next to an escape that decodes to a base64url character: caught as sent.
        (f"/x/{SIG}%41", f"/x/{R}%41"),
        # A token link's signature (§6).
        (
            f"/api/storage/t/eyJhIjoiYSJ9.{SIG}/cam/x.mp4",
            f"/api/storage/t/eyJhIjoiYSJ9.{R}/cam/x.mp4",
        ),
        # Names stay readable: long runs, short runs, an encoded slash before 41 characters.
        (f"/api/storage/signed?f=cam%2F{KERBEROS}", f"/api/storage/signed?f=cam%2F{KERBEROS}"),
        ("/x/cam%2F" + "a" * 41 + ".mp4", "/x/cam%2F" + "a" * 41 + ".mp4"),
        ("/x/" + "a" * 42, "/x/" + "a" * 42),
        ("/x/" + "a" * 44, "/x/" + "a" * 44),
        ("/healthz", "/healthz"),
    ],
)
def test_no_signature_reaches_the_log(target: str, expected: str) -> None:
    out = logged(target)
    assert out == expected
    for _ in range(6):  # not even after decoding the log line
        assert SIG not in out
        out = unquote(out)


def test_too_deeply_encoded_is_redacted_whole() -> None:
    target = "/x/" + every_char_encoded(SIG)
    for _ in range(5):
        target = "/x/" + quote(target[3:])
    assert logged(target) == f"/x/{R}"


def test_redact_query_splits_at_semicolons_too() -> None:
    assert redact_query("a=x;s=abc&p=y;zz=1") == f"a=x;s={R}&p=y;{R}"


@pytest.mark.parametrize("name", ["cam/\ud800.mp4", "cam/\udcff", "\udfff"])
def test_filenames_with_lone_surrogates_are_refused(name: str) -> None:
    with pytest.raises(BadRequest):
        check_filename(name)
