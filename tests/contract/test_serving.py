"""The serving contract of §2, run unchanged against every backend."""

from __future__ import annotations

import hashlib
import json
import os
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import quote

import pytest

from tests.contract.conftest import Served

DATA = bytes(range(256)) * 40  # 10240 bytes, every offset distinguishable
SIZE = len(DATA)


async def get(served: Served, key: str, method: str = "GET", **headers: str):
    return await served.client.request(method, served.path(key), headers=headers)


async def test_full_object_with_every_header(served: Served) -> None:
    key = served.put("clip.mp4", DATA)
    resp = await get(served, key)
    assert resp.status == 200
    assert await resp.read() == DATA
    h = resp.headers
    assert h["Content-Length"] == str(SIZE)
    assert h["Content-Type"] == "video/mp4"
    assert h["Accept-Ranges"] == "bytes"
    assert h["ETag"].startswith('"') or h["ETag"].startswith('W/"')
    assert parsedate_to_datetime(h["Last-Modified"]) is not None
    assert h["Cache-Control"] == "private, max-age=3600"
    assert h["Content-Disposition"] == "inline; filename=\"clip.mp4\"; filename*=UTF-8''clip.mp4"
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Access-Control-Allow-Origin"] == "*"
    exposed = {v.strip() for v in h["Access-Control-Expose-Headers"].split(",")}
    assert exposed == {"Content-Length", "Content-Range", "Accept-Ranges", "ETag", "Last-Modified"}
    assert "Content-Range" not in h


async def test_head_has_the_get_headers_and_no_body(served: Served) -> None:
    key = served.put("clip.mp4", DATA)
    got = await get(served, key)
    head = await get(served, key, "HEAD")
    assert head.status == 200
    assert await head.read() == b""
    for name in ("Content-Length", "Content-Type", "ETag", "Last-Modified", "Accept-Ranges"):
        assert head.headers[name] == got.headers[name]


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=0-1", 0, 1),  # Safari's probe: exactly two bytes
        ("bytes=100-199", 100, 199),
        ("bytes=10000-", 10000, SIZE - 1),
        ("bytes=-500", SIZE - 500, SIZE - 1),
        ("bytes=-99999", 0, SIZE - 1),  # suffix longer than the object
        ("bytes=5000-999999", 5000, SIZE - 1),  # end past the object
        ("bytes=10239-", SIZE - 1, SIZE - 1),
    ],
)
async def test_single_range_is_206(served: Served, range_header: str, start: int, end: int) -> None:
    key = served.put("r.bin", DATA)
    resp = await get(served, key, Range=range_header)
    assert resp.status == 206
    body = await resp.read()
    assert body == DATA[start : end + 1]
    assert resp.headers["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
    assert resp.headers["Content-Length"] == str(end - start + 1)


@pytest.mark.parametrize("range_header", ["bytes=10240-", "bytes=20000-30000", "bytes=-0"])
async def test_unsatisfiable_range_is_416(served: Served, range_header: str) -> None:
    key = served.put("r.bin", DATA)
    resp = await get(served, key, Range=range_header)
    assert resp.status == 416
    assert resp.headers["Content-Range"] == f"bytes */{SIZE}"
    assert (await resp.json())["error"] == "range_not_satisfiable"


@pytest.mark.parametrize(
    "range_header",
    [
        "bytes=0-1,5-6",  # several ranges
        "bytes=0-1, 100-",
        "bytes=5-1",  # last before first
        "bytes=abc",
        "bytes=--1",
        "bytes 0-1",
        "items=0-1",
        "bytes=0-1-2",
        "bytes=",
    ],
)
async def test_multi_or_malformed_range_is_ignored(served: Served, range_header: str) -> None:
    key = served.put("r.bin", DATA)
    resp = await get(served, key, Range=range_header)
    assert resp.status == 200
    assert await resp.read() == DATA
    assert "Content-Range" not in resp.headers


async def test_repeated_range_headers_are_ignored(served: Served) -> None:
    key = served.put("r.bin", DATA)
    resp = await served.client.get(
        served.path(key), headers=[("Range", "bytes=0-1"), ("Range", "bytes=2-3")]
    )
    assert resp.status == 200
    assert await resp.read() == DATA


async def test_if_none_match_both_ways(served: Served) -> None:
    key = served.put("c.bin", DATA)
    etag = (await get(served, key, "HEAD")).headers["ETag"]
    hit = await get(served, key, **{"If-None-Match": etag})
    assert hit.status == 304
    assert await hit.read() == b""
    assert hit.headers["ETag"] == etag
    assert hit.headers["Cache-Control"].startswith("private, max-age=")
    miss = await get(served, key, **{"If-None-Match": '"something-else"'})
    assert miss.status == 200
    assert await miss.read() == DATA


async def test_if_modified_since_both_ways(served: Served) -> None:
    key = served.put("c.bin", DATA)
    last_modified = (await get(served, key, "HEAD")).headers["Last-Modified"]
    hit = await get(served, key, **{"If-Modified-Since": last_modified})
    assert hit.status == 304
    earlier = parsedate_to_datetime(last_modified).timestamp() - 3600
    old = format_datetime(parsedate_to_datetime(last_modified).fromtimestamp(earlier), usegmt=False)
    miss = await get(served, key, **{"If-Modified-Since": old})
    assert miss.status == 200
    assert await miss.read() == DATA


async def test_if_range_match_and_mismatch(served: Served) -> None:
    key = served.put("c.bin", DATA)
    head = await get(served, key, "HEAD")
    match = await get(served, key, Range="bytes=0-9", **{"If-Range": head.headers["ETag"]})
    assert match.status == 206
    assert await match.read() == DATA[:10]
    by_date = await get(
        served, key, Range="bytes=0-9", **{"If-Range": head.headers["Last-Modified"]}
    )
    assert by_date.status == 206
    stale = await get(served, key, Range="bytes=0-9", **{"If-Range": '"stale"'})
    assert stale.status == 200
    assert await stale.read() == DATA


async def test_if_match_mismatch_is_412(served: Served) -> None:
    key = served.put("c.bin", DATA)
    resp = await get(served, key, **{"If-Match": '"not-it"'})
    assert resp.status == 412
    assert (await resp.json())["error"] == "precondition_failed"


async def test_empty_object(served: Served) -> None:
    key = served.put("empty.bin", b"")
    full = await get(served, key)
    assert full.status == 200
    assert full.headers["Content-Length"] == "0"
    assert await full.read() == b""
    assert (await get(served, key, Range="bytes=0-")).status == 416
    suffix = await get(served, key, Range="bytes=-5")
    assert suffix.status == 200
    assert await suffix.read() == b""


@pytest.mark.parametrize(
    "name",
    [
        "dir with space/file name.mp4",
        "plus+sign.mp4",
        "amp&ersand=eq.mp4",
        "per%cent%2Fenc.mp4",
        "ünïcode/ファイル.mp4",
        "a/b/c/d/e/f/g/deep.mp4",
        "quote\"and'apostrophe;semi.mp4",
    ],
)
async def test_odd_keys_round_trip(served: Served, name: str) -> None:
    body = hashlib.sha256(name.encode()).digest() * 10
    key = served.put(name, body)
    resp = await get(served, key)
    assert resp.status == 200
    assert await resp.read() == body
    base = name.rsplit("/", 1)[-1]
    assert resp.headers["Content-Disposition"].endswith("filename*=UTF-8''" + quote(base, safe=""))
    assert resp.headers["Content-Disposition"].isascii()


async def test_missing_object_is_404(served: Served) -> None:
    resp = await get(served, f"{served.prefix}nope.mp4")
    assert resp.status == 404
    assert await resp.json() == {"data": "object not found", "error": "not_found"}
    head = await get(served, f"{served.prefix}nope.mp4", "HEAD")
    assert head.status == 404


@pytest.mark.parametrize(
    ("name", "stored_type", "expected"),
    [
        ("a.webm", None, "video/webm"),
        ("a.jpg", None, "image/jpeg"),
        ("a.unknownext", None, "application/octet-stream"),
        ("noext", None, "application/octet-stream"),
    ],
)
async def test_content_type_guessed_from_extension(
    served: Served, name: str, stored_type: str | None, expected: str
) -> None:
    key = served.put(name, b"x", stored_type)
    resp = await get(served, key)
    assert resp.headers["Content-Type"] == expected


@pytest.mark.parametrize("name", ["page.html", "image.svg", "clip.mp4", "manifest.mpd"])
async def test_every_body_is_sandboxed(served: Served, name: str) -> None:
    key = served.put(name, b"<script>alert(1)</script>")
    resp = await get(served, key)
    assert resp.headers["Content-Security-Policy"] == "sandbox"


async def test_cache_control_never_outlives_the_link(served: Served) -> None:
    key = served.put("c.bin", DATA)
    resp = await served.client.get(served.path(key, expires=int(served.clock.now) + 42))
    assert resp.headers["Cache-Control"] == "private, max-age=42"


async def test_large_object_in_many_chunks(served: Served) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    key = served.put("big.bin", data)
    resp = await get(served, key)
    assert resp.status == 200
    digest = hashlib.sha256()
    async for chunk in resp.content.iter_any():
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    ranged = await get(served, key, Range="bytes=1000000-2999999")
    assert await ranged.read() == data[1000000:3000000]


async def test_validate_never_touches_the_backend(served: Served) -> None:
    # The object does not exist: validate still answers from the link alone.
    key = f"{served.prefix}not-there.mp4"
    resp = await served.client.get(served.path(key).replace("/signed?", "/signed/validate?"))
    assert resp.status == 200
    body = await resp.json()
    assert body["valid"] is True
    assert body["filename"] == key
    assert json.dumps(body)
