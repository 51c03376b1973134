"""Configuration: defaults, env: values, the VAULT_* overrides, and collected problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from proxy import config
from proxy.errors import ConfigError

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
