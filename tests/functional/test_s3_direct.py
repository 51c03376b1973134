"""The S3 data path: pooled aiohttp GETs on URLs botocore presigned, botocore when in doubt."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yarl

from proxy.app import create_app
from proxy.state import LIVE
from tests.conftest import MotoServer
from tests.support.procs import free_port, nginx_argv, started
from tests.support.proxyapp import Clock, Links, make_settings, settings_doc
from tests.support.relay import TcpRelay

DATA = bytes(range(256)) * 4096  # 1 MiB


@dataclass
class S3Rig:
    client: Any
    relay: TcpRelay
    bucket: str


@pytest.fixture
async def rig(moto: MotoServer, aiohttp_client: Any) -> AsyncIterator[S3Rig]:
    bucket = moto.new_bucket()
    moto.client().put_object(Bucket=bucket, Key="cam/clip.mp4", Body=DATA)
    relay = await TcpRelay("127.0.0.1", moto.port).start()
    providers = {
        "s3": moto.provider(bucket, f"http://127.0.0.1:{relay.port}", retries=0),
        "nobucket": moto.provider("no-such-bucket-here", retries=0),
    }
    client = await ready_client(aiohttp_client, providers)
    yield S3Rig(client, relay, bucket)
    await relay.close()


async def test_seeks_share_one_pooled_connection(tmp_path: Path, aiohttp_client: Any) -> None:
    """Against an origin that keeps connections alive (nginx; moto closes every one)."""
    (tmp_path / "www" / "media" / "cam").mkdir(parents=True)
    (tmp_path / "www" / "media" / "cam" / "clip.mp4").write_bytes(DATA)
    port = free_port()
    argv = nginx_argv(tmp_path, tmp_path / "www", port)
    with started(argv, f"http://127.0.0.1:{port}/", tmp_path / "nginx.log"):
        relay = await TcpRelay("127.0.0.1", port).start()
        try:
            s3 = {"kind": "s3", "bucket": "media", "endpoint_url": f"http://127.0.0.1:{relay.port}"}
            s3 |= {"access_key_id": "origin", "secret_access_key": "origin", "retries": 0}
            client = await ready_client(aiohttp_client, {"s3": s3})
            relay.accepted = 0
            path = Links().path("cam", "s3", "cam/clip.mp4")
            for start in range(0, 20 * 4096, 4096):
                resp = await client.get(path, headers={"Range": f"bytes={start}-{start + 1023}"})
                assert resp.status == 206
                assert await resp.read() == DATA[start : start + 1024]
            assert await (await client.get(path)).read() == DATA
            # HEADs (link checkers) and conditional GETs ask for metadata over the same pool:
            # a one-byte ranged GET, not botocore's HEAD on a connection of its own.
            for _ in range(5):
                head = await client.head(path)
                assert head.status == 200
                assert head.headers["Content-Length"] == str(len(DATA))
            etag = head.headers["ETag"]
            cached = await client.get(path, headers={"If-None-Match": etag})
            assert cached.status == 304
            # One connection, kept alive: no per-seek handshake, none left half-read.
            assert relay.accepted == 1
            methods = [
                line.split()[0]
                for line in (tmp_path / "requests.log").read_text().split("\n")
                if line
            ]
            assert "HEAD" not in methods, methods
            assert methods.count("GET") >= 20 + 1 + 5 + 1  # and the start-up check's listing
        finally:
            await relay.close()


async def test_a_key_with_reserved_characters_goes_out_exactly_as_signed(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    """S3 checks the signature over the encoded path: it must reach the wire byte for byte."""
    name = "a (1)!'*,;=$+@.mp4"
    (tmp_path / "www" / "media" / "cam").mkdir(parents=True)
    (tmp_path / "www" / "media" / "cam" / name).write_bytes(DATA)
    port = free_port()
    with started(
        nginx_argv(tmp_path, tmp_path / "www", port),
        f"http://127.0.0.1:{port}/",
        tmp_path / "nginx.log",
    ):
        s3 = {"kind": "s3", "bucket": "media", "endpoint_url": f"http://127.0.0.1:{port}"}
        s3 |= {"access_key_id": "origin", "secret_access_key": "origin", "retries": 0}
        client = await ready_client(aiohttp_client, {"s3": s3})
        resp = await client.get(
            Links().path("cam", "s3", f"cam/{name}"), headers={"Range": "bytes=0-9"}
        )
        assert resp.status == 206
        assert await resp.read() == DATA[:10]
        direct = client.app[LIVE].current.storages["s3"]._direct
        [(signed, _)] = direct._urls.values()
        on_the_wire = (tmp_path / "requests.log").read_text().splitlines()
        assert "GET " + str(signed).split(str(port), 1)[1] in on_the_wire


async def ready_client(aiohttp_client: Any, providers: dict[str, Any]) -> Any:
    """A test client whose one start-up readiness round is over (its calls are not counted)."""
    doc = settings_doc(providers, cam={"providers": list(providers)})
    doc["server"]["check_interval"] = 3600
    client = await aiohttp_client(create_app(make_settings(doc), clock=Clock()))
    for _ in range(200):
        if "*" not in (await (await client.get("/readyz")).json()).get("providers", {}):
            return client
        await asyncio.sleep(0.05)
    raise AssertionError("the start-up readiness round never finished")


async def test_a_missing_key_is_404_and_a_missing_bucket_a_backend_error(rig: S3Rig) -> None:
    links = Links()
    missing = await rig.client.get(links.path("cam", "s3", "cam/none.mp4"))
    assert missing.status == 404
    assert (await missing.json())["error"] == "not_found"
    nobucket = await rig.client.get(links.path("cam", "nobucket", "cam/clip.mp4"))
    assert nobucket.status == 502
    assert await nobucket.json() == {"data": "the bucket does not exist", "error": "backend_error"}


async def test_when_the_direct_get_cannot_answer_botocore_does(rig: S3Rig) -> None:
    """A URL that no longer works (here: a closed port) costs a retry through botocore."""
    direct = rig.client.app[LIVE].current.storages["s3"]._direct
    await rig.client.get(Links().path("cam", "s3", "cam/clip.mp4"))  # the URL is now cached
    [(key, (url, until))] = direct._urls.items()
    dead = yarl.URL(f"http://127.0.0.1:{free_port()}/{str(url).split('/', 3)[3]}", encoded=True)
    direct._urls[key] = (dead, until)
    resp = await rig.client.get(
        Links().path("cam", "s3", "cam/clip.mp4"), headers={"Range": "bytes=10-19"}
    )
    assert resp.status == 206
    assert await resp.read() == DATA[10:20]
    assert direct._urls[key][0] == dead  # a refused connection says nothing about the URL
