"""The one copy of the issuing rules (proxy.links.issuing), as the endpoints and `proxy sign`
both use it: the order of the checks, the status of each, the lifetime."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from proxy.errors import BadRequest, Forbidden, ProxyError, Unauthorized
from proxy.links.issuing import LinkRequest, grant, link_url, signed_url
from proxy.links.query import parse_query
from proxy.links.signing import LinkClaims
from tests.support.proxyapp import NOW, Links, make_settings, settings_doc

PROVIDERS = {"disk": {"kind": "local", "root": "/"}, "other": {"kind": "local", "root": "/"}}
SETTINGS = make_settings(
    settings_doc(
        PROVIDERS,
        # PROTOCOL §5's example account: a maximum below the server's default lifetime.
        cam={"providers": ["disk", "other"], "prefix": "cam/", "max_expiry": "1h"},
        open={"providers": ["disk"], "prefix": ""},
    )
)
SIGNING = SETTINGS.signing
CAM = SETTINGS.accounts["cam"]
LINKS = Links()


@pytest.mark.parametrize(
    ("wanted", "error"),
    [
        # each check alone
        (LinkRequest("cam/x", "s3"), Unauthorized),
        (LinkRequest("cam/../x"), BadRequest),
        (LinkRequest("other/x"), Forbidden),
        (LinkRequest("cam/x", expiry="2h"), BadRequest),
        (LinkRequest("cam/x", expiry="0"), BadRequest),
        (LinkRequest("cam/x", expiry="soon"), BadRequest),
        # the first failing one decides: provider, filename, prefix, lifetime
        (LinkRequest("/etc/passwd", "s3", "soon"), Unauthorized),
        (LinkRequest("other/../x", None, "soon"), BadRequest),
        (LinkRequest("other/x", None, "soon"), Forbidden),
    ],
)
def test_refusals_in_order(wanted: LinkRequest, error: type[ProxyError]) -> None:
    with pytest.raises(ProxyError) as caught:
        grant(SIGNING, CAM, wanted, NOW)
    assert type(caught.value) is error


def test_the_lifetime_message_names_the_callers_field() -> None:
    with pytest.raises(BadRequest) as endpoint:
        grant(SIGNING, CAM, LinkRequest("cam/x", expiry="2h"), NOW)
    assert endpoint.value.message == "uriExpiryTime: longer than the maximum of 3600 seconds"
    with pytest.raises(BadRequest) as cli:
        grant(SIGNING, CAM, LinkRequest("cam/x", expiry="2h"), NOW, expiry_field="--expires-in")
    assert cli.value.message == "--expires-in: longer than the maximum of 3600 seconds"


@pytest.mark.parametrize(
    ("account", "expiry", "lifetime"),
    [
        ("cam", None, 3600),  # the default (24h), shortened to the account's 1h
        ("cam", "30m", 1800),
        ("cam", 3600, 3600),
        ("cam", "300ms", 1),
        ("open", None, 86400),
        ("open", "168h", 7 * 86400),
    ],
)
def test_lifetime(account: str, expiry: object, lifetime: int) -> None:
    granted = grant(SIGNING, SETTINGS.accounts[account], LinkRequest("cam/x", None, expiry), NOW)
    assert granted.lifetime == lifetime
    assert granted.claims.expires == NOW + lifetime


def test_the_default_provider_is_the_first() -> None:
    granted = grant(SIGNING, CAM, LinkRequest("cam/x"), NOW + 0.9)
    assert granted.claims == LinkClaims("cam", "disk", "cam/x", NOW + 3600)
    assert grant(SIGNING, CAM, LinkRequest("cam/x", "other"), NOW).claims.provider == "other"


def test_a_granted_link_verifies() -> None:
    granted = grant(SIGNING, CAM, LinkRequest("cam/dir with space/ü+&.mp4"), NOW)
    url = signed_url(granted, LINKS.signer, "http://media.example/")
    base, _, query = url.partition("?")
    assert base == "http://media.example/api/storage/signed"
    parsed = parse_query(query)
    assert parsed.claims == granted.claims
    assert LINKS.signer.verify(parsed.claims, parsed.signature)


def test_native_urls_only_without_vault_signing() -> None:
    asked: list[tuple[str, int]] = []

    async def presign(key: str, seconds: int) -> str | None:
        asked.append((key, seconds))
        return f"https://bucket.example/{key}?ttl={seconds}"

    async def none(key: str, seconds: int) -> str | None:
        return None

    granted = grant(SIGNING, CAM, LinkRequest("cam/x", expiry="10m"), NOW)
    signed = signed_url(granted, LINKS.signer, "http://p")
    assert asyncio.run(link_url(granted, SIGNING, LINKS.signer, "http://p", presign)) == signed
    assert asyncio.run(link_url(granted, SIGNING, LINKS.signer, "http://p")) == signed
    assert asked == []

    native = dataclasses.replace(SIGNING, vault_signing=False)  # VAULT_SIGNING=false
    url = asyncio.run(link_url(granted, native, LINKS.signer, "http://p", presign))
    assert url == "https://bucket.example/cam/x?ttl=600"
    assert asked == [("cam/x", 600)]
    # A backend without native URLs still gets a §1 link.
    assert asyncio.run(link_url(granted, native, LINKS.signer, "http://p", none)) == signed
