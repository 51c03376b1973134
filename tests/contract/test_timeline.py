"""§7 timelines, run unchanged against every backend: listed, indexed, served by ranges."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from proxy.links.tokens import TOKEN_PATH
from proxy.state import TIMELINES
from proxy.timeline.naming import Window
from tests.contract.conftest import ACCOUNT, PROVIDER, Served
from tests.functional.test_timeline import _entries
from tests.support.recordings import T0, Recording, make_set


@pytest.fixture(scope="session")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Recording]]:
    folder = tmp_path_factory.mktemp("contract-recordings")
    return folder, make_set(folder)


async def test_a_timeline_lists_indexes_and_serves_on_every_backend(
    served: Served, recordings: tuple[Path, list[Recording]]
) -> None:
    source, made = recordings
    for recording in made:
        served.put("rec/" + recording.name, (source / recording.name).read_bytes(), "video/mp4")
    served.put("rec/notes.txt", b"not a recording")
    served.put("rec/sub/" + made[0].name, (source / made[0].name).read_bytes())
    folder = served.prefix + "rec/"
    token = served.links.token(
        ACCOUNT,
        PROVIDER,
        expires=int(served.clock.now) + 600,
        folder=folder,
        timeline=Window(T0, T0 + 60, "frontdoor"),
    )
    resp = await served.client.get(f"/api/storage/timeline/{token}.m3u8")
    assert resp.status == 200, await resp.text()
    assert resp.headers["X-Timeline-Skipped"] == "1"
    entries = _entries(await resp.text())
    played = [r for r in made if r.device == "frontdoor" and r.fragmented]
    assert len(entries) == len(played)
    for entry, recording in zip(entries, played, strict=True):
        data = (source / recording.name).read_bytes()
        uri, init_size = entry["map"]
        path = urlsplit(uri).path
        assert unquote(path.removeprefix(TOKEN_PATH + "/").split("/", 1)[1]) == (
            folder + recording.name
        )
        assert len(entry["segments"]) == recording.seconds // 2
        ranges = [(0, init_size)] + [s["range"] for s in entry["segments"]]
        for offset, size in ranges:
            end = offset + size - 1
            got = await served.client.get(path, headers={"Range": f"bytes={offset}-{end}"})
            assert got.status == 206
            assert got.headers["Content-Range"] == f"bytes {offset}-{end}/{len(data)}"
            assert await got.read() == data[offset : end + 1]
    cache = served.client.app[TIMELINES]
    misses = cache.misses
    again = await served.client.get(f"/api/storage/timeline/{token}.json")
    doc = await again.json()
    assert [r["key"] for r in doc["recordings"]] == [folder + r.name for r in played]
    assert cache.misses == misses  # the indexes came from the cache
