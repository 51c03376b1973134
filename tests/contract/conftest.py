"""One fixture, every backend: the same test functions run against each.

Each backend is real: files on disk, or a moto S3 server over HTTP on loopback.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from aiohttp.test_utils import TestClient

from proxy.app import create_app
from tests.support.proxyapp import Clock, Links, make_settings, settings_doc

PROVIDER = "store"
ACCOUNT = "acct"


class Backend(Protocol):
    kind: str
    provider: dict[str, Any]

    def put(self, key: str, data: bytes, content_type: str | None = None) -> None: ...


@dataclass
class LocalBackend:
    root: Path
    kind: str = "local"

    @property
    def provider(self) -> dict[str, Any]:
        return {"kind": "local", "root": str(self.root)}

    def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@dataclass
class S3Backend:
    moto: Any
    bucket: str
    kind: str = "s3"

    @property
    def provider(self) -> dict[str, Any]:
        return self.moto.provider(self.bucket, retries=0)

    def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else {}
        self.moto.client().put_object(Bucket=self.bucket, Key=key, Body=data, **extra)


@dataclass
class GcsBackend:
    server: Any
    bucket: str
    kind: str = "gcs"

    @property
    def provider(self) -> dict[str, Any]:
        return {"kind": "gcs", "bucket": self.bucket, "endpoint_url": self.server.endpoint}

    def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self.server.put(self.bucket, key, data, content_type)


@dataclass
class AzureBackend:
    server: Any
    container: str
    kind: str = "azure"

    @property
    def provider(self) -> dict[str, Any]:
        return {
            "kind": "azure",
            "container": self.container,
            "endpoint_url": self.server.endpoint,
            "account_name": self.server.account,
            "account_key": self.server.key,
            "retries": 0,
        }

    def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self.server.put(self.container, key, data, content_type)


KINDS = ["local", "s3", "gcs", "azure"]


def make_backend(kind: str, request: pytest.FixtureRequest) -> Backend:
    if kind == "local":
        return LocalBackend(request.getfixturevalue("media_root"))
    if kind == "s3":
        moto = request.getfixturevalue("moto")
        return S3Backend(moto, moto.new_bucket())
    if kind == "gcs":
        gcs = request.getfixturevalue("gcs")
        return GcsBackend(gcs, gcs.new_bucket())
    azurite = request.getfixturevalue("azurite")
    return AzureBackend(azurite, azurite.new_container())


@pytest.fixture(scope="session", params=KINDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    return make_backend(request.param, request)


@dataclass
class Served:
    """A running app on one backend, with helpers to place objects and sign links."""

    client: TestClient[Any, Any]
    backend: Backend
    clock: Clock
    links: Links
    prefix: str

    def put(self, name: str, data: bytes, content_type: str | None = None) -> str:
        key = f"{self.prefix}{name}"
        self.backend.put(key, data, content_type)
        return key

    def path(self, key: str, expires: int | None = None) -> str:
        exp = expires if expires is not None else int(self.clock.now) + 3600
        return self.links.path(ACCOUNT, PROVIDER, key, exp)


@pytest.fixture
async def served(backend: Backend, aiohttp_client: Any) -> Served:
    clock = Clock()
    doc = settings_doc({PROVIDER: backend.provider}, **{ACCOUNT: {"providers": [PROVIDER]}})
    client = await aiohttp_client(create_app(make_settings(doc), clock=clock))
    return Served(client, backend, clock, Links(), f"{ACCOUNT}/{uuid.uuid4().hex[:8]}/")
