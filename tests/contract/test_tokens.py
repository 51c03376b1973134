"""§6 token links, run unchanged against every backend: a folder token serves a package."""

from __future__ import annotations

import hashlib

from tests.contract.conftest import ACCOUNT, PROVIDER, Served

PLAYLIST = b'#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:2,\nseg 1.m4s\n'
SEGMENT = bytes(range(256)) * 300  # 76,800 bytes: above the small-body size, streamed


def _folder_token(served: Served, folder: str) -> str:
    return served.links.token(ACCOUNT, PROVIDER, expires=int(served.clock.now) + 600, folder=folder)


async def test_a_folder_token_serves_a_package_with_ranges_and_conditionals(
    served: Served,
) -> None:
    folder = served.prefix + "hls/"
    served.put("hls/index.m3u8", PLAYLIST, "application/vnd.apple.mpegurl")
    served.put("hls/seg 1.m4s", SEGMENT)
    token = _folder_token(served, folder)
    playlist = await served.client.get(served.links.token_path(token, folder + "index.m3u8"))
    assert playlist.status == 200
    assert await playlist.read() == PLAYLIST
    assert playlist.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert playlist.headers["Cache-Control"] == "private, max-age=600"
    segment = served.links.token_path(token, folder + "seg 1.m4s")
    whole = await served.client.get(segment)
    assert whole.status == 200
    assert hashlib.sha256(await whole.read()).digest() == hashlib.sha256(SEGMENT).digest()
    ranged = await served.client.get(segment, headers={"Range": "bytes=1000-69999"})
    assert ranged.status == 206
    assert ranged.headers["Content-Range"] == f"bytes 1000-69999/{len(SEGMENT)}"
    assert await ranged.read() == SEGMENT[1000:70000]
    head = await served.client.head(segment)
    assert head.status == 200
    assert head.headers["Content-Length"] == str(len(SEGMENT))
    etag = whole.headers["ETag"]
    not_modified = await served.client.get(segment, headers={"If-None-Match": etag})
    assert not_modified.status == 304
    missing = await served.client.get(served.links.token_path(token, folder + "seg 2.m4s"))
    assert missing.status == 404


async def test_a_folder_token_never_serves_outside_its_folder(served: Served) -> None:
    served.put("hls/index.m3u8", PLAYLIST)
    served.put("secret.mp4", b"not in the folder")
    token = _folder_token(served, served.prefix + "hls/")
    resp = await served.client.get(served.links.token_path(token, served.prefix + "secret.mp4"))
    assert resp.status == 403
    assert (await resp.json())["error"] == "out_of_scope"
