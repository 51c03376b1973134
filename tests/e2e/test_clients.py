"""The proxy's real users: a browser's <video>, ffprobe/ffmpeg, and link checkers."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import async_playwright

from tests.e2e.conftest import DURATION, Proxy, metric, run
from tests.support.procs import free_port

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]

PAGE = """<!doctype html><meta charset="utf-8"><title>player</title>
<video id="v" src="{src}" crossorigin="anonymous" muted playsinline preload="auto"></video>
<script>
  const v = document.getElementById("v");
  window.events = [];
  for (const e of ["loadedmetadata", "seeked", "ended", "error"]) {{
    v.addEventListener(e, () => window.events.push(e));
  }}
</script>
"""


async def page_server(html: str) -> tuple[web.AppRunner, str]:
    """The page lives on another origin than the proxy, so CORS is exercised."""
    app = web.Application()

    async def index(_: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app.router.add_get("/", index)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/"


@pytest.mark.parametrize("kind", ["mp4", "webm"])
async def test_chromium_plays_seeks_and_ends(
    proxy: Proxy, media: dict[str, Path], kind: str
) -> None:
    src = proxy.url(f"cam/clip.{kind}")
    size = media[kind].stat().st_size
    # A backend slower than the whole file: the player must use ranges to reach the
    # index at the end and the places it seeks to, as it would over a real network.
    proxy.relay.rate = 1_000_000
    runner, page_url = await page_server(PAGE.format(src=src))
    exchanges: list[tuple[dict[str, str], int, dict[str, str]]] = []
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            try:
                page = await browser.new_page()
                pending: list[Any] = []

                def on_response(response: Any) -> None:
                    if "/api/storage/signed" in response.url:
                        pending.append(response)

                page.on("response", on_response)
                await page.goto(page_url)
                await page.wait_for_function(
                    "window.events.includes('loadedmetadata')", timeout=30_000
                )
                duration = await page.evaluate("v.duration")
                assert abs(duration - DURATION) < 0.5
                await page.evaluate("v.play()")
                # Seek to the middle, then near the end, and play to the end.
                await page.evaluate("v.currentTime = v.duration / 2")
                await page.wait_for_function("window.events.includes('seeked')", timeout=30_000)
                await page.wait_for_function(
                    f"v.currentTime > {DURATION / 2 + 0.3}", timeout=30_000
                )
                await page.evaluate("v.currentTime = v.duration - 1.5")
                await page.wait_for_function(
                    "window.events.includes('ended') || v.currentTime >= v.duration - 0.2",
                    timeout=30_000,
                )
                events = await page.evaluate("window.events")
                assert "error" not in events, await page.evaluate("v.error && v.error.message")
                for response in pending:
                    exchanges.append(
                        (
                            await response.request.all_headers(),
                            response.status,
                            await response.all_headers(),
                        )
                    )
            finally:
                await browser.close()
    finally:
        await runner.cleanup()

    assert exchanges, "the browser fetched nothing through the proxy"
    for request_headers, status, headers in exchanges:
        wanted = request_headers.get("range")
        assert wanted, "a media element always asks for a range"
        start = int(re.fullmatch(r"bytes=(\d+)-(\d*)", wanted).group(1))  # type: ignore[union-attr]
        assert status == 206, (wanted, status)
        assert re.fullmatch(rf"bytes {start}-\d+/{size}", headers["content-range"]), headers
        end = int(headers["content-range"].split("-")[1].split("/")[0])
        assert int(headers["content-length"]) == end - start + 1
        assert headers["access-control-allow-origin"] == "*"
    assert len({h[0]["range"] for h in exchanges}) >= 2, "seeking should have asked for new ranges"


async def test_safari_probe_gets_exactly_two_bytes(proxy: Proxy, media: dict[str, Path]) -> None:
    url = proxy.url("cam/clip.mp4")
    rc, out, err = await run("curl", "-sS", "-D", "-", "-H", "Range: bytes=0-1", url)
    assert rc == 0, err
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 206")
    assert f"content-range: bytes 0-1/{media['mp4'].stat().st_size}".encode() in head.lower()
    assert body == media["mp4"].read_bytes()[:2]


async def test_ffprobe_reads_duration_and_streams(proxy: Proxy) -> None:
    rc, out, err = await run(
        "ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name,width,height",
        "-of", "json", proxy.url("cam/clip.mp4"),
    )  # fmt: skip
    assert rc == 0, err.decode()[-500:]
    info = json.loads(out)
    assert abs(float(info["format"]["duration"]) - DURATION) < 0.5
    assert info["streams"][0] == {"codec_name": "h264", "width": 320, "height": 240}


@pytest.mark.parametrize("kind", ["mp4", "webm"])
async def test_ffmpeg_seeks_into_the_middle_and_leaks_nothing(proxy: Proxy, kind: str) -> None:
    rc, _, err = await run(
        "ffmpeg", "-v", "error", "-ss", str(DURATION // 2), "-i", proxy.url(f"cam/clip.{kind}"),
        "-frames:v", "10", "-f", "null", "-",
    )  # fmt: skip
    assert rc == 0, err.decode()[-500:]
    statuses = [json.loads(line)["status"] for line in proxy.access_lines() if "/signed?" in line]
    assert 206 in statuses or 200 in statuses
    # ffmpeg opens ranges and drops connections: every stream and backend read must end.
    for _ in range(100):
        if await metric(proxy.base, "proxy_active_streams") == 0:
            break
        await asyncio.sleep(0.05)
    assert await metric(proxy.base, "proxy_active_streams") == 0
    assert await proxy.relay.wait_no_stream_open(timeout=5)


async def test_curl_head_reports_a_live_link_without_the_body(
    proxy: Proxy, media: dict[str, Path]
) -> None:
    before = await metric(proxy.base, 'proxy_response_bytes_total{route="/api/storage/signed"}')
    relayed = proxy.relay.bytes_down
    rc, out, _ = await run("curl", "-sS", "-I", "-f", proxy.url("cam/clip.mp4"))
    assert rc == 0
    text = out.decode().lower()
    assert text.startswith("http/1.1 200")
    assert f"content-length: {media['mp4'].stat().st_size}" in text
    assert "content-type: video/mp4" in text
    assert "accept-ranges: bytes" in text
    after = await metric(proxy.base, 'proxy_response_bytes_total{route="/api/storage/signed"}')
    assert after == before  # no body went out
    assert proxy.relay.bytes_down - relayed < 16 * 1024  # and none came in: metadata only


async def test_wget_spider_reports_a_live_link(proxy: Proxy, media: dict[str, Path]) -> None:
    before = await metric(proxy.base, 'proxy_response_bytes_total{route="/api/storage/signed"}')
    rc, _, err = await run("wget", "--spider", "-S", "-q", proxy.url("cam/clip.webm"))
    assert rc == 0, err.decode()
    headers = err.decode().lower()
    assert "200 ok" in headers
    assert f"content-length: {media['webm'].stat().st_size}" in headers
    assert "content-type: video/webm" in headers
    assert (
        await metric(proxy.base, 'proxy_response_bytes_total{route="/api/storage/signed"}')
        == before
    )
    methods = [json.loads(line)["method"] for line in proxy.access_lines() if "/signed?" in line]
    assert methods
    assert set(methods) == {"HEAD"}


@pytest.mark.parametrize("how", ["expired", "tampered"])
async def test_link_checkers_report_dead_links(proxy: Proxy, how: str) -> None:
    url = proxy.url("cam/clip.mp4", expires=1_000_000_000 if how == "expired" else 4_000_000_000)
    if how == "tampered":
        url = url[:-1] + ("A" if url[-1] != "A" else "B")
    contacted = proxy.relay.accepted
    rc, out, _ = await run("curl", "-sS", "-I", "-f", url)
    assert rc == 22  # curl: HTTP error
    assert out.decode().startswith("HTTP/1.1 403")
    rc, _, err = await run("wget", "--spider", "-S", "-q", url)
    assert rc == 8  # wget: the server answered with an error
    assert "403 forbidden" in err.decode().lower()
    assert proxy.relay.accepted == contacted  # refused links never reach the backend
