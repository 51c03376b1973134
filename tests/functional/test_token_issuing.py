"""§6 issuing: the optional headers and bulk fields give token links; none give §1 links."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from proxy import config
from proxy.app import create_app
from proxy.links.signing import Signer
from proxy.links.tokens import parse_token
from tests.functional.test_issuing import BODY, Issuer
from tests.functional.test_issuing import issuer as issuer  # the fixture, shared
from tests.support.proxyapp import KEY

SIGNER = Signer(KEY.encode())
TOKEN_PREFIX = "https://media.example/api/storage/t/"


def _claims(url: str) -> Any:
    assert url.startswith(TOKEN_PREFIX), url
    token = url.removeprefix(TOKEN_PREFIX).split("/", 1)[0]
    return parse_token(token, SIGNER).claims


async def _fetch(issuer: Issuer, url: str, **headers: str) -> Any:
    return await issuer.client.get(urlsplit(url).path, headers=headers)


async def test_a_folder_grant_covers_every_file_below_it(issuer: Issuer) -> None:
    resp = await issuer.one("cam/", **{"X-Kerberos-Storage-Scope": "prefix"})
    assert resp.status == 200
    url = (await resp.json())["data"]
    assert url.endswith("/cam/")
    claims = _claims(url)
    assert claims.folder == "cam/"
    assert claims.file is None
    assert claims.expires == int(issuer.clock.now) + 7200
    for name in ("a.mp4", "sub%20dir/%C3%BC%2B%26.mp4"):
        fetched = await issuer.client.get(urlsplit(url).path + name)
        assert fetched.status == 200
        assert (await fetched.read()).startswith(BODY)


async def test_not_before_download_and_client_ip_make_a_file_token(issuer: Issuer) -> None:
    resp = await issuer.one(
        "cam/sub dir/ü+&.mp4",
        **{
            "X-Kerberos-Storage-NotBefore": str(int(issuer.clock.now) - 5),
            "X-Kerberos-Storage-Download": "clip.mp4",
            "X-Kerberos-Storage-ClientIp": "127.0.0.0/8, ::1/128",
        },
    )
    assert resp.status == 200
    url = (await resp.json())["data"]
    assert url.endswith("/cam/sub%20dir/%C3%BC%2B%26.mp4")
    claims = _claims(url)
    assert claims.file == "cam/sub dir/ü+&.mp4"
    assert claims.not_before == int(issuer.clock.now) - 5
    assert claims.download == "clip.mp4"
    assert claims.client_ips == ("127.0.0.0/8", "::1/128")
    fetched = await _fetch(issuer, url)
    assert fetched.status == 200
    assert fetched.headers["Content-Disposition"].startswith('attachment; filename="clip.mp4"')


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"X-Kerberos-Storage-Scope": "folder"}, "scope"),
        ({"X-Kerberos-Storage-NotBefore": "soon"}, "notBefore"),
        ({"X-Kerberos-Storage-NotBefore": "9999999999"}, "after the link's expiry"),
        ({"X-Kerberos-Storage-ClientIp": "10.0.0.0/33"}, "clientIp"),
        ({"X-Kerberos-Storage-Download": "a/b.mp4"}, "download"),
    ],
)
async def test_malformed_options_are_400(issuer: Issuer, headers: dict[str, str], why: str) -> None:
    resp = await issuer.one("cam/a.mp4", **headers)
    assert resp.status == 400
    assert why in (await resp.json())["data"]


async def test_a_folder_outside_the_prefix_is_403_and_a_file_as_folder_400(issuer: Issuer) -> None:
    outside = await issuer.one("other/", **{"X-Kerberos-Storage-Scope": "prefix"})
    assert outside.status == 403
    not_a_folder = await issuer.one("cam/a.mp4", **{"X-Kerberos-Storage-Scope": "prefix"})
    assert not_a_folder.status == 400


async def test_bulk_items_take_the_same_options_and_a_folder_is_keyed_by_itself(
    issuer: Issuer,
) -> None:
    resp = await issuer.bulk(
        [
            {"filename": "cam/a.mp4"},
            {"filename": "cam/sub dir/", "scope": "prefix", "uriExpiryTime": 600},
            {"filename": "cam/b.mp4", "download": True, "clientIp": ["127.0.0.1"]},
            {"filename": "cam/s3.mp4", "provider": "s3", "notBefore": 1},
        ]
    )
    assert resp.status == 200
    urls = json.loads((await resp.json())["data"])
    assert urls["cam/a.mp4"].startswith("https://media.example/api/storage/signed?")
    assert _claims(urls["cam/sub dir/"]).folder == "cam/sub dir/"
    assert _claims(urls["cam/b.mp4"]).download is True
    assert _claims(urls["cam/s3.mp4"]).provider == "s3"
    for key in ("cam/b.mp4", "cam/s3.mp4"):
        fetched = await _fetch(issuer, urls[key])
        assert fetched.status == 200, key
        assert await fetched.read() == (BODY + b"cam/b.mp4" if key == "cam/b.mp4" else BODY)
    bad = await issuer.bulk(
        [{"filename": "cam/a.mp4"}, {"filename": "cam/b.mp4", "notBefore": True}]
    )
    assert bad.status == 400
    assert (await bad.json())["data"].startswith("item 1")


async def test_native_mode_refuses_options_a_native_url_cannot_carry(
    issuer: Issuer, aiohttp_client: Any
) -> None:
    settings = config.parse(issuer.doc, "test", {"VAULT_SIGNING": "false"})
    client = await aiohttp_client(create_app(settings, clock=issuer.clock))
    headers = issuer.creds()
    s3 = await client.get(
        "/api/storage",
        headers={
            **headers,
            "X-Kerberos-Storage-FileName": "cam/s3.mp4",
            "X-Kerberos-Storage-Provider": "s3",
            "X-Kerberos-Storage-Download": "x.mp4",
        },
    )
    assert s3.status == 400
    assert "VAULT_SIGNING=false" in (await s3.json())["data"]
    # A disk has no native URLs: the proxy's token link, as always.
    disk = await client.get(
        "/api/storage",
        headers={
            **headers,
            "X-Kerberos-Storage-FileName": "cam/",
            "X-Kerberos-Storage-Scope": "prefix",
        },
    )
    assert disk.status == 200
    assert (await disk.json())["data"].startswith(TOKEN_PREFIX)
