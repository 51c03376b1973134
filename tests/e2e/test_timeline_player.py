"""hls.js in Chromium plays a camera timeline (§7) through a real proxy process, and ffmpeg
reads it whole.

The recordings (tests/support/recordings.py) are ffmpeg's fragmented MP4: three of
``frontdoor`` (4 s, 6 s, 4 s) with a plain MP4 of the same camera between them (skipped) and
one of ``backyard`` (not selected). The timeline is 14 s long: recording 1 from 0 s,
recording 2 from 4 s, recording 3 from 10 s, each behind an ``EXT-X-DISCONTINUITY``. The
player starts, seeks to 11 s (into the third recording, across both discontinuities) and
plays to the end; every media request it made must have been answered 206 with the
``Content-Range`` it asked for and the file's own bytes.

Two origins: the recordings on local disk, and the same files in an S3 bucket (moto).
Every process (the proxy, Chromium, ffprobe) is stopped by its own PID; every wait is bounded.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

import pytest
from playwright.async_api import async_playwright

from proxy.links.signing import Signer
from proxy.links.tokens import TokenClaims, make_token
from proxy.timeline.naming import Window
from tests.conftest import MotoServer
from tests.e2e.test_clients import CHROMIUM_ARGS
from tests.e2e.test_players import (
    _descendants,
    assert_no_browser_left,
    exchanges_of,
    page_origin,
    waiter,
)
from tests.support.proxyapp import KEY
from tests.support.recordings import T0, Recording, count_frames, make_set
from tests.support.serving import media_doc, proxy_process

FOLDER = "cam/timeline/"
SEEK_TO = 11.0  # seconds: inside the third recording (10 s - 14 s)


@pytest.fixture(scope="session")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Recording]]:
    root = tmp_path_factory.mktemp("timeline-root")
    return root, make_set(root / FOLDER)


def _played(made: list[Recording]) -> list[Recording]:
    return [r for r in made if r.device == "frontdoor" and r.fragmented]


def _serve(
    tmp_path: Path, root: Path, provider: str, table: dict[str, Any]
) -> Iterator[tuple[str, str]]:
    """(base URL, playlist URL) of a proxy process serving the recordings via ``provider``."""
    doc = media_doc(root, check_interval=3600)
    doc["providers"] = {provider: table}
    doc["accounts"] = {"cam": {"providers": [provider]}}
    claims = TokenClaims(
        account="cam",
        provider=provider,
        expires=int(time.time()) + 3600,
        folder=FOLDER,
        timeline=Window(T0, T0 + 60, "frontdoor"),
    )
    token = make_token(claims, Signer(KEY.encode()))
    with proxy_process(tmp_path, doc) as process:
        yield process.base, f"{process.base}/api/storage/timeline/{token}.m3u8"


@pytest.fixture(scope="session", params=["disk", "s3"])
def timeline(
    request: pytest.FixtureRequest,
    recordings: tuple[Path, list[Recording]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str]]:
    root, _ = recordings
    tmp = tmp_path_factory.mktemp(f"timeline-{request.param}")
    if request.param == "disk":
        yield from _serve(tmp, root, "disk", {"kind": "local", "root": str(root)})
        return
    moto: MotoServer = request.getfixturevalue("moto")
    bucket = moto.new_bucket()
    s3 = moto.client()
    for path in (root / FOLDER).iterdir():
        s3.put_object(Bucket=bucket, Key=FOLDER + path.name, Body=path.read_bytes())
    yield from _serve(tmp, root, "s3", moto.provider(bucket))


async def test_hls_js_plays_the_timeline_seeks_across_discontinuities_and_ends(
    timeline: tuple[str, str], recordings: tuple[Path, list[Recording]]
) -> None:
    base, src = timeline
    root, made = recordings
    media_prefix = f"{base}/api/storage/t/"
    responses: list[Any] = []
    failed: list[tuple[str, str | None]] = []
    console: list[str] = []
    before = set(_descendants())
    async with page_origin() as pages, async_playwright() as pw:
        page_url = f"{pages}/players/hls.html?{urlencode({'src': src})}"
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            page.on("response", lambda r: responses.append(r) if r.url.startswith(base) else None)
            page.on(
                "requestfailed",
                lambda r: failed.append((r.url, r.failure)) if r.url.startswith(base) else None,
            )
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))

            wait = waiter(page, console)
            await page.goto(page_url)
            await wait("window.events.includes('loadedmetadata')")
            duration = await page.evaluate("v.duration")
            total = sum(r.seconds for r in _played(made))
            assert abs(duration - total) <= 0.25, (duration, total)
            await page.evaluate("v.play()")
            await wait("v.currentTime > 0.2")
            await page.evaluate(f"v.currentTime = {SEEK_TO}")
            await wait("window.events.includes('seeked')")
            await wait(f"v.currentTime > {SEEK_TO + 0.5}")
            await wait("window.events.includes('ended')", 60_000)
            result = await page.evaluate(
                "({events, t: v.currentTime, serious: window.serious(),"
                " frames: v.getVideoPlaybackQuality().totalVideoFrames})"
            )
            exchanges = await exchanges_of(responses, lambda url: url)
        finally:
            await browser.close()
    await assert_no_browser_left(before)

    assert not result["serious"], (result, console[-20:])
    assert result["t"] >= total - 0.3, result
    assert result["frames"] > 0, result
    media = [x for x in exchanges if x.url.startswith(media_prefix)]
    assert media, exchanges
    names = set()
    for x in media:
        url, asked, status, headers, body = x.url, x.request_range, x.status, x.headers, x.body
        key = unquote(url[len(media_prefix) :].split("/", 1)[1])
        names.add(key.rsplit("/", 1)[1])
        data = (root / key).read_bytes()
        m = re.fullmatch(r"bytes=(\d+)-(\d+)", asked or "")
        assert m, (url, asked)  # every media request is a byte range of a recording
        start, end = int(m.group(1)), int(m.group(2))
        assert status == 206, (url, asked, status)
        assert headers["content-range"] == f"bytes {start}-{end}/{len(data)}", headers
        assert headers.get("access-control-allow-origin") == "*", headers
        if body is not None:
            assert body == data[start : end + 1], (url, asked)
    assert not [f for f in failed if f[1] != "net::ERR_ABORTED"], failed
    # It played into the third recording: its fragments were fetched, the last one among them.
    assert (
        {r.name for r in _played(made)} >= names >= {_played(made)[0].name, _played(made)[2].name}
    )
    print(  # shown with -s: what the player did
        f"{src.split('/')[2]}: {len(media)} ranged media responses over {len(names)} recordings, "
        f"frames shown {result['frames']}, cancelled loads {len(failed)}"
    )
    playlist = [x for x in exchanges if "/api/storage/timeline/" in x.url]
    assert playlist, exchanges
    assert playlist[0].status == 200
    assert playlist[0].headers["x-timeline-skipped"] == "1"


async def test_ffprobe_reads_every_packet_of_the_timeline(
    timeline: tuple[str, str], recordings: tuple[Path, list[Recording]]
) -> None:
    """Every video sample of the three recordings, through the playlist's byte ranges.

    (Decoded frames are fewer in ffmpeg 5.1: its HLS demuxer keeps one MP4 demuxer across
    EXT-X-DISCONTINUITY and drops the first fragment after each decode time that starts over.
    Each recording on its own decodes whole: tests/functional/test_cli.py.)"""
    _, src = timeline
    _, made = recordings
    assert count_frames(src, packets=True) == sum(r.frames for r in _played(made))
