"""Property tests for the §6 token parser, like the §1 parser's: 10,000 examples each in CI.

No input raises anything but the documented errors, anything accepted obeys §6's rules, and
every token the signer makes parses back to the same claims.
"""

from __future__ import annotations

import base64
import json

from hypothesis import given
from hypothesis import strategies as st

from proxy.errors import BadRequest, InvalidSignature
from proxy.links.signing import Signer
from proxy.links.tokens import TokenClaims, decode_key, make_token, parse_token
from tests.unit.test_properties import key_segment, many, printable

SIGNER = Signer(b"property-test-key-0123456789abcdef0123456789", key_id="p1")
DOMAIN = b"vault-token-v1\n"

TOKEN_ALPHABET = st.sampled_from(list("eyJhIjoiYWNjb3VudC1hIiwi.-_0123456789ABCDEFabcdef%/ "))
token_text = st.one_of(st.text(TOKEN_ALPHABET, max_size=200), st.text(max_size=200))

segment = key_segment(1, 10)
key = st.lists(segment, min_size=1, max_size=4).map("/".join)
name = printable(1, 20)
seconds = st.integers(min_value=1, max_value=10**12 - 1)
cidr = st.one_of(
    st.ip_addresses(v=4).map(lambda a: f"{a}/32"),
    st.ip_addresses(v=6).map(lambda a: f"{a}/128"),
)


@st.composite
def claims(draw: st.DrawFn) -> TokenClaims:
    folder = draw(st.booleans())
    path = draw(key)
    download = draw(st.one_of(st.none(), st.just(True), segment))
    return TokenClaims(
        account=draw(name),
        provider=draw(name),
        expires=draw(seconds),
        file=None if folder else path,
        folder=path + "/" if folder else None,
        not_before=draw(st.one_of(st.none(), seconds)),
        download=download,
        client_ips=tuple(draw(st.lists(cidr, max_size=3))),
        key_id="p1",
    )


@many
@given(token_text)
def test_any_text_is_a_token_or_a_documented_refusal(raw: str) -> None:
    try:
        parse_token(raw, SIGNER)
    except (BadRequest, InvalidSignature) as exc:
        error: BadRequest | InvalidSignature | None = exc
    else:
        error = None
    if error is not None:
        assert error.status in (400, 403)
        assert error.message


@many
@given(claims())
def test_every_token_made_parses_back_to_its_claims(made: TokenClaims) -> None:
    token = make_token(made, SIGNER)
    assert parse_token(token, SIGNER).claims == made
    # One character off anywhere, and it is refused.
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    try:
        parse_token(flipped, SIGNER)
    except (BadRequest, InvalidSignature):
        pass
    else:
        raise AssertionError("a changed token was accepted")


json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)
claim_doc = st.dictionaries(
    st.sampled_from(["a", "p", "f", "d", "e", "nb", "dl", "ip", "k", "tl", "x"]),
    st.one_of(json_value, name, seconds, key, st.lists(cidr, max_size=2)),
    max_size=9,
)


@many
@given(claim_doc)
def test_any_signed_claims_are_accepted_only_if_they_obey_section_6(doc: dict) -> None:
    payload = base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()
    token = f"{payload}.{SIGNER.sign_message(DOMAIN + payload.encode())}"
    try:
        parsed = parse_token(token, SIGNER).claims
    except (BadRequest, InvalidSignature):
        return
    assert (parsed.file is None) != (parsed.folder is None)
    assert parsed.folder is None or parsed.folder.endswith("/")
    assert 0 < parsed.expires < 10**12
    assert set(doc) <= {"a", "p", "f", "d", "e", "nb", "dl", "ip", "k", "tl"}


@many
@given(st.text(max_size=60))
def test_a_key_decodes_or_is_a_400(raw: str) -> None:
    try:
        decoded = decode_key(raw)
    except BadRequest:
        return
    assert decoded
    assert all(part not in ("", ".", "..") for part in decoded.split("/"))
