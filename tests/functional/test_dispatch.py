"""The public routes taken without the router (proxy.dispatch) answer exactly as the router
would: the same handlers, the same refusals, the same route names in the metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from proxy.app import create_app
from tests.support.proxyapp import Clock, Links, make_settings, settings_doc

DATA = bytes(range(256)) * 16


@pytest.fixture
async def client(tmp_path: Path, aiohttp_client: Any) -> Any:
    (tmp_path / "cam").mkdir()
    (tmp_path / "cam" / "clip.mp4").write_bytes(DATA)
    doc = settings_doc(
        {"disk": {"kind": "local", "root": str(tmp_path)}}, cam={"providers": ["disk"]}
    )
    return await aiohttp_client(create_app(make_settings(doc), clock=Clock()))


def _requests(metrics: str, route: str, method: str, status: int) -> float:
    line = f'proxy_requests_total{{method="{method}",route="{route}",status="{status}"}} '
    found = [row for row in metrics.splitlines() if row.startswith(line)]
    return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


async def test_the_fast_way_and_the_router_way_give_the_same_answers(client: Any) -> None:
    links = Links()
    path = links.path("cam", "disk", "cam/clip.mp4")
    spelled = path.replace("/signed?", "/%73igned?")  # the same route, not the exact raw path
    for target in (path, spelled):
        resp = await client.get(target, headers={"Range": "bytes=10-19"})
        assert resp.status == 206, target
        assert await resp.read() == DATA[10:20]
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Request-ID"]
    metrics = await (await client.get("/metrics")).text()
    assert _requests(metrics, "/api/storage/signed", "GET", 206) == 2


async def test_methods_the_routes_lack_still_get_405_with_allow(client: Any) -> None:
    path = Links().path("cam", "disk", "cam/clip.mp4")
    resp = await client.post(path)
    assert resp.status == 405
    assert "GET" in resp.headers["Allow"]
    assert (await resp.json())["error"] == "method_not_allowed"


async def test_validate_and_preflight_and_head_take_the_fast_way(client: Any) -> None:
    path = Links().path("cam", "disk", "cam/clip.mp4")
    report = await (await client.get(path.replace("/signed?", "/signed/validate?"))).json()
    assert report["valid"] is True
    head = await client.head(path)
    assert head.status == 200
    assert head.headers["Content-Length"] == str(len(DATA))
    preflight = await client.options(path)
    assert preflight.status == 204
    metrics = await (await client.get("/metrics")).text()
    assert _requests(metrics, "/api/storage/signed/validate", "GET", 200) == 1
    assert _requests(metrics, "/api/storage/signed", "HEAD", 200) == 1
    assert _requests(metrics, "/api/storage/signed", "OPTIONS", 204) == 1


async def test_token_routes_fast_and_slow(client: Any) -> None:
    links = Links()
    token = links.token("cam", "disk", folder="cam/")
    resp = await client.get(links.token_path(token, "cam/clip.mp4"), headers={"Range": "bytes=0-9"})
    assert resp.status == 206
    assert await resp.read() == DATA[:10]
    # A key with an encoded line feed: the router's `.+` does not match it, so neither route
    # serves it (404), exactly as before the fast way.
    resp = await client.get(links.token_path(token, "cam/clip.mp4").replace("clip", "cl%0Aip"))
    assert resp.status == 404
    # The validate route (no key) is the router's.
    report = await (await client.get(links.token_path(token, ""))).json()
    assert report["valid"] is True
    metrics = await (await client.get("/metrics")).text()
    assert _requests(metrics, "/api/storage/t/{token}/{key}", "GET", 206) == 1


async def test_a_request_with_expect_goes_the_routers_way(client: Any) -> None:
    path = Links().path("cam", "disk", "cam/clip.mp4")
    resp = await client.get(path, headers={"Expect": "100-continue"})
    assert resp.status == 200
    assert await resp.read() == DATA
