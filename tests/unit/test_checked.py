"""Verified links and tokens are remembered by their exact text; nothing else is."""

from __future__ import annotations

import pytest

from proxy.errors import BadRequest, InvalidSignature
from proxy.links import checked
from proxy.links.checked import Checked
from proxy.links.signing import Signer
from proxy.links.tokens import TokenClaims, make_token
from tests.support.proxyapp import NOW, Links

LINKS = Links()


def _forged(text: str) -> str:
    return text[:-1] + ("A" if text[-1] != "A" else "B")


def test_a_good_link_is_parsed_and_verified_once() -> None:
    kept = Checked(LINKS.signer)
    raw = LINKS.query("cam", "disk", "cam/clip.mp4", NOW + 60)
    first = kept.link(raw)
    assert first.claims.filename == "cam/clip.mp4"
    assert kept.link(raw) is first  # remembered, not parsed again


def test_forged_and_malformed_links_are_refused_every_time_and_kept_apart() -> None:
    kept = Checked(LINKS.signer)
    forged = _forged(LINKS.query("cam", "disk", "cam/clip.mp4", NOW + 60))
    messages = set()
    for _ in range(3):
        with pytest.raises(InvalidSignature):
            kept.link(forged)
        with pytest.raises(BadRequest) as refused:
            kept.link("a=cam&p=disk")
        messages.add(refused.value.message)
    assert kept._links == {}
    assert set(kept._refused_links) == {forged, "a=cam&p=disk"}
    assert len(messages) == 1  # the same answer as the first time: "missing parameter ..."


def test_a_flood_of_forged_links_never_pushes_out_a_good_one() -> None:
    kept = Checked(LINKS.signer, size=4)
    good = LINKS.query("cam", "disk", "cam/clip.mp4", NOW + 60)
    kept.link(good)
    for n in range(20):
        with pytest.raises(InvalidSignature):
            kept.link(_forged(LINKS.query("cam", "disk", f"cam/{n}.mp4", NOW + 60)))
    assert list(kept._links) == [good]
    assert len(kept._refused_links) == 4


def test_another_key_verifies_nothing_the_first_kept() -> None:
    """A reload builds a new runtime and with it a new Checked: the old key's links die."""
    raw = LINKS.query("cam", "disk", "cam/clip.mp4", NOW + 60)
    Checked(LINKS.signer).link(raw)
    with pytest.raises(InvalidSignature):
        Checked(Signer(b"another key of thirty-two bytes!!")).link(raw)


def test_tokens_are_kept_and_forged_ones_refused() -> None:
    kept = Checked(LINKS.signer)
    token = make_token(TokenClaims("cam", "disk", NOW + 60, folder="cam/"), LINKS.signer)
    claims = kept.token(token)
    assert kept.token(token) is claims
    for _ in range(2):
        with pytest.raises(InvalidSignature):
            kept.token(_forged(token))
    assert list(kept._tokens) == [token]
    assert list(kept._refused_tokens) == [_forged(token)]


def test_the_oldest_goes_first_and_long_texts_are_not_kept() -> None:
    kept = Checked(LINKS.signer, size=3)
    raws = [LINKS.query("cam", "disk", f"cam/{n}.mp4", NOW + 60) for n in range(5)]
    for raw in raws:
        kept.link(raw)
    assert list(kept._links) == raws[2:]
    long_name = "cam/" + "x" * (checked.LONGEST - 10) + ".mp4"  # the query is longer still
    raw = LINKS.query("cam", "disk", long_name, NOW + 60)
    assert kept.link(raw).claims.filename == long_name
    assert raw not in kept._links
