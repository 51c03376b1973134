"""Native mode (VAULT_SIGNING=false): the backend's own URL (S3, GCS, Azure), fetched directly."""

from __future__ import annotations

import hashlib
import json
import secrets
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from proxy import config
from proxy.accounts import hash_secret
from proxy.app import create_app
from tests.conftest import AzuriteServer, GcsServer, MotoServer
from tests.support.proxyapp import KEY

SECRET = secrets.token_urlsafe(24)
HASH = hash_secret(SECRET)
BODY = b"native bytes " * 1000


def settings_for(provider: dict[str, Any]) -> config.Settings:
    doc = {
        "signing": {"key": KEY},
        "providers": {"store": provider},
        "accounts": {"cam": {"access_key": "AK", "secret_hash": HASH, "providers": ["store"]}},
    }
    return config.parse(doc, "test", {"VAULT_SIGNING": "false"})


async def issue(aiohttp_client: Any, settings: config.Settings, filename: str, ttl: str) -> str:
    client = await aiohttp_client(create_app(settings))
    resp = await client.get(
        "/api/storage",
        headers={
            "X-Kerberos-Storage-AccessKey": "AK",
            "X-Kerberos-Storage-SecretAccessKey": SECRET,
            "X-Kerberos-Storage-FileName": filename,
            "X-Kerberos-Storage-UriExpiryTime": ttl,
        },
    )
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["data"])


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


async def test_azure_sas_url_is_verified_and_served_by_azurite(
    azurite: AzuriteServer, aiohttp_client: Any
) -> None:
    container = azurite.new_container()
    azurite.put(container, "cam/clip one.mp4", BODY)
    provider = {
        "kind": "azure",
        "container": container,
        "endpoint_url": azurite.endpoint,
        "account_name": azurite.account,
        "account_key": azurite.key,
    }
    url = await issue(aiohttp_client, settings_for(provider), "cam/clip one.mp4", "15m")
    parts = urlsplit(url)
    assert url.startswith(f"{azurite.endpoint}/{container}/cam/clip%20one.mp4?")
    params = parse_qs(parts.query)
    assert params["sp"] == ["r"]  # read only
    assert "sig" in params
    assert "/api/storage/signed" not in url
    assert fetch(url) == (200, BODY)
    # Azurite checks the signature: a changed permission or signature is refused.
    assert fetch(url.replace("sp=r", "sp=rw"))[0] == 403
    signature = params["sig"][0]
    tampered = url.replace(
        f"sig={parts.query.split('sig=')[1].split('&')[0]}", "sig=" + signature[::-1]
    )
    assert fetch(tampered)[0] == 403


def service_account() -> tuple[dict[str, str], rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    doc = {
        "type": "service_account",
        "client_email": "proxy@test-project.iam.gserviceaccount.com",
        "private_key": pem,
        "private_key_id": secrets.token_hex(8),
        "token_uri": "http://127.0.0.1:9/token",  # never used against an emulator
    }
    return doc, key


async def test_gcs_v4_url_has_the_v4_shape_and_downloads(
    gcs: GcsServer, aiohttp_client: Any
) -> None:
    bucket = gcs.new_bucket()
    gcs.put(bucket, "cam/clip.mp4", BODY, "video/mp4")
    account, key = service_account()
    provider = {
        "kind": "gcs",
        "bucket": bucket,
        "endpoint_url": gcs.endpoint,
        "credentials_json": json.dumps(account),
    }
    url = await issue(aiohttp_client, settings_for(provider), "cam/clip.mp4", "10m")
    parts = urlsplit(url)
    assert parts.path == f"/{bucket}/cam/clip.mp4"
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert params["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
    assert params["X-Goog-Expires"] == "600"
    assert params["X-Goog-SignedHeaders"] == "host"
    email, date, region, service, kind = params["X-Goog-Credential"].split("/")
    assert (email, region, service, kind) == (
        account["client_email"],
        "auto",
        "storage",
        "goog4_request",
    )
    assert params["X-Goog-Date"].startswith(date)

    # The signature verifies with the service account's public key over the V4 string.
    canonical_query = parts.query.split("&X-Goog-Signature=")[0]
    canonical = "\n".join(
        ("GET", parts.path, canonical_query, f"host:{parts.netloc}\n", "host", "UNSIGNED-PAYLOAD")
    )
    scope = unquote(params["X-Goog-Credential"]).split("/", 1)[1]
    to_sign = "\n".join(
        (
            "GOOG4-RSA-SHA256",
            params["X-Goog-Date"],
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        )
    )
    signature = bytes.fromhex(params["X-Goog-Signature"])
    key.public_key().verify(signature, to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())

    assert fetch(url) == (200, BODY)


WEEK = 7 * 86400


def long_lived(provider: dict[str, Any]) -> config.Settings:
    """Native mode with a server maximum above the week S3 and GCS allow their own URLs."""
    doc = {
        "signing": {"key": KEY, "max_expiry": "720h"},
        "providers": {"store": provider},
        "accounts": {"cam": {"access_key": "AK", "secret_hash": HASH, "providers": ["store"]}},
    }
    settings = config.parse(doc, "test", {"VAULT_SIGNING": "false"})
    assert settings.signing.max_expiry > WEEK
    return settings


async def refused(aiohttp_client: Any, settings: config.Settings, ttl: object) -> list[Any]:
    """The single and the bulk endpoint's answers for one filename at ``ttl``."""
    client = await aiohttp_client(create_app(settings))
    creds = {"X-Kerberos-Storage-AccessKey": "AK", "X-Kerberos-Storage-SecretAccessKey": SECRET}
    one = await client.get(
        "/api/storage",
        headers={
            **creds,
            "X-Kerberos-Storage-FileName": "cam/clip.mp4",
            "X-Kerberos-Storage-UriExpiryTime": str(ttl),
        },
    )
    bulk = await client.post(
        "/api/storage/bulk",
        headers=creds,
        json=[{"filename": "cam/ok.mp4"}, {"filename": "cam/clip.mp4", "uriExpiryTime": ttl}],
    )
    return [(one.status, await one.json()), (bulk.status, await bulk.json())]


async def test_s3_native_links_live_at_most_seven_days(
    moto: MotoServer, aiohttp_client: Any
) -> None:
    bucket = moto.new_bucket()
    moto.client().put_object(Bucket=bucket, Key="cam/clip.mp4", Body=BODY)
    settings = long_lived(moto.provider(bucket))
    # A week exactly is what S3 allows, and the URL works.
    url = await issue(aiohttp_client, settings, "cam/clip.mp4", str(WEEK))
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == [str(WEEK)]
    assert fetch(url) == (200, BODY)
    # A second more is the client's mistake, said plainly: never a URL S3 would refuse.
    (one_status, one), (bulk_status, bulk) = await refused(aiohttp_client, settings, WEEK + 1)
    assert (one_status, one["error"]) == (400, "bad_request")
    assert one["data"] == "S3 presigned URLs live at most 7 days (604800 seconds)"
    assert (bulk_status, bulk["error"]) == (400, "bad_request")
    assert bulk["data"].startswith("item 1 ('cam/clip.mp4'): S3 presigned URLs live at most 7 days")


async def test_gcs_native_links_over_seven_days_are_a_400_too(
    gcs: GcsServer, aiohttp_client: Any
) -> None:
    account, _ = service_account()
    provider = {
        "kind": "gcs",
        "bucket": gcs.new_bucket(),
        "endpoint_url": gcs.endpoint,
        "credentials_json": json.dumps(account),
    }
    (one_status, one), (bulk_status, bulk) = await refused(
        aiohttp_client, long_lived(provider), "169h"
    )
    assert (one_status, one["error"]) == (400, "bad_request")
    assert one["data"] == "GCS signed URLs live at most 7 days (604800 seconds)"
    assert (bulk_status, bulk["error"]) == (400, "bad_request")
    assert bulk["data"].startswith("item 1 ('cam/clip.mp4'): GCS signed URLs")
