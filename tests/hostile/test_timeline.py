"""A timeline's bounds under attack: a client that stops reading a long playlist is cut off
after ``server.client_timeout``; a playlist too long to send whole is chunked, never held."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from proxy.app import create_app
from proxy.handlers import timeline
from proxy.links.signing import Signer
from proxy.links.tokens import TokenClaims, make_token
from proxy.state import METRICS, TIMELINE_ANSWERS
from proxy.timeline.naming import Window
from tests.support.proxyapp import KEY, make_settings
from tests.support.recordings import T0, make_set
from tests.support.serving import media_doc

LINE = "#" + "x" * 1023 + "\n"  # a comment line: valid in a playlist, 1 KiB


@pytest.fixture
async def served(tmp_path: Path, aiohttp_client: Any) -> tuple[Any, str]:
    make_set(tmp_path / "media" / "cam" / "rec")
    doc = media_doc(tmp_path / "media", client_timeout=1)
    client = await aiohttp_client(create_app(make_settings(doc)))
    claims = TokenClaims(
        "cam", "disk", int(time.time()) + 600, folder="cam/rec/", timeline=Window(T0, T0 + 60)
    )
    return client, f"/api/storage/timeline/{make_token(claims, Signer(KEY.encode()))}.m3u8"


def _huge(recordings: Any) -> Iterator[str]:
    """64 MiB of playlist: far more than the socket buffers hold."""
    yield "#EXTM3U\n"
    for _ in range(1024):
        yield LINE * 64


async def test_a_playlist_longer_than_a_whole_body_is_chunked_and_equal(
    served: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, path = served
    client.app[TIMELINE_ANSWERS].ttl = 0  # no answer kept: each request renders
    whole = await client.get(path)
    body = await whole.read()
    assert whole.headers["Content-Length"] == str(len(body))
    monkeypatch.setattr(timeline, "WHOLE_BODY", 1000)
    chunked = await client.get(path)
    assert "Content-Length" not in chunked.headers
    assert chunked.headers["Transfer-Encoding"] == "chunked"
    assert await chunked.read() == body
    head = await client.head(path)
    assert head.headers["Content-Length"] == str(len(body))


async def test_a_client_that_stops_reading_a_playlist_is_cut_off(
    served: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, path = served
    monkeypatch.setattr(timeline, "playlist_chunks", _huge)
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        aborts = client.app[METRICS].stream_aborts.labels("client_timeout")
        deadline = time.monotonic() + 10
        while aborts.value < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)  # reading nothing: the server's writes back up
        assert aborts.value == 1
        # The connection is gone: what the buffers held, then the end, well short of 64 MiB.
        got = 0
        with contextlib.suppress(ConnectionError):
            while chunk := await asyncio.wait_for(reader.read(1 << 20), 10):
                got += len(chunk)
        assert got < 32 * 1024 * 1024, got
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
