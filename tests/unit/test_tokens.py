"""§6 tokens: PROTOCOL's vectors, every claim rule as a table, and the key a token names."""

from __future__ import annotations

import base64
import json

import pytest

from proxy.errors import BadRequest, InvalidSignature
from proxy.links.redaction import redact_signatures
from proxy.links.signing import Signer
from proxy.links.tokens import TokenClaims, decode_key, encode_payload, make_token, parse_token
from tests.support.proxyapp import KEY, OLD_KEY

SIGNER = Signer(KEY.encode())
NAMED = Signer(KEY.encode(), key_id="2026-12")

VECTORS = [
    (
        SIGNER,
        TokenClaims("account-a", "primary-provider", 1777032108, folder="account-a/hls/clip-1/"),
        "eyJhIjoiYWNjb3VudC1hIiwicCI6InByaW1hcnktcHJvdmlkZXIiLCJkIjoiYWNjb3VudC1hL2hscy9jbGlwLTEvIiwiZSI6MTc3NzAzMjEwOH0"
        ".wFz3M64DJse8hqEAPYqZL4VvRja01CAOWdL9kC27i4E",
    ),
    (
        NAMED,
        TokenClaims(
            "cam",
            "local",
            4102444800,
            file="cam/dir with space/ünïcode+plus&amp.mp4",
            not_before=1767225600,
            download="clip.mp4",
            key_id="2026-12",
        ),
        "eyJhIjoiY2FtIiwicCI6ImxvY2FsIiwiZiI6ImNhbS9kaXIgd2l0aCBzcGFjZS_DvG7Dr2NvZGUrcGx1cyZhbXAubXA0IiwiZSI6NDEwMjQ0NDgwMCwibmIiOjE3NjcyMjU2MDAsImRsIjoiY2xpcC5tcDQiLCJrIjoiMjAyNi0xMiJ9"
        ".9qnNnRLhS7pPgfgZFNCms89GMEw_jBtkfavV-3WZAz0",
    ),
]


@pytest.mark.parametrize(("signer", "claims", "token"), VECTORS)
def test_protocol_vectors(signer: Signer, claims: TokenClaims, token: str) -> None:
    assert make_token(claims, signer) == token
    assert parse_token(token, signer).claims == claims


def _payload(doc: object) -> str:
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


DOMAIN = b"vault-token-v1\n"


def _signed(doc: object, signer: Signer = SIGNER) -> str:
    payload = _payload(doc)
    return f"{payload}.{signer.sign_message(DOMAIN + payload.encode())}"


GOOD = {"a": "cam", "p": "disk", "d": "cam/hls/", "e": 1900000000}


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ({**GOOD, "x": 1}, "unknown claim"),
        ({k: v for k, v in GOOD.items() if k != "e"}, "missing claim 'e'"),
        ({**GOOD, "f": "cam/x.mp4"}, "exactly one of 'f'"),
        ({k: v for k, v in GOOD.items() if k != "d"}, "exactly one of 'f'"),
        ({**GOOD, "d": "cam/hls"}, "ends with '/'"),
        ({**GOOD, "d": "cam/../x/"}, "'..'"),
        ({**GOOD, "e": "1900000000"}, "Unix seconds"),
        ({**GOOD, "e": True}, "Unix seconds"),
        ({**GOOD, "e": 10**12}, "Unix seconds"),
        ({**GOOD, "nb": 1.5}, "Unix seconds"),
        ({**GOOD, "a": ""}, "'a' is empty"),
        ({**GOOD, "p": 7}, "'p' is a string"),
        ({**GOOD, "dl": False}, "'dl' is a string"),
        ({**GOOD, "dl": "a/b.mp4"}, "a file name"),
        ({**GOOD, "ip": "10.0.0.0/8"}, "list of 1-32 CIDRs"),
        ({**GOOD, "ip": []}, "list of 1-32 CIDRs"),
        ({**GOOD, "ip": ["10.0.0.0/33"]}, "not an IP address"),
        ({**GOOD, "k": "no spaces"}, "key id"),
        ([GOOD], "not a JSON object"),
    ],
)
def test_a_signed_token_with_a_bad_claim_is_400(doc: object, why: str) -> None:
    with pytest.raises(BadRequest, match=why):
        parse_token(_signed(doc), SIGNER)


def test_a_duplicate_claim_is_400() -> None:
    raw = b'{"a":"cam","a":"other","p":"disk","d":"cam/","e":1900000000}'
    payload = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    token = f"{payload}.{SIGNER.sign_message(DOMAIN + payload.encode())}"
    with pytest.raises(BadRequest, match="not a JSON object"):
        parse_token(token, SIGNER)


@pytest.mark.parametrize(
    "token",
    ["", "abc", "abc.", ".sig", "a b." + "x" * 43, "abc." + "x" * 42, "abc.def." + "x" * 43],
)
def test_a_token_of_the_wrong_shape_is_400(token: str) -> None:
    with pytest.raises(BadRequest):
        parse_token(token, SIGNER)


def test_the_signature_is_checked_before_the_claims_are_read() -> None:
    # Garbage claims under a wrong signature: 403, and nothing was decoded.
    forged = f"{_payload('not even an object')}.{'A' * 43}"
    with pytest.raises(InvalidSignature):
        parse_token(forged, SIGNER)


def test_a_section_1_signature_never_passes_as_a_token_signature() -> None:
    payload = encode_payload(TokenClaims("cam", "disk", 1900000000, file="cam/x.mp4"))
    wrong_domain = SIGNER.sign_message(b"vault-signed-v1\n" + payload.encode())
    with pytest.raises(InvalidSignature):
        parse_token(f"{payload}.{wrong_domain}", SIGNER)


def test_previous_keys_verify_and_a_named_key_must_be_the_one_that_signed() -> None:
    old = Signer(OLD_KEY.encode(), key_id="old")
    both = Signer(KEY.encode(), [OLD_KEY.encode()], key_id="new", previous_ids=["old"])
    by_old = make_token(TokenClaims("cam", "disk", 1900000000, file="cam/x", key_id="old"), old)
    assert parse_token(by_old, both).claims.key_id == "old"
    # Signed by the old key but claiming to be the new one's: refused.
    lying = make_token(TokenClaims("cam", "disk", 1900000000, file="cam/x", key_id="new"), old)
    with pytest.raises(InvalidSignature):
        parse_token(lying, both)
    # A key id nobody has (the key was removed): refused at once.
    gone = make_token(TokenClaims("cam", "disk", 1900000000, file="cam/x", key_id="gone"), old)
    with pytest.raises(InvalidSignature):
        parse_token(gone, both)
    # Without the old key configured, its tokens are dead.
    with pytest.raises(InvalidSignature):
        parse_token(by_old, NAMED)


@pytest.mark.parametrize(
    ("claims", "key", "covered"),
    [
        (TokenClaims("a", "p", 1, file="cam/x.mp4"), "cam/x.mp4", True),
        (TokenClaims("a", "p", 1, file="cam/x.mp4"), "cam/x.mp4.bak", False),
        (TokenClaims("a", "p", 1, folder="cam/hls/"), "cam/hls/seg-1.ts", True),
        (TokenClaims("a", "p", 1, folder="cam/hls/"), "cam/hls2/seg-1.ts", False),
        (TokenClaims("a", "p", 1, folder="cam/hls/"), "cam/x.mp4", False),
    ],
)
def test_a_token_covers_its_file_or_folder_only(
    claims: TokenClaims, key: str, covered: bool
) -> None:
    assert claims.covers(key) is covered


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("cam/hls/seg-001.ts", "cam/hls/seg-001.ts"),
        ("cam/dir%20with%20space/%C3%BCn%C3%AF%2B%26.mp4", "cam/dir with space/ünï+&.mp4"),
        ("cam/a%252Fb", "cam/a%2Fb"),  # decoded once, never twice
    ],
)  # fmt: skip
def test_a_key_is_decoded_once_per_segment(raw: str, key: str) -> None:
    assert decode_key(raw) == key


@pytest.mark.parametrize(
    "raw", ["cam/%ZZ", "cam/%F", "cam/%FF.ts", "cam/%2E%2E/x", "cam//x", "/cam/x", "cam/a%5Cb", ""]
)
def test_a_malformed_key_is_400(raw: str) -> None:
    with pytest.raises(BadRequest):
        decode_key(raw)


def test_a_token_links_signature_never_reaches_the_log() -> None:
    token = VECTORS[1][2]
    path = f"/api/storage/t/{token}/cam/dir%20with%20space/x.mp4"
    logged = redact_signatures(path)
    assert token.split(".")[1] not in logged
    assert logged.startswith("/api/storage/t/" + token.split(".")[0] + ".")
    assert logged.endswith("/cam/dir%20with%20space/x.mp4")
