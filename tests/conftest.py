"""Session fixtures: real backends on loopback, started here and stopped by PID."""

from __future__ import annotations

import base64
import json
import os
import secrets
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest

from tests.support.procs import azurite_argv, fake_gcs_argv, free_port, moto_argv, started

TEST_KEY = "test-signing-key-0123456789abcdef0123456789"


@dataclass
class MotoServer:
    endpoint: str
    port: int

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def new_bucket(self) -> str:
        name = f"b-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def provider(self, bucket: str, endpoint: str | None = None, **extra: Any) -> dict[str, Any]:
        """A provider table for ``bucket``, reached at ``endpoint`` (a relay) or directly."""
        return {
            "kind": "s3",
            "bucket": bucket,
            "endpoint_url": endpoint or self.endpoint,
            "access_key_id": "testing",
            "secret_access_key": "testing",
            **extra,
        }


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with started(moto_argv(port), f"{endpoint}/moto-api/", log):
        yield MotoServer(endpoint, port)


@pytest.fixture(scope="session")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@dataclass
class GcsServer:
    endpoint: str
    port: int

    def new_bucket(self) -> str:
        name = f"b-{uuid.uuid4().hex[:16]}"
        body = json.dumps({"name": name}).encode()
        request = urllib.request.Request(
            f"{self.endpoint}/storage/v1/b", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10):
            return name

    def put(self, bucket: str, key: str, data: bytes, content_type: str | None = None) -> None:
        name = quote(key, safe="")
        url = f"{self.endpoint}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name}"
        headers = {"Content-Type": content_type or "application/octet-stream"}
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=60):
            pass


@pytest.fixture(scope="session")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsServer]:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("gcs") / "fake-gcs.log"
    with started(fake_gcs_argv(port), f"{endpoint}/storage/v1/b", log):
        yield GcsServer(endpoint, port)


@dataclass
class AzuriteServer:
    port: int
    account: str
    key: str = field(repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.account}"

    def service(self) -> Any:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient(
            self.endpoint, credential={"account_name": self.account, "account_key": self.key}
        )

    def new_container(self) -> str:
        name = f"c-{uuid.uuid4().hex[:16]}"
        self.service().create_container(name)
        return name

    def put(self, container: str, key: str, data: bytes, content_type: str | None = None) -> None:
        from azure.storage.blob import ContentSettings

        blob = self.service().get_blob_client(container, key)
        settings = ContentSettings(content_type=content_type) if content_type else None
        blob.upload_blob(data, overwrite=True, content_settings=settings)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteServer]:
    port = free_port()
    # A fresh account and key per run: no key lives in a file.
    account = "acct" + secrets.token_hex(4)
    key = base64.b64encode(secrets.token_bytes(64)).decode()
    env = {**os.environ, "AZURITE_ACCOUNTS": f"{account}:{key}"}
    log = tmp_path_factory.mktemp("azurite") / "azurite.log"
    with started(azurite_argv(port), f"http://127.0.0.1:{port}/", log, env):
        yield AzuriteServer(port, account, key)
