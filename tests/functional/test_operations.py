"""What operators see and bound: metrics, readiness, request ids, the stream cap, timeouts."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from proxy.app import create_app
from tests.conftest import MotoServer
from tests.support.procs import free_port
from tests.support.proxyapp import Clock, Links, make_settings, settings_doc
from tests.support.relay import TcpRelay

BIG = bytes(range(256)) * 4096 * 8  # 8 MiB


def samples(text: str) -> dict[str, float]:
    """Prometheus text format -> {'name{labels}': value}."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


@pytest.fixture
async def ops(tmp_path: Path, moto: MotoServer, aiohttp_client: Any) -> Any:
    (tmp_path / "cam").mkdir()
    (tmp_path / "cam" / "clip.mp4").write_bytes(b"0123456789" * 1000)
    (tmp_path / "cam" / "big.bin").write_bytes(BIG)
    bucket = moto.new_bucket()
    moto.client().put_object(Bucket=bucket, Key="cam/s3.mp4", Body=b"s3 bytes")
    relay = await TcpRelay("127.0.0.1", moto.port).start()
    providers = {
        "disk": {"kind": "local", "root": str(tmp_path)},
        # read_timeout is longer than backend_timeout: the latter must win.
        "s3": moto.provider(bucket, f"http://127.0.0.1:{relay.port}", retries=0, read_timeout=30),
        "dead": moto.provider(bucket, f"http://127.0.0.1:{free_port()}", retries=0),
    }
    doc = settings_doc(providers, cam={"providers": ["disk", "s3", "dead"]})
    doc["server"].update(max_streams=2, backend_timeout=1, check_interval=0.2)
    client = await aiohttp_client(create_app(make_settings(doc), clock=Clock()))
    client.relay = relay
    yield client
    await relay.close()


async def metric_samples(client: Any) -> dict[str, float]:
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    return samples(await resp.text())


async def test_counters_move_and_labels_stay_bounded(ops: Any) -> None:
    links = Links()
    good = links.path("cam", "disk", "cam/clip.mp4")
    expired = links.path("cam", "disk", "cam/clip.mp4", 1_000_000_000)
    before = await metric_samples(ops)
    key = 'proxy_requests_total{method="GET",route="/api/storage/signed",status="200"}'
    for _ in range(3):
        assert (await ops.get(good)).status == 200
    assert (await ops.get(expired)).status == 403
    assert (await ops.get(links.path("cam", "dead", "cam/x.mp4"))).status == 502
    assert (await ops.get("/api/storage/signed?a=1")).status == 400
    after = await metric_samples(ops)
    assert after[key] - before.get(key, 0) == 3
    assert after['proxy_link_refusals_total{reason="expired"}'] == 1
    assert after['proxy_link_refusals_total{reason="bad_request"}'] == 1
    assert after['proxy_backend_errors_total{error="backend_unavailable",provider="dead"}'] == 1
    sent = 'proxy_response_bytes_total{route="/api/storage/signed"}'
    assert after[sent] - before.get(sent, 0) >= 3 * 10000
    assert after['proxy_backend_request_seconds_count{operation="fetch",provider="disk"}'] >= 3
    # No label value names a file, an account, or a signature.
    text = await (await ops.get("/metrics")).text()
    signature = good.rsplit("s=", 1)[1]
    labels = " ".join(re.findall(r"\{[^}]*\}", text))
    for forbidden in ("clip.mp4", "cam/", signature, signature[:12], "x.mp4"):
        assert forbidden not in labels


@pytest.mark.parametrize(
    ("provider", "key", "data"),
    [("disk", "cam/clip.mp4", b"0123456789" * 1000), ("s3", "cam/s3.mp4", b"s3 bytes")],
)
async def test_backend_calls_per_request(ops: Any, provider: str, key: str, data: bytes) -> None:
    """A plain GET is one backend call; a body that does not fit the decision is replaced."""
    path = Links().path("cam", provider, key)

    async def calls(**headers: str) -> tuple[int, bytes, dict[str, float]]:
        before = await metric_samples(ops)
        method = "HEAD" if headers.pop("method", "GET") == "HEAD" else "GET"
        resp = await ops.request(method, path, headers=headers)
        body = await resp.read()
        after = await metric_samples(ops)
        counts = {}
        for operation in ("fetch", "stat", "open"):
            labels = f'operation="{operation}",provider="{provider}"'
            name = f"proxy_backend_request_seconds_count{{{labels}}}"
            counts[operation] = after.get(name, 0) - before.get(name, 0)
        return resp.status, body, counts

    status, body, counts = await calls(Range="bytes=2-5")
    assert (status, body, counts) == (206, data[2:6], {"fetch": 1, "stat": 0, "open": 0})
    status, body, counts = await calls()
    assert (status, body, counts) == (200, data, {"fetch": 1, "stat": 0, "open": 0})
    # The ranged body fetched first is not the answer when If-Range does not match.
    status, body, counts = await calls(Range="bytes=2-5", **{"If-Range": '"stale"'})
    assert (status, body, counts) == (200, data, {"fetch": 1, "stat": 0, "open": 1})
    # Unsatisfiable: the size for Content-Range comes from the metadata.
    status, _, counts = await calls(Range=f"bytes={len(data)}-")
    assert status == 416
    assert (counts["fetch"], counts["open"]) == (1, 0)
    status, _, counts = await calls(method="HEAD")
    assert (status, counts) == (200, {"fetch": 0, "stat": 1, "open": 0})
    # An answer that may be 304 asks for metadata first and opens only when needed.
    status, body, counts = await calls(**{"If-None-Match": '"other"'})
    assert (status, body, counts) == (200, data, {"fetch": 0, "stat": 1, "open": 1})


async def test_active_streams_gauge_and_the_stream_cap(ops: Any) -> None:
    big = str(ops.make_url(Links().path("cam", "disk", "cam/big.bin")))
    async with aiohttp.ClientSession() as session:
        first = await session.get(big)
        second = await session.get(big)
        await first.content.readexactly(1024)
        await second.content.readexactly(1024)
        assert (await metric_samples(ops))["proxy_active_streams"] == 2
        third = await ops.get(Links().path("cam", "disk", "cam/big.bin"))
        assert third.status == 503
        assert third.headers["Retry-After"] == "1"
        assert (await third.json())["error"] == "unavailable"
        # HEAD and validate send no body: the cap does not apply to them.
        assert (await ops.head(Links().path("cam", "disk", "cam/big.bin"))).status == 200
        first.close()
        second.close()
    for _ in range(100):
        if (await metric_samples(ops))["proxy_active_streams"] == 0:
            break
        await asyncio.sleep(0.02)
    assert (await metric_samples(ops))["proxy_active_streams"] == 0
    assert (await ops.get(Links().path("cam", "disk", "cam/clip.mp4"))).status == 200


async def test_backend_timeout_bounds_the_first_answer(ops: Any) -> None:
    ops.relay.stall_replies = True
    loop = asyncio.get_running_loop()
    start = loop.time()
    resp = await ops.get(Links().path("cam", "s3", "cam/s3.mp4"))
    assert resp.status == 504
    assert loop.time() - start < 5  # backend_timeout (1 s), not read_timeout (30 s)


async def test_request_ids_are_echoed_or_made(ops: Any) -> None:
    given = await ops.get("/healthz", headers={"X-Request-ID": "trace-123.abc"})
    assert given.headers["X-Request-ID"] == "trace-123.abc"
    made = await ops.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{24}", made.headers["X-Request-ID"])
    hostile = await ops.get("/api/storage/signed?a=1", headers={"X-Request-ID": "bad id\u00e9"})
    assert hostile.headers["X-Request-ID"] != "bad id\u00e9"
    assert re.fullmatch(r"[0-9a-f]{24}", hostile.headers["X-Request-ID"])
    assert hostile.headers["X-Request-ID"] != made.headers["X-Request-ID"]


def test_a_forked_worker_makes_request_ids_of_its_own() -> None:
    """`--workers` forks: each process draws its own prefix, so ids never collide."""
    from proxy.telemetry import _new_request_id

    parent = _new_request_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one id and leave at once
        os.write(write, _new_request_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 100).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert re.fullmatch(r"[0-9a-f]{24}", child)
    assert child[:16] != parent[:16]


async def test_readiness_names_the_provider_that_fails(ops: Any) -> None:
    for _ in range(100):
        resp = await ops.get("/readyz")
        body = await resp.json()
        if "*" not in body.get("providers", {}):
            break
        await asyncio.sleep(0.05)
    assert resp.status == 503
    assert set(body["providers"]) == {"dead"}
    assert body["providers"]["dead"] == "the storage backend is unreachable"
    assert (await ops.get("/healthz")).status == 200


async def test_readiness_is_ok_when_every_provider_answers(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    doc = settings_doc(
        {"disk": {"kind": "local", "root": str(tmp_path)}}, cam={"providers": ["disk"]}
    )
    doc["server"]["check_interval"] = 0.1
    client = await aiohttp_client(create_app(make_settings(doc), clock=Clock()))
    for _ in range(100):
        resp = await client.get("/readyz")
        if resp.status == 200:
            break
        await asyncio.sleep(0.05)
    assert resp.status == 200
    assert await resp.json() == {"status": "ready"}
