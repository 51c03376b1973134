"""Conditional fields as a client may really send them: empty, and on several lines.

aiohttp's client merges repeated header fields, so these requests go out as raw bytes, each
field line exactly as written, to a real server process.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.proxyapp import NOW, Links
from tests.support.rawhttp import Answer, http
from tests.support.serving import media_doc, proxy_process

BODY = os.urandom(1000)
LINK = Links().path("cam", "disk", "cam/clip.bin", NOW * 2)
PAST = "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.slow
async def test_empty_and_repeated_conditional_fields(tmp_path: Path) -> None:
    root = tmp_path / "media"
    (root / "cam").mkdir(parents=True)
    (root / "cam" / "clip.bin").write_bytes(BODY)
    with proxy_process(tmp_path, media_doc(root, access_log=False)) as p:

        async def get(*fields: tuple[str, str]) -> Answer:
            return await http(p.port, "GET", LINK, fields)

        plain = await get()
        assert (plain.status, plain.body) == (200, BODY)
        etag, modified = plain.headers["etag"], plain.headers["last-modified"]

        # An empty If-Match is present and names no tag: nothing matches, 412 (§13.1.1).
        # (Read as absent, it was a 200.)
        empty = await get(("If-Match", ""))
        assert empty.status == 412
        assert empty.json()["error"] == "precondition_failed"
        assert (await get(("If-Match", ""), ("If-Match", etag))).status == 200

        # Repeated list fields are one list (§5.2): a match on any line counts, not only
        # on the first.
        assert (await get(("If-Match", '"other"'), ("If-Match", etag))).status == 200
        assert (await get(("If-Match", '"other"'), ("If-Match", '"another"'))).status == 412
        not_modified = await get(("If-None-Match", '"other"'), ("If-None-Match", etag))
        assert (not_modified.status, not_modified.body) == (304, b"")
        assert not_modified.headers["etag"] == etag
        assert (await get(("If-None-Match", '"other"'), ("If-None-Match", '"x"'))).status == 200

        # A repeated date is invalid, so ignored (§13.1.3, §13.1.4): the whole 200, where
        # reading the first line gave 304 and 412.
        both = await get(("If-Modified-Since", modified), ("If-Modified-Since", modified))
        assert (both.status, both.body) == (200, BODY)
        assert (await get(("If-Modified-Since", modified))).status == 304
        past = await get(("If-Unmodified-Since", PAST), ("If-Unmodified-Since", PAST))
        assert (past.status, past.body) == (200, BODY)
        assert (await get(("If-Unmodified-Since", PAST))).status == 412

        # A repeated If-Range is invalid, so it does not match: the whole body, never a part
        # of what might be another version (the first line alone gave a 206).
        ranged = ("Range", "bytes=0-9")
        assert (await get(ranged, ("If-Range", etag))).status == 206
        twice = await get(ranged, ("If-Range", etag), ("If-Range", etag))
        assert (twice.status, twice.body) == (200, BODY)
        assert "content-range" not in twice.headers
