"""`python -m proxy check`: one real call per provider, against a moto that checks signatures."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support import toml
from tests.support.procs import free_port, moto_argv, started, stop, wait_http
from tests.support.proxyapp import KEY

ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


@pytest.fixture(scope="module")
def strict_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A moto server that authenticates every request after the three that create a user."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    log = tmp_path_factory.mktemp("strict-moto") / "moto.log"
    with started(moto_argv(port), f"{endpoint}/moto-api/", log, env):
        iam = boto3.client(
            "iam", endpoint_url=endpoint, region_name="us-east-1",
            aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap",
        )  # fmt: skip
        iam.create_user(UserName="proxy")
        iam.put_user_policy(
            UserName="proxy", PolicyName="all", PolicyDocument=json.dumps(ALLOW_ALL)
        )
        key = iam.create_access_key(UserName="proxy")["AccessKey"]
        creds = {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"], "endpoint": endpoint}
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1",
            aws_access_key_id=creds["id"], aws_secret_access_key=creds["secret"],
        )  # fmt: skip
        s3.create_bucket(Bucket="media-bucket")
        yield creds


def write_config(tmp_path: Path, creds: dict[str, str], *, bad: bool) -> Path:
    s3: dict[str, Any] = {
        "kind": "s3",
        "bucket": "media-bucket",
        "endpoint_url": creds["endpoint"],
        "access_key_id": creds["id"],
        "secret_access_key": "env:S3_SECRET",
        "retries": 0,
    }
    providers: dict[str, Any] = {"good": s3, "disk": {"kind": "local", "root": str(tmp_path)}}
    if bad:
        providers["bad"] = {**s3, "secret_access_key": "env:WRONG_SECRET"}
        providers["nobucket"] = {**s3, "bucket": "no-such-bucket"}
    doc = {
        "server": {"port": free_port()},
        "signing": {"key": KEY},
        "providers": providers,
        "accounts": {"cam": {"providers": ["good"]}},
    }
    path = tmp_path / "proxy.toml"
    path.write_text(toml.dumps(doc))
    return path


def env_for(creds: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "S3_SECRET": creds["secret"], "WRONG_SECRET": "not-the-secret-at-all"}


def test_check_reports_each_provider(tmp_path: Path, strict_moto: dict[str, str]) -> None:
    path = write_config(tmp_path, strict_moto, bad=True)
    result = subprocess.run(
        [sys.executable, "-m", "proxy", "check", "--config", str(path)],
        capture_output=True, text=True, env=env_for(strict_moto), timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    lines = sorted(result.stdout.strip().splitlines())
    assert lines == [
        "provider bad (s3): FAILED: the storage backend refused the proxy's credentials",
        "provider disk (local): ok",
        "provider good (s3): ok",
        "provider nobucket (s3): FAILED: the bucket does not exist",
    ]
    assert strict_moto["secret"] not in result.stdout + result.stderr
    assert "not-the-secret-at-all" not in result.stdout + result.stderr


def test_serve_check_refuses_to_start_with_a_bad_provider(
    tmp_path: Path, strict_moto: dict[str, str]
) -> None:
    path = write_config(tmp_path, strict_moto, bad=True)
    result = subprocess.run(
        [sys.executable, "-m", "proxy", "serve", "--check", "--config", str(path)],
        capture_output=True, text=True, env=env_for(strict_moto), timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "provider bad (s3): FAILED" in result.stdout


def test_serve_check_starts_when_all_are_good(tmp_path: Path, strict_moto: dict[str, str]) -> None:
    path = write_config(tmp_path, strict_moto, bad=False)
    port = int(tomllib.loads(path.read_text())["server"]["port"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "proxy", "serve", "--check", "--config", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env_for(strict_moto),
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc)
    finally:
        stop(proc)
        assert proc.stdout is not None
        out = proc.stdout.read().decode()
        proc.stdout.close()
    assert "provider good (s3): ok" in out


def test_check_covers_gcs_and_azure(tmp_path: Path, gcs: Any, azurite: Any) -> None:
    bucket = gcs.new_bucket()
    container = azurite.new_container()
    azure = {
        "kind": "azure",
        "container": container,
        "endpoint_url": azurite.endpoint,
        "account_name": azurite.account,
        "account_key": "env:AZURE_KEY",
        "retries": 0,
    }
    doc = {
        "signing": {"key": KEY},
        "providers": {
            "gcs-good": {"kind": "gcs", "bucket": bucket, "endpoint_url": gcs.endpoint},
            "gcs-nobucket": {
                "kind": "gcs",
                "bucket": "no-such-bucket",
                "endpoint_url": gcs.endpoint,
            },
            "az-good": azure,
            "az-badkey": {**azure, "account_key": "env:WRONG_KEY"},
            "az-nocontainer": {**azure, "container": "no-such-container"},
        },
    }
    path = tmp_path / "proxy.toml"
    path.write_text(toml.dumps(doc))
    wrong = base64.b64encode(b"w" * 64).decode()
    env = {**os.environ, "AZURE_KEY": azurite.key, "WRONG_KEY": wrong}
    result = subprocess.run(
        [sys.executable, "-m", "proxy", "check", "--config", str(path)],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert sorted(result.stdout.strip().splitlines()) == [
        "provider az-badkey (azure): FAILED: the storage backend refused the proxy's credentials",
        "provider az-good (azure): ok",
        "provider az-nocontainer (azure): FAILED: the container does not exist",
        "provider gcs-good (gcs): ok",
        "provider gcs-nobucket (gcs): FAILED: the bucket does not exist",
    ]
    assert azurite.key not in result.stdout + result.stderr
