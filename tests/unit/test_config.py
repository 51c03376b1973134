"""Configuration: defaults, env: values, the VAULT_* overrides, and collected problems."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from proxy import config, sealing
from proxy.accounts import by_access_key, hash_secret
from proxy.errors import ConfigError, InvalidSignature
from proxy.links.signing import Signer
from proxy.links.tokens import TokenClaims, make_token, parse_token

KEY = "k" * 32


def doc(tmp_path: Path, **signing: Any) -> dict[str, Any]:
    return {
        "signing": {"key": KEY, **signing},
        "providers": {
            "disk": {"kind": "local", "root": str(tmp_path)},
            "s3": {"kind": "s3", "bucket": "media", "endpoint_url": "http://127.0.0.1:9"},
        },
        "accounts": {"cam": {"providers": ["disk", "s3"]}},
    }


def test_defaults(tmp_path: Path) -> None:
    s = config.parse(doc(tmp_path), "t", {})
    assert s.server.public_url == "http://127.0.0.1:8085"
    assert s.server.cors_allow_origins == ("*",)
    assert s.signing.default_expiry == 86400
    assert s.signing.max_expiry == 7 * 86400
    assert s.signing.key == KEY.encode()
    cam = s.accounts["cam"]
    assert cam.prefix == "cam/"
    assert cam.default_provider == "disk"
    assert cam.enabled
    s3 = s.providers["s3"]
    assert isinstance(s3, config.S3Provider)
    assert s3.addressing_style == "path"  # an endpoint_url means MinIO-style paths
    assert s3.read_timeout == 30.0


def test_env_values_and_vault_overrides(tmp_path: Path) -> None:
    d = doc(tmp_path, key="env:MY_KEY", default_expiry="2h")
    d["server"] = {"host": "0.0.0.0", "port": 9000}
    d["providers"]["s3"]["secret_access_key"] = "env:S3_SECRET"
    d["providers"]["s3"]["access_key_id"] = "AK"
    environ = {
        "MY_KEY": "m" * 40,
        "S3_SECRET": "shh",
        "VAULT_PUBLIC_URL": "https://media.example/",
        "DEFAULT_URI_EXPIRY_TIME": "30m",
    }
    s = config.parse(d, "t", environ)
    assert s.signing.key == b"m" * 40
    assert s.server.public_url == "https://media.example"
    assert s.signing.default_expiry == 1800
    s3 = s.providers["s3"]
    assert isinstance(s3, config.S3Provider)
    assert s3.secret_access_key == "shh"
    assert "shh" not in repr(s)
    assert KEY not in repr(s)
    environ2 = {**environ, "VAULT_URL_SIGNING_KEY": "v" * 32}
    assert config.parse(d, "t", environ2).signing.key == b"v" * 32
    bare = {"MY_KEY": "m" * 40, "S3_SECRET": "shh"}
    assert config.parse(d, "t", bare).server.public_url == "http://0.0.0.0:9000"


@pytest.mark.parametrize(
    ("mutate", "environ", "problem"),
    [
        (lambda d: d["signing"].update(default_expiry="200h"), {}, "signing.default_expiry"),
        (lambda d: d["signing"].update(max_expiry=0), {}, "signing.max_expiry"),
        (lambda d: d["accounts"]["cam"].update(max_expiry="999h"), {}, "accounts.cam.max_expiry"),
        (lambda d: d["accounts"]["cam"].update(prefix="/abs"), {}, "accounts.cam.prefix"),
        # "cam" would also cover "camera/...": a prefix is a folder or the whole provider.
        (lambda d: d["accounts"]["cam"].update(prefix="cam"), {}, "accounts.cam.prefix"),
        (
            lambda d: d.update(server={"trusted_proxies": ["10.0.0.0/33"]}),
            {},
            "server.trusted_proxies[0]",
        ),
        (
            lambda d: d.update(server={"forwarded_header": "X-Real-IP"}),
            {},
            "server.forwarded_header",
        ),
        (lambda d: d.update(server={"max_head_bytes": 8192}), {}, "server.max_head_bytes"),
        (lambda d: d.update(server={"header_timeout": "0s"}), {}, "server.header_timeout"),
        (lambda d: d["accounts"]["cam"].update(providers=[]), {}, "accounts.cam.providers"),
        (lambda d: d["accounts"]["cam"].update(enabled="yes"), {}, "accounts.cam.enabled"),
        (lambda d: d["providers"]["s3"].update(access_key_id="AK"), {}, "providers.s3"),
        (lambda d: d["providers"]["s3"].update(read_timeout="0s"), {}, "providers.s3.read_timeout"),
        (
            lambda d: d["providers"]["s3"].update(read_buffer_bytes=1024),
            {},
            "providers.s3.read_buffer_bytes",
        ),
        (
            lambda d: d["providers"]["s3"].update(endpoint_url="ftp://x"),
            {},
            "providers.s3.endpoint_url",
        ),
        (
            lambda d: d["providers"]["s3"].update(addressing_style="odd"),
            {},
            "providers.s3.addressing_style",
        ),
        (lambda d: d["providers"]["disk"].update(root="relative"), {}, "providers.disk.root"),
        (lambda d: d.update(server={"public_url": "media.example"}), {}, "server.public_url"),
        (lambda d: d.update(server={"public_url": "http://[x"}), {}, "server.public_url"),
        (
            lambda d: d["providers"]["s3"].update(endpoint_url="http://[x"),
            {},
            "providers.s3.endpoint_url",
        ),
        (lambda d: d.update(extra={}), {}, "extra"),
        (lambda d: None, {"VAULT_PUBLIC_URL": "nope"}, "VAULT_PUBLIC_URL"),
        (lambda d: None, {"VAULT_SIGNING": "maybe"}, "VAULT_SIGNING"),
        (lambda d: None, {"DEFAULT_URI_EXPIRY_TIME": "-5"}, "DEFAULT_URI_EXPIRY_TIME"),
    ],
)
def test_problems_name_their_key(
    tmp_path: Path, mutate: Any, environ: dict[str, str], problem: str
) -> None:
    d = doc(tmp_path)
    mutate(d)
    with pytest.raises(ConfigError) as info:
        config.parse(d, "file.toml", environ)
    assert problem in [key for key, _ in info.value.problems]
    assert str(info.value).startswith("bad configuration in file.toml: ")
    assert "\n" not in str(info.value)


def test_problems_never_echo_secret_values(tmp_path: Path) -> None:
    d = doc(tmp_path, key="short-secret-value")
    d["signing"]["previous_keys"] = ["another-short-secret"]
    with pytest.raises(ConfigError) as info:
        config.parse(d, "file.toml", {})
    assert "short-secret-value" not in str(info.value)
    assert "another-short-secret" not in str(info.value)


def test_timeouts_take_env_values_and_durations(tmp_path: Path) -> None:
    d = doc(tmp_path)
    d["providers"]["s3"]["read_timeout"] = "env:READ_TIMEOUT"
    d["providers"]["s3"]["connect_timeout"] = "1500ms"
    d["server"] = {"client_timeout": 12}
    s = config.parse(d, "t", {"READ_TIMEOUT": "45s"})
    s3 = s.providers["s3"]
    assert isinstance(s3, config.S3Provider)
    assert s3.read_timeout == 45.0
    assert s3.connect_timeout == 1.5
    assert s.server.client_timeout == 12.0
    assert config.parse(d, "t", {"READ_TIMEOUT": "7"}).providers["s3"].read_timeout == 7.0


def test_links_cannot_be_made_to_outlive_ten_years(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"signing\.max_expiry: must be at most ten years"):
        config.parse(doc(tmp_path, max_expiry="100000h"), "t", {})


@pytest.mark.parametrize("region", ["us east 1", "US-EAST-1", "", "eu_west"])
def test_s3_regions_are_checked_at_load(tmp_path: Path, region: str) -> None:
    d = doc(tmp_path)
    d["providers"]["s3"]["region"] = region
    with pytest.raises(ConfigError, match=r"providers\.s3\.region"):
        config.parse(d, "t", {})


OLD = "o" * 40
OLDER = "p" * 40
HASH = hash_secret("a secret", n=16)


def test_named_signing_keys_reach_the_signer(tmp_path: Path) -> None:
    d = doc(tmp_path, key_id="2026-06", previous_keys=[{"id": "2025-12", "key": OLD}, OLDER])
    s = config.parse(d, "t", {})
    assert s.signing.key_id == "2026-06"
    assert [(old.id, old.key) for old in s.signing.previous_keys] == [
        ("2025-12", OLD.encode()),
        (None, OLDER.encode()),  # a plain string: unnamed, as before
    ]
    assert OLD not in repr(s)
    signer = s.signing.signer()
    assert signer.key_id == "2026-06"
    claims = TokenClaims("cam", "disk", 1_900_000_000, file="cam/x.mp4")
    by_old = make_token(replace(claims, key_id="2025-12"), Signer(OLD.encode()))
    assert parse_token(by_old, signer).claims.key_id == "2025-12"
    by_older = make_token(replace(claims, key_id="2025-06"), Signer(OLDER.encode()))
    with pytest.raises(InvalidSignature):  # its key is configured, but under no id
        parse_token(by_older, signer)
    assert config.parse(doc(tmp_path), "t", {}).signing.signer().key_id is None
    # VAULT_URL_SIGNING_KEY_ID names the key VAULT_URL_SIGNING_KEY sets; empty: unnamed.
    named = {"VAULT_URL_SIGNING_KEY": "v" * 32, "VAULT_URL_SIGNING_KEY_ID": "2026-07"}
    assert config.parse(d, "t", named).signing.signer().key_id == "2026-07"
    unnamed = {"VAULT_URL_SIGNING_KEY_ID": ""}
    assert config.parse(d, "t", unnamed).signing.key_id is None


PREVIOUS = "signing.previous_keys"


@pytest.mark.parametrize(
    ("signing", "environ", "problem"),
    [
        ({"key_id": "no spaces"}, {}, "signing.key_id"),
        ({"key_id": "k" * 33}, {}, "signing.key_id"),
        ({}, {"VAULT_URL_SIGNING_KEY_ID": "bad/id"}, "VAULT_URL_SIGNING_KEY_ID"),
        ({"previous_keys": [{"id": "a", "key": "short-secret-value"}]}, {}, f"{PREVIOUS}[0].key"),
        ({"previous_keys": [{"id": "a"}]}, {}, f"{PREVIOUS}[0].key"),
        ({"previous_keys": [{"key": OLD}, {"id": "ü", "key": OLDER}]}, {}, f"{PREVIOUS}[1].id"),
        ({"key_id": "k1", "previous_keys": [{"id": "k1", "key": OLD}]}, {}, f"{PREVIOUS}[0].id"),
        (
            {"previous_keys": [{"id": "o", "key": OLD}, {"id": "o", "key": OLDER}]},
            {},
            f"{PREVIOUS}[1].id",
        ),
        ({"previous_keys": [{"id": "o", "key": OLD, "kid": "x"}]}, {}, f"{PREVIOUS}[0].kid"),
        ({"previous_keys": [{"id": "o", "key": "env:UNSET_KEY"}]}, {}, f"{PREVIOUS}[0].key"),
        ({"previous_keys": [OLD, 3]}, {}, f"{PREVIOUS}[1]"),
        ({"previous_keys": OLD}, {}, PREVIOUS),
    ],
)
def test_named_key_problems_name_their_key(
    tmp_path: Path, signing: dict[str, Any], environ: dict[str, str], problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        config.parse(doc(tmp_path, **signing), "file.toml", environ)
    assert problem in [key for key, _ in info.value.problems], info.value.problems
    assert "short-secret-value" not in str(info.value)


def test_a_sealed_key_in_a_table_opens_for_that_key_only(tmp_path: Path) -> None:
    master = {"PROXY_MASTER_KEY": "m" * 40}
    sealed = sealing.seal(OLD, "signing.previous_keys.key", master["PROXY_MASTER_KEY"])
    d = doc(tmp_path, previous_keys=[OLDER, {"id": "o", "key": sealed}])
    assert config.parse(d, "t", master).signing.previous_keys[1].key == OLD.encode()
    # The same value sealed for the id beside it, or for the plain list items, does not open.
    for field in ("signing.previous_keys.id", "signing.previous_keys"):
        other = sealing.seal(OLD, field, master["PROXY_MASTER_KEY"])
        d = doc(tmp_path, previous_keys=[OLDER, {"id": "o", "key": other}])
        with pytest.raises(ConfigError) as info:
            config.parse(d, "t", master)
        assert [key for key, _ in info.value.problems] == ["signing.previous_keys[1].key"]


def credentials_doc(tmp_path: Path, *credentials: dict[str, Any], **cam: Any) -> dict[str, Any]:
    d = doc(tmp_path)
    d["accounts"]["cam"].update(cam, credentials=list(credentials))
    d["accounts"]["b"] = {"providers": ["disk"], "access_key": "AKB", "secret_hash": HASH}
    return d


def test_an_account_has_several_credentials_beside_its_own_pair(tmp_path: Path) -> None:
    d = credentials_doc(
        tmp_path,
        {"name": "recorder", "access_key": "AKREC", "secret_hash": HASH},
        {"name": "portal.v2", "access_key": "AKPORTAL", "secret_hash": HASH, "enabled": False},
        access_key="AKCAM",
        secret_hash=HASH,
    )
    s = config.parse(d, "t", {})
    cam = s.accounts["cam"]
    assert [(c.name, c.access_key, c.enabled) for c in cam.credentials] == [
        ("default", "AKCAM", True),  # the account's own access_key / secret_hash
        ("recorder", "AKREC", True),
        ("portal.v2", "AKPORTAL", False),
    ]
    assert HASH not in repr(cam)
    keys = by_access_key(s.accounts)
    assert keys["AKREC"] == (cam, cam.credentials[1])
    assert keys["AKB"][0].name == "b"
    assert keys["AKB"][1].name == "default"
    only_tables = credentials_doc(
        tmp_path, {"name": "nvr", "access_key": "AKNVR", "secret_hash": HASH}
    )
    assert [c.name for c in config.parse(only_tables, "t", {}).accounts["cam"].credentials] == [
        "nvr"
    ]
    assert config.parse(doc(tmp_path), "t", {}).accounts["cam"].credentials == ()  # links only


def cred(name: str = "nvr", access_key: str = "AKNVR", **more: Any) -> dict[str, Any]:
    return {"name": name, "access_key": access_key, "secret_hash": HASH, **more}


CAM = "accounts.cam.credentials"
OWN_PAIR = {"access_key": "AKCAM", "secret_hash": HASH}


@pytest.mark.parametrize(
    ("credentials", "cam", "problem"),
    [
        ([{"access_key": "AKNVR", "secret_hash": HASH}], {}, f"{CAM}[0].name"),
        ([cred("a name with spaces")], {}, f"{CAM}[0].name"),
        ([cred("n" * 65)], {}, f"{CAM}[0].name"),
        ([cred("nvr", "AK1"), cred("nvr", "AK2")], {}, f"{CAM}[1].name"),
        ([cred("default")], OWN_PAIR, f"{CAM}[0].name"),  # the own pair's name
        ([cred(secret_hash="scrypt$1$2")], {}, f"{CAM}[0].secret_hash"),
        ([{"name": "nvr", "secret_hash": HASH}], {}, f"{CAM}[0].access_key"),
        ([cred(access_key="AK\x00")], {}, f"{CAM}[0].access_key"),
        ([cred(secret="shh")], {}, f"{CAM}[0].secret"),
        ([cred(enabled="no")], {}, f"{CAM}[0].enabled"),
        ([cred(access_key="AKB")], {}, "accounts.b.access_key"),  # the later one is named
        ([cred("one", "AKSAME"), cred("two", "AKSAME")], {}, f"{CAM}[1].access_key"),
        ([cred("nvr", "AKCAM")], OWN_PAIR, f"{CAM}[0].access_key"),
        (["AKNVR"], {}, f"{CAM}[0]"),
    ],
)
def test_credential_problems_name_their_key(
    tmp_path: Path, credentials: list[Any], cam: dict[str, Any], problem: str
) -> None:
    d = credentials_doc(tmp_path, *credentials, **cam)
    with pytest.raises(ConfigError) as info:
        config.parse(d, "file.toml", {})
    assert problem in [key for key, _ in info.value.problems], info.value.problems


def test_access_keys_are_unique_across_accounts_and_credentials(tmp_path: Path) -> None:
    d = credentials_doc(tmp_path, access_key="AKB", secret_hash=HASH)  # b comes later
    with pytest.raises(ConfigError) as info:
        config.parse(d, "file.toml", {})
    assert info.value.problems == [
        ("accounts.b.access_key", "also used by 'cam' (credential 'default')")
    ]
    # [accounts.cam.credentials] (one table, not [[...]]) is a mistake worth naming.
    d = doc(tmp_path)
    d["accounts"]["cam"]["credentials"] = cred()
    with pytest.raises(ConfigError, match=r"accounts\.cam\.credentials: must be a list of tables"):
        config.parse(d, "file.toml", {})
