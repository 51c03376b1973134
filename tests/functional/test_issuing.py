"""§3 through HTTP: issue links with account credentials, then fetch what was issued.

Secrets are made at run time; only their scrypt hashes reach the config.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from proxy.accounts import hash_secret
from proxy.app import create_app, reload_config
from proxy.links.query import parse_query
from proxy.links.signing import Signer
from proxy.links.tokens import TOKEN_PATH, TokenClaims, parse_token
from proxy.state import LIVE
from tests.conftest import MotoServer
from tests.support import toml
from tests.support.proxyapp import KEY, OLD_KEY, Clock, Links, make_settings

NEW_KEY = "new-signing-key-0123456789abcdef0123456789ab"
BODY = b"recorded video bytes " * 500


@dataclass
class Issuer:
    client: Any
    clock: Clock
    access: str
    secret: str
    config_path: Path
    doc: dict[str, Any]
    bucket: str
    moto: MotoServer

    def creds(self, access: str | None = None, secret: str | None = None) -> dict[str, str]:
        return {
            "X-Kerberos-Storage-AccessKey": access or self.access,
            "X-Kerberos-Storage-SecretAccessKey": secret or self.secret,
        }

    async def one(self, filename: str, **headers: str) -> Any:
        return await self.client.get(
            "/api/storage",
            headers={**self.creds(), "X-Kerberos-Storage-FileName": filename, **headers},
        )

    async def bulk(self, body: Any, **headers: str) -> Any:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.client.post(
            "/api/storage/bulk", data=data, headers={**self.creds(), **headers}
        )

    async def fetch(self, url: str) -> Any:
        parts = urlsplit(url)
        return await self.client.get(f"{parts.path}?{parts.query}")

    async def reload(self, doc: dict[str, Any]) -> None:
        self.config_path.write_text(toml.dumps(doc))
        assert await reload_config(self.client.app, str(self.config_path))


SECRET = secrets.token_urlsafe(24)
OTHER_SECRET = secrets.token_urlsafe(24)
HASHES = {"cam": hash_secret(SECRET), "off": hash_secret(OTHER_SECRET)}


def base_doc(tmp_path: Path, moto: MotoServer, bucket: str) -> dict[str, Any]:
    return {
        "server": {"host": "127.0.0.1", "port": 8085, "public_url": "https://media.example"},
        "signing": {"key": KEY, "previous_keys": [OLD_KEY], "max_expiry": "48h"},
        "issuing": {"max_body_bytes": 4096, "max_items": 5, "auth_failures": 3},
        "providers": {
            "disk": {"kind": "local", "root": str(tmp_path / "media")},
            "s3": {
                "kind": "s3",
                "bucket": bucket,
                "endpoint_url": moto.endpoint,
                "access_key_id": "testing",
                "secret_access_key": "testing",
            },
            "unbound": {"kind": "local", "root": str(tmp_path / "media")},
        },
        "accounts": {
            "cam": {
                "access_key": "AKCAM",
                "secret_hash": HASHES["cam"],
                "providers": ["disk", "s3"],
                "max_expiry": "2h",
            },
            "off": {
                "access_key": "AKOFF",
                "secret_hash": HASHES["off"],
                "providers": ["disk"],
                "enabled": False,
            },
        },
    }


@pytest.fixture
async def issuer(tmp_path: Path, moto: MotoServer, aiohttp_client: Any) -> Issuer:
    (tmp_path / "media" / "cam" / "sub dir").mkdir(parents=True)
    for name in ("cam/a.mp4", "cam/b.mp4", "cam/sub dir/ü+&.mp4"):
        (tmp_path / "media" / name).write_bytes(BODY + name.encode())
    bucket = moto.new_bucket()
    moto.client().put_object(Bucket=bucket, Key="cam/s3.mp4", Body=BODY)
    doc = base_doc(tmp_path, moto, bucket)
    path = tmp_path / "proxy.toml"
    path.write_text(toml.dumps(doc))
    clock = Clock()
    app = create_app(make_settings(doc), clock=clock)
    client = await aiohttp_client(app)
    return Issuer(client, clock, "AKCAM", SECRET, path, doc, bucket, moto)


async def test_one_link_then_fetched_byte_for_byte(issuer: Issuer) -> None:
    resp = await issuer.one("cam/a.mp4")
    assert resp.status == 200
    url = (await resp.json())["data"]
    assert url.startswith("https://media.example/api/storage/signed?a=cam&p=disk&f=cam%2Fa.mp4&e=")
    query = parse_query(urlsplit(url).query)
    assert (
        query.claims.expires == int(issuer.clock.now) + 7200
    )  # default 24h, capped by the account
    fetched = await issuer.fetch(url)
    assert fetched.status == 200
    assert await fetched.read() == BODY + b"cam/a.mp4"


async def test_provider_and_expiry_headers(issuer: Issuer) -> None:
    resp = await issuer.one(
        "cam/s3.mp4",
        **{"X-Kerberos-Storage-Provider": "s3", "X-Kerberos-Storage-UriExpiryTime": "1.5h"},
    )
    url = (await resp.json())["data"]
    claims = parse_query(urlsplit(url).query).claims
    assert claims.provider == "s3"
    assert claims.expires == int(issuer.clock.now) + 5400
    assert await (await issuer.fetch(url)).read() == BODY


async def test_bulk_answer_is_a_json_string_parsed_twice(issuer: Issuer) -> None:
    items = [
        {"filename": "cam/a.mp4"},
        {"filename": "cam/sub dir/ü+&.mp4", "uriExpiryTime": 600},
        {"filename": "cam/s3.mp4", "provider": "s3", "uriExpiryTime": "30m"},
        {"filename": "cam/b.mp4", "uriExpiryTime": "300ms"},
    ]
    resp = await issuer.bulk(items)
    assert resp.status == 200
    outer = await resp.json()
    assert isinstance(outer["data"], str)
    urls = json.loads(outer["data"])
    assert set(urls) == {item["filename"] for item in items}
    now = int(issuer.clock.now)
    expected_expiry = {"cam/a.mp4": now + 7200, "cam/sub dir/ü+&.mp4": now + 600}
    expected_expiry |= {"cam/s3.mp4": now + 1800, "cam/b.mp4": now + 1}
    for filename, url in urls.items():
        assert parse_query(urlsplit(url).query).claims.expires == expected_expiry[filename]
        fetched = await issuer.fetch(url)
        assert fetched.status == 200, filename
        body = await fetched.read()
        assert body == (BODY if filename == "cam/s3.mp4" else BODY + filename.encode())


@pytest.mark.parametrize(
    ("headers", "status", "fragment"),
    [
        ({"X-Kerberos-Storage-UriExpiryTime": "0"}, 400, "must be positive"),
        ({"X-Kerberos-Storage-UriExpiryTime": "-5m"}, 400, "must be positive"),
        ({"X-Kerberos-Storage-UriExpiryTime": "3h"}, 400, "longer than the maximum of 7200"),
        ({"X-Kerberos-Storage-UriExpiryTime": "1d"}, 400, "unknown unit"),
        ({"X-Kerberos-Storage-UriExpiryTime": "soon"}, 400, "uriExpiryTime"),
        ({"X-Kerberos-Storage-Provider": "unbound"}, 401, "not bound to provider 'unbound'"),
        ({"X-Kerberos-Storage-Provider": "nowhere"}, 401, "not bound to provider 'nowhere'"),
    ],
)
async def test_single_issuing_refusals(
    issuer: Issuer, headers: dict[str, str], status: int, fragment: str
) -> None:
    resp = await issuer.one("cam/a.mp4", **headers)
    assert resp.status == status
    body = await resp.json()
    assert fragment in body["data"]
    assert set(body) == {"data", "error"}


@pytest.mark.parametrize(
    ("filename", "status", "error"),
    [
        ("other/a.mp4", 403, "forbidden"),
        ("cam/../other/a.mp4", 400, "bad_request"),
        ("/cam/a.mp4", 400, "bad_request"),
        ("cam\\a.mp4", 400, "bad_request"),
    ],
)
async def test_filename_refusals(issuer: Issuer, filename: str, status: int, error: str) -> None:
    resp = await issuer.one(filename)
    assert resp.status == status
    assert (await resp.json())["error"] == error


async def test_missing_filename_header_is_400(issuer: Issuer) -> None:
    resp = await issuer.client.get("/api/storage", headers=issuer.creds())
    assert resp.status == 400
    assert "X-Kerberos-Storage-FileName" in (await resp.json())["data"]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"not json", 400, "not valid JSON"),
        ({"filename": "cam/a.mp4"}, 400, "must be a JSON array"),
        (["cam/a.mp4"], 400, "item 0: must be an object"),
        ([{"filename": "cam/a.mp4"}, {"provider": "disk"}], 400, "item 1: 'filename' is required"),
        ([{"filename": "cam/a.mp4", "bogus": 1}], 400, "item 0: unknown field 'bogus'"),
        (
            [{"filename": "cam/a.mp4"}, {"filename": "cam/b.mp4", "uriExpiryTime": 0}],
            400,
            "item 1 ('cam/b.mp4')",
        ),
        ([{"filename": "cam/a.mp4", "uriExpiryTime": 1.5}], 400, "item 0 ('cam/a.mp4')"),
        ([{"filename": "cam/a.mp4", "uriExpiryTime": True}], 400, "item 0 ('cam/a.mp4')"),
        (
            [{"filename": "cam/a.mp4", "provider": "unbound"}],
            401,
            "item 0 ('cam/a.mp4'): the account is not bound",
        ),
        (
            [{"filename": "cam/a.mp4"}, {"filename": "x/y.mp4"}],
            403,
            "item 1 ('x/y.mp4'): the filename lies outside",
        ),
        ([{"filename": f"cam/{i}.mp4"} for i in range(6)], 413, "more than 5 items"),
        (b"[" + b" " * 5000 + b"]", 413, "larger than 4096 bytes"),
    ],
)
async def test_bulk_refusals_name_the_item(
    issuer: Issuer, body: Any, status: int, fragment: str
) -> None:
    resp = await issuer.bulk(body)
    assert resp.status == status
    assert fragment in (await resp.json())["data"]


@pytest.mark.parametrize(
    ("access", "secret", "fragment"),
    [
        ("AKCAM", "wrong-secret", "invalid credentials"),
        ("AKNOBODY", SECRET, "invalid credentials"),
        ("AKOFF", OTHER_SECRET, "the account is disabled"),
    ],
)
async def test_bad_credentials_are_401(
    issuer: Issuer, access: str, secret: str, fragment: str
) -> None:
    for resp in (
        await issuer.client.get(
            "/api/storage",
            headers={**issuer.creds(access, secret), "X-Kerberos-Storage-FileName": "cam/a.mp4"},
        ),
        await issuer.client.post(
            "/api/storage/bulk", data=b"[]", headers=issuer.creds(access, secret)
        ),
    ):
        assert resp.status == 401
        assert (await resp.json()) == {"data": fragment, "error": "unauthorized"}


async def test_missing_credentials_are_401(issuer: Issuer) -> None:
    resp = await issuer.client.get(
        "/api/storage", headers={"X-Kerberos-Storage-FileName": "cam/a.mp4"}
    )
    assert resp.status == 401


async def test_repeated_failures_are_429_with_retry_after(issuer: Issuer) -> None:
    for _ in range(3):
        assert (await issuer.one("cam/a.mp4", **issuer.creds(secret="nope"))).status == 401
    blocked = await issuer.one("cam/a.mp4")  # even the right secret waits now
    assert blocked.status == 429
    assert 1 <= int(blocked.headers["Retry-After"]) <= 300
    assert (await blocked.json())["error"] == "too_many_requests"


async def test_rotation_keeps_old_links_and_signs_with_the_new_key(issuer: Issuer) -> None:
    old_url = (await (await issuer.one("cam/a.mp4")).json())["data"]
    doc = json.loads(json.dumps(issuer.doc))
    doc["signing"]["key"] = NEW_KEY
    doc["signing"]["previous_keys"] = [KEY]
    await issuer.reload(doc)
    assert (await issuer.fetch(old_url)).status == 200
    new_url = (await (await issuer.one("cam/a.mp4")).json())["data"]
    new = parse_query(urlsplit(new_url).query)
    assert Signer(NEW_KEY.encode()).verify(new.claims, new.signature)
    assert not Signer(KEY.encode()).verify(new.claims, new.signature)
    assert (await issuer.fetch(new_url)).status == 200
    # Once the old key is dropped, its links die.
    doc["signing"]["previous_keys"] = []
    await issuer.reload(doc)
    assert (await issuer.fetch(old_url)).status == 403
    assert (await issuer.fetch(new_url)).status == 200


async def test_narrowing_an_account_revokes_its_links_on_reload(issuer: Issuer) -> None:
    url = (await (await issuer.one("cam/sub dir/ü+&.mp4")).json())["data"]
    s3_url = (
        await (await issuer.one("cam/s3.mp4", **{"X-Kerberos-Storage-Provider": "s3"})).json()
    )["data"]
    doc = json.loads(json.dumps(issuer.doc))
    doc["accounts"]["cam"]["prefix"] = "cam/other/"
    doc["accounts"]["cam"]["providers"] = ["disk"]
    await issuer.reload(doc)
    for link in (url, s3_url):
        resp = await issuer.fetch(link)
        assert resp.status == 403
        assert (await resp.json())["error"] == "revoked"


async def test_a_bad_reload_keeps_the_running_config(issuer: Issuer) -> None:
    url = (await (await issuer.one("cam/a.mp4")).json())["data"]
    issuer.config_path.write_text("[signing]\nkey = 'short'\n")
    assert not await reload_config(issuer.client.app, str(issuer.config_path))
    assert (await issuer.fetch(url)).status == 200


async def test_native_mode_returns_a_presigned_url_the_backend_serves(
    tmp_path: Path, moto: MotoServer, aiohttp_client: Any
) -> None:
    bucket = moto.new_bucket()
    moto.client().put_object(Bucket=bucket, Key="cam/native.mp4", Body=BODY)
    (tmp_path / "media" / "cam").mkdir(parents=True)
    (tmp_path / "media" / "cam" / "disk.mp4").write_bytes(BODY)
    doc = base_doc(tmp_path, moto, bucket)
    from proxy import config

    settings = config.parse(doc, "test", {"VAULT_SIGNING": "false"})
    client = await aiohttp_client(create_app(settings))
    creds = {"X-Kerberos-Storage-AccessKey": "AKCAM", "X-Kerberos-Storage-SecretAccessKey": SECRET}
    resp = await client.get(
        "/api/storage",
        headers={
            **creds,
            "X-Kerberos-Storage-FileName": "cam/native.mp4",
            "X-Kerberos-Storage-Provider": "s3",
            "X-Kerberos-Storage-UriExpiryTime": "10m",
        },
    )
    url = (await resp.json())["data"]
    assert url.startswith(f"{moto.endpoint}/{bucket}/cam/native.mp4?")
    params = parse_qs(urlsplit(url).query)
    assert params["X-Amz-Expires"] == ["600"]
    with urllib.request.urlopen(url, timeout=10) as direct:  # straight from the backend
        assert direct.read() == BODY
    # A disk has no URLs of its own: native mode falls back to the proxy's link.
    disk = await client.get(
        "/api/storage", headers={**creds, "X-Kerberos-Storage-FileName": "cam/disk.mp4"}
    )
    assert "/api/storage/signed?" in (await disk.json())["data"]


async def test_parallel_guesses_cannot_outrun_the_failure_limit(issuer: Issuer) -> None:
    async def guess(i: int) -> int:
        resp = await issuer.one("cam/a.mp4", **issuer.creds(secret=f"guess-{i}"))
        return resp.status

    statuses = await asyncio.gather(*(guess(i) for i in range(20)))
    assert statuses.count(401) <= 3  # auth_failures = 3, however many arrive at once
    assert statuses.count(429) >= 17


async def test_parallel_requests_with_the_right_secret_all_pass(issuer: Issuer) -> None:
    # One scrypt is shared by the burst, and none of it counts against the limit.
    burst = await asyncio.gather(*(issuer.one(f"cam/{i}.mp4") for i in range(10)))
    assert [r.status for r in burst] == [200] * 10


async def test_a_deeply_nested_body_is_a_400(issuer: Issuer) -> None:
    doc = issuer.doc | {"issuing": {"max_body_bytes": 8 << 20}}
    await issuer.reload(doc)
    resp = await issuer.bulk(b"[" * 200_000 + b"]" * 200_000)
    assert resp.status == 400
    assert "nested too deeply" in (await resp.json())["data"]


async def test_each_credential_is_added_rotated_and_disabled_alone_by_a_reload(
    issuer: Issuer,
) -> None:
    recorder, portal = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    doc = json.loads(json.dumps(issuer.doc))
    doc["accounts"]["cam"]["credentials"] = [
        {"name": "recorder", "access_key": "AKREC", "secret_hash": hash_secret(recorder)},
        {"name": "portal", "access_key": "AKPORTAL", "secret_hash": hash_secret(portal)},
    ]
    await issuer.reload(doc)  # added: the account's own pair goes on working beside them

    async def status(access: str, secret: str) -> tuple[int, Any]:
        resp = await issuer.one("cam/a.mp4", **issuer.creds(access, secret))
        return resp.status, await resp.json()

    issued = {}
    for access, secret in (("AKCAM", SECRET), ("AKREC", recorder), ("AKPORTAL", portal)):
        code, body = await status(access, secret)  # each one verified, so now remembered
        assert code == 200, body
        issued[access] = body["data"]

    doc["accounts"]["cam"]["credentials"][0]["enabled"] = False
    await issuer.reload(doc)
    disabled = {"data": "the credential is disabled", "error": "unauthorized"}
    assert await status("AKREC", recorder) == (401, disabled)  # remembered, refused all the same
    bulk = await issuer.bulk([{"filename": "cam/a.mp4"}], **issuer.creds("AKREC", recorder))
    assert (bulk.status, await bulk.json()) == (401, disabled)
    assert (await status("AKPORTAL", portal))[0] == 200
    assert (await status("AKCAM", SECRET))[0] == 200
    # A link names its account, not the credential that issued it: it still serves.
    assert (await issuer.fetch(issued["AKREC"])).status == 200

    rotated = secrets.token_urlsafe(24)
    doc["accounts"]["cam"]["credentials"][1]["secret_hash"] = hash_secret(rotated)
    await issuer.reload(doc)  # the portal's new secret; its old one was remembered
    assert await status("AKPORTAL", portal) == (
        401,
        {"data": "invalid credentials", "error": "unauthorized"},
    )
    assert (await status("AKPORTAL", rotated))[0] == 200
    assert (await status("AKCAM", SECRET))[0] == 200
    assert await status("AKREC", recorder) == (401, disabled)


async def test_named_keys_rotate_in_two_steps_and_dropping_an_id_revokes_its_tokens(
    issuer: Issuer,
) -> None:
    def token_of(url: str) -> TokenClaims:
        token = urlsplit(url).path.removeprefix(f"{TOKEN_PATH}/").split("/", 1)[0]
        return parse_token(token, issuer.client.app[LIVE].current.signer).claims

    async def fetch(path: str) -> int:
        return (await issuer.client.get(urlsplit(path).path)).status

    async def folder_link() -> str:
        resp = await issuer.one("cam/", **{"X-Kerberos-Storage-Scope": "prefix"})
        assert resp.status == 200
        return str((await resp.json())["data"])

    doc = json.loads(json.dumps(issuer.doc))
    doc["signing"] |= {"key_id": "2026-06", "previous_keys": [{"id": "2025-12", "key": OLD_KEY}]}
    await issuer.reload(doc)
    current = await folder_link()
    assert token_of(current).key_id == "2026-06"  # issued links name the key that signed them
    old = Links(OLD_KEY)
    by_old = old.token_path(old.token("cam", "disk", folder="cam/", key_id="2025-12"), "cam/a.mp4")
    lying = old.token_path(old.token("cam", "disk", folder="cam/", key_id="2026-06"), "cam/a.mp4")
    section_1 = old.path("cam", "disk", "cam/a.mp4", int(issuer.clock.now) + 600)
    assert await fetch(current + "a.mp4") == 200
    assert await fetch(by_old) == 200
    assert await fetch(lying) == 403  # signed by 2025-12, claiming 2026-06: only 2026-06 is tried
    assert (await issuer.fetch(section_1)).status == 200

    # Rollout 1: the next key is accepted everywhere; rollout 2: it signs, the last one stays.
    doc["signing"]["previous_keys"].append({"id": "2026-12", "key": NEW_KEY})
    await issuer.reload(doc)
    assert token_of(await folder_link()).key_id == "2026-06"
    doc["signing"] |= {"key": NEW_KEY, "key_id": "2026-12"}
    doc["signing"]["previous_keys"] = [
        {"id": "2026-06", "key": KEY},
        {"id": "2025-12", "key": OLD_KEY},
    ]
    await issuer.reload(doc)
    assert token_of(await folder_link()).key_id == "2026-12"
    assert await fetch(current + "a.mp4") == 200

    # The key 2025-12 stays, unnamed: every token naming it dies at once; §1 links live on.
    doc["signing"]["previous_keys"] = [{"id": "2026-06", "key": KEY}, OLD_KEY]
    await issuer.reload(doc)
    refused = await issuer.client.get(urlsplit(by_old).path)
    assert (refused.status, (await refused.json())["error"]) == (403, "invalid_signature")
    assert (await issuer.fetch(section_1)).status == 200
    assert await fetch(current + "a.mp4") == 200
    doc["signing"]["previous_keys"] = [OLD_KEY]  # and 2026-06 goes: its tokens too
    await issuer.reload(doc)
    assert await fetch(current + "a.mp4") == 403
