"""§7 timelines on local disk: issued, listed, indexed, served, refused and bounded.

The recordings are real: ffmpeg's fragmented MP4 (2 s fragments), one plain MP4 and one of
another device between them (tests/support/recordings.py).
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from proxy.handlers import timeline
from proxy.links.tokens import TOKEN_PATH, parse_token
from proxy.state import TIMELINE_ANSWERS, TIMELINES
from proxy.timeline.naming import Window
from tests.functional.test_issuing import Issuer
from tests.functional.test_issuing import issuer as issuer  # the fixture, shared
from tests.functional.test_token_issuing import SIGNER
from tests.support.proxyapp import Links
from tests.support.recordings import FPS, T0, Recording, make_set

FOLDER = "cam/rec/"
PLAYLIST_PREFIX = "https://media.example/api/storage/timeline/"


@pytest.fixture(scope="session")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Recording]]:
    folder = tmp_path_factory.mktemp("recordings")
    return folder, make_set(folder)


@pytest.fixture
def rec(issuer: Issuer, recordings: tuple[Path, list[Recording]]) -> list[Recording]:
    """The set in the issuer's disk provider at cam/rec/, beside things that are not
    recordings of that folder."""
    source, made = recordings
    target = Path(issuer.doc["providers"]["disk"]["root"]) / FOLDER
    shutil.copytree(source, target)
    (target / "notes.txt").write_text("not a recording")
    (target / "sub").mkdir()
    shutil.copy(source / made[0].name, target / "sub" / made[0].name)
    return made


async def _issue(issuer: Issuer, **fields: Any) -> Any:
    body = {"prefix": FOLDER, "start": T0, "end": T0 + 60, **fields}
    return await issuer.client.post(
        "/api/storage/timeline", data=json.dumps(body).encode(), headers=issuer.creds()
    )


async def _playlist_url(issuer: Issuer, **fields: Any) -> str:
    resp = await _issue(issuer, **fields)
    assert resp.status == 200, await resp.text()
    url = str((await resp.json())["data"])
    assert url.startswith(PLAYLIST_PREFIX), url
    assert url.endswith(".m3u8"), url
    return url


def _path(url: str) -> str:
    return urlsplit(url).path


def _entries(text: str) -> list[dict[str, Any]]:
    """The playlist's recordings: each its date, map and segments (duration, range, uri)."""
    lines = text.splitlines()
    assert lines[:3] == ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-PLAYLIST-TYPE:VOD"], lines[:5]
    assert lines[-1] == "#EXT-X-ENDLIST"
    recordings: list[dict[str, Any]] = []
    pending: dict[str, Any] = {}
    for line in lines:
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            recordings.append({"date": line.split(":", 1)[1], "segments": []})
        elif line.startswith("#EXT-X-MAP:"):
            m = re.fullmatch(r'#EXT-X-MAP:URI="([^"]+)",BYTERANGE="(\d+)@0"', line)
            assert m, line
            recordings[-1]["map"] = (m.group(1), int(m.group(2)))
        elif line.startswith("#EXTINF:"):
            pending = {"duration": float(line[8:].rstrip(","))}
        elif line.startswith("#EXT-X-BYTERANGE:"):
            size, offset = line.split(":", 1)[1].split("@")
            pending["range"] = (int(offset), int(size))
        elif line and not line.startswith("#"):
            recordings[-1]["segments"].append({**pending, "uri": line})
    assert text.count("#EXT-X-DISCONTINUITY\n") == max(0, len(recordings) - 1)
    return recordings


def _key(uri: str) -> str:
    rest = _path(uri).removeprefix(TOKEN_PATH + "/")
    return unquote(rest.split("/", 1)[1])


async def test_a_timeline_plays_each_fragment_of_the_selected_recordings(
    issuer: Issuer, rec: list[Recording]
) -> None:
    url = await _playlist_url(issuer, device="frontdoor")
    claims = parse_token(_path(url).rsplit("/", 1)[1].removesuffix(".m3u8"), SIGNER).claims
    assert claims.folder == FOLDER
    assert claims.timeline is not None
    assert (claims.timeline.start, claims.timeline.end) == (T0, T0 + 60)
    assert claims.timeline.device == "frontdoor"
    resp = await issuer.client.get(_path(url))
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("application/vnd.apple.mpegurl")
    assert resp.headers["X-Timeline-Skipped"] == "1"  # the plain MP4
    entries = _entries(await resp.text())
    played = [r for r in rec if r.device == "frontdoor" and r.fragmented]
    assert [e["date"] for e in entries] == [
        datetime.fromtimestamp(r.timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z") for r in played
    ]
    assert entries[0]["date"] == "2026-04-17T11:59:31.000Z"
    root = Path(issuer.doc["providers"]["disk"]["root"])
    for entry, recording in zip(entries, played, strict=True):
        data = (root / FOLDER / recording.name).read_bytes()
        map_uri, init_size = entry["map"]
        assert _key(map_uri) == FOLDER + recording.name
        assert data[4:8] == b"ftyp"
        assert data[init_size + 4 : init_size + 8] == b"moof"
        segments = entry["segments"]
        assert len(segments) == recording.seconds // 2
        assert sum(s["duration"] for s in segments) == pytest.approx(recording.seconds, abs=0.04)
        position = init_size
        for segment in segments:
            offset, size = segment["range"]
            assert offset == position  # contiguous: no byte of media left out
            position += size
            assert _key(segment["uri"]) == FOLDER + recording.name
            end = offset + size - 1
            got = await issuer.client.get(
                _path(segment["uri"]), headers={"Range": f"bytes={offset}-{end}"}
            )
            assert got.status == 206
            assert got.headers["Content-Range"] == f"bytes {offset}-{end}/{len(data)}"
            body = await got.read()
            assert body == data[offset : end + 1]
            assert body[4:8] == b"moof"
        assert data[position + 4 : position + 8] == b"mfra"  # the rest is ffmpeg's index


async def test_the_json_lists_the_same_recordings_for_a_ui(
    issuer: Issuer, rec: list[Recording]
) -> None:
    url = await _playlist_url(issuer)
    resp = await issuer.client.get(_path(url).removesuffix(".m3u8") + ".json")
    assert resp.status == 200
    assert resp.headers["X-Timeline-Skipped"] == "1"
    doc = await resp.json()
    assert (doc["start"], doc["end"], doc["device"], doc["skipped"]) == (T0, T0 + 60, None, 1)
    fragmented = [r for r in rec if r.fragmented]
    assert [r["key"] for r in doc["recordings"]] == [FOLDER + r.name for r in fragmented]
    for item, recording in zip(doc["recordings"], fragmented, strict=True):
        assert item["timestamp"] == recording.timestamp
        assert item["device"] == recording.device
        assert abs(item["duration"] - recording.seconds) <= 1 / FPS
        whole = await issuer.client.get(_path(item["url"]))
        assert whole.status == 200
        assert (
            len(await whole.read())
            == (Path(issuer.doc["providers"]["disk"]["root"]) / item["key"]).stat().st_size
        )


@pytest.mark.parametrize(
    ("start", "end", "device", "expected"),
    [
        (T0 + 5, T0 + 11, None, [T0 + 5, T0 + 10]),
        (T0 + 1, T0 + 10, None, [T0 + 5]),  # [start, end): the end second is out
        (T0, T0 + 60, "backyard", [T0 + 5]),
        (T0 + 21, T0 + 60, None, []),
        (T0, T0 + 60, "garage", []),
    ],
)
async def test_the_window_and_device_select(
    issuer: Issuer,
    rec: list[Recording],
    start: int,
    end: int,
    device: str | None,
    expected: list[int],
) -> None:
    fields: dict[str, Any] = {"start": start, "end": end}
    if device:
        fields["device"] = device
    url = await _playlist_url(issuer, **fields)
    doc = await (await issuer.client.get(_path(url).removesuffix(".m3u8") + ".json")).json()
    assert [r["timestamp"] for r in doc["recordings"]] == expected
    text = await (await issuer.client.get(_path(url))).text()
    assert len(_entries(text)) == len(expected)


async def test_an_empty_selection_is_a_playlist_without_segments(
    issuer: Issuer, rec: list[Recording]
) -> None:
    url = await _playlist_url(issuer, start=T0 - 100, end=T0 - 50)
    resp = await issuer.client.get(_path(url))
    assert resp.status == 200
    assert resp.headers["X-Timeline-Skipped"] == "0"
    text = await resp.text()
    assert _entries(text) == []
    assert "#EXTINF" not in text


async def test_indexes_are_built_once_per_version(issuer: Issuer, rec: list[Recording]) -> None:
    issuer.client.app[TIMELINE_ANSWERS].ttl = 0  # every request lists and indexes
    cache = issuer.client.app[TIMELINES]
    url = await _playlist_url(issuer)
    first = await (await issuer.client.get(_path(url))).text()
    misses = cache.misses
    assert misses == 5  # every selected recording, the plain one too (kept as unplayable)
    again = await (await issuer.client.get(_path(url))).text()
    assert again == first
    assert cache.misses == misses  # nothing read again
    # A recording written anew is a new version: indexed again, and only it.
    root = Path(issuer.doc["providers"]["disk"]["root"])
    path = root / FOLDER / rec[2].name
    data = path.read_bytes()
    path.write_bytes(data)
    await (await issuer.client.get(_path(url))).text()
    assert cache.misses == misses + 1
    scrape = await (await issuer.client.get("/metrics")).text()
    assert "proxy_timeline_index_builds_total 6.0" in scrape
    assert 'proxy_timeline_recordings_total{result="played"} 12.0' in scrape
    assert 'proxy_timeline_recordings_total{result="skipped"} 3.0' in scrape


async def test_head_gives_the_length_of_the_playlist(issuer: Issuer, rec: list[Recording]) -> None:
    url = await _playlist_url(issuer)
    got = await issuer.client.get(_path(url))
    text = await got.read()
    head = await issuer.client.head(_path(url))
    assert head.status == 200
    assert head.headers["Content-Length"] == str(len(text))
    assert head.headers["X-Timeline-Skipped"] == "1"
    assert await head.read() == b""


async def test_a_timeline_token_is_refused_as_a_file_link_and_a_folder_token_as_a_timeline(
    issuer: Issuer, rec: list[Recording]
) -> None:
    url = await _playlist_url(issuer)
    token = _path(url).rsplit("/", 1)[1].removesuffix(".m3u8")
    as_token_link = await issuer.client.get(f"{TOKEN_PATH}/{token}/{FOLDER}{rec[0].name}")
    assert as_token_link.status == 403
    assert (await as_token_link.json())["error"] == "out_of_scope"
    folder_token = Links().token("cam", "disk", expires=int(issuer.clock.now) + 60, folder=FOLDER)
    as_timeline = await issuer.client.get(f"/api/storage/timeline/{folder_token}.m3u8")
    assert as_timeline.status == 403
    assert (await as_timeline.json())["error"] == "out_of_scope"
    described = await (await issuer.client.get(f"{TOKEN_PATH}/{token}/")).json()
    assert described["valid"] is True
    assert described["scope"] == {"prefix": FOLDER}
    assert described["timeline"] == {"start": T0, "end": T0 + 60}
    other = await issuer.client.get(f"/api/storage/timeline/{token}.mp4")
    assert other.status == 404
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    bad = await issuer.client.get(f"/api/storage/timeline/{forged}.m3u8")
    assert bad.status == 403
    assert (await bad.json())["error"] == "invalid_signature"
    issuer.clock.now += 7200 + 1
    expired = await issuer.client.get(_path(url))
    assert expired.status == 403
    assert (await expired.json())["error"] == "expired"


@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        ({"start": None}, 400, "start"),
        ({"end": T0}, 400, "end"),
        ({"end": "soon"}, 400, "end"),
        ({"start": True}, 400, "start"),
        ({"device": "front_door"}, 400, "device"),
        ({"device": ""}, 400, "device"),
        ({"prefix": "cam/rec"}, 400, "ends with '/'"),
        ({"prefix": "other/"}, 403, "prefix"),
        ({"provider": "unbound"}, 401, "provider"),
        ({"uriExpiryTime": "3h"}, 400, "maximum"),
        ({"colour": "red"}, 400, "unknown field"),
    ],
)
async def test_bad_timeline_requests_are_refused(
    issuer: Issuer, fields: dict[str, Any], status: int, says: str
) -> None:
    body = {"prefix": FOLDER, "start": T0, "end": T0 + 60, **fields}
    body = {k: v for k, v in body.items() if v is not None}
    resp = await issuer.client.post(
        "/api/storage/timeline", data=json.dumps(body).encode(), headers=issuer.creds()
    )
    assert resp.status == status, await resp.text()
    assert says in (await resp.json())["data"]


async def test_issuing_needs_credentials_and_a_json_object(issuer: Issuer) -> None:
    body = json.dumps({"prefix": FOLDER, "start": T0, "end": T0 + 60}).encode()
    anonymous = await issuer.client.post("/api/storage/timeline", data=body)
    assert anonymous.status == 401
    for bad in (b"[1, 2]", b"{", b"\xff"):
        resp = await issuer.client.post("/api/storage/timeline", data=bad, headers=issuer.creds())
        assert resp.status == 400, bad
        assert (await resp.json())["error"] == "bad_request"


async def test_more_recordings_than_the_cap_is_a_clear_400(
    issuer: Issuer, rec: list[Recording], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = await _playlist_url(issuer)
    monkeypatch.setattr(timeline, "MAX_RECORDINGS", 3)
    resp = await issuer.client.get(_path(url))
    assert resp.status == 400
    doc = await resp.json()
    assert doc["error"] == "bad_request"
    assert "more than 3 recordings" in doc["data"]
    monkeypatch.setattr(timeline, "MAX_RECORDINGS", 1000)
    monkeypatch.setattr(timeline, "MAX_LISTED", 2)
    listed = await issuer.client.get(_path(url))
    assert listed.status == 400
    assert "more than 2 entries" in (await listed.json())["data"]


async def test_a_recording_cut_off_mid_fragment_plays_its_complete_fragments(
    issuer: Issuer, rec: list[Recording]
) -> None:
    """A recording still being written: the fragment whose media runs past the end is left
    out, the ones before it play."""
    root = Path(issuer.doc["providers"]["disk"]["root"])
    path = root / FOLDER / rec[2].name  # 6 s: three fragments
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 20_000])  # the mfra and part of the last mdat gone
    url = await _playlist_url(issuer, start=rec[2].timestamp, end=rec[2].timestamp + 1)
    entries = _entries(await (await issuer.client.get(_path(url))).text())
    assert [len(e["segments"]) for e in entries] == [2]


async def test_revocation_binding_and_prefix_hold_for_a_playlist(
    issuer: Issuer, rec: list[Recording]
) -> None:
    url = await _playlist_url(issuer)
    assert (await issuer.client.get(_path(url))).status == 200
    links = Links()
    expires = int(issuer.clock.now) + 60
    window = Window(T0, T0 + 60)
    unbound = links.token("cam", "unbound", expires=expires, folder=FOLDER, timeline=window)
    outside = links.token("cam", "disk", expires=expires, folder="other/", timeline=window)
    for token in (unbound, outside):
        resp = await issuer.client.get(f"/api/storage/timeline/{token}.m3u8")
        assert resp.status == 403
        assert (await resp.json())["error"] == "revoked"
    doc = json.loads(json.dumps(issuer.doc))
    doc["accounts"]["cam"]["enabled"] = False
    await issuer.reload(doc)
    revoked = await issuer.client.get(_path(url))
    assert revoked.status == 403
    assert (await revoked.json())["error"] == "revoked"


async def test_a_playlist_answers_cors_and_preflight_for_a_player_page(
    issuer: Issuer, rec: list[Recording]
) -> None:
    url = await _playlist_url(issuer)
    got = await issuer.client.get(_path(url), headers={"Origin": "https://player.example"})
    assert got.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Timeline-Skipped" in got.headers["Access-Control-Expose-Headers"]
    preflight = await issuer.client.options(
        _path(url),
        headers={"Origin": "https://player.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status == 204


async def test_list_pages_and_time_are_bounded(
    issuer: Issuer, rec: list[Recording], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = await _playlist_url(issuer)
    monkeypatch.setattr(timeline, "MAX_LIST_PAGES", 0)
    # A window whose bounds differ in digits lists the whole folder: no early stop.
    whole = await _playlist_url(issuer, start=999_999_999)
    paged = await issuer.client.get(_path(whole))
    assert paged.status == 400
    assert "more than 0 pages" in (await paged.json())["data"]
    monkeypatch.setattr(timeline, "MAX_LIST_PAGES", 100)
    monkeypatch.setattr(timeline, "DEADLINE", 0.0)
    late = await issuer.client.get(_path(url))
    assert late.status == 504
    assert (await late.json())["error"] == "backend_timeout"
    monkeypatch.setattr(timeline, "DEADLINE", 60.0)
    cache = issuer.client.app[TIMELINES]
    retry = await issuer.client.get(_path(url))
    assert retry.status == 200
    assert len(_entries(await retry.text())) == 4
    assert cache.misses <= 5  # the late request's builds, if any began, were not thrown away


async def test_a_recording_no_link_can_name_is_skipped_not_played(
    issuer: Issuer, rec: list[Recording]
) -> None:
    root = Path(issuer.doc["providers"]["disk"]["root"])
    odd = root / FOLDER / f"{T0 + 30}_a\\b_frontdoor_c.mp4"  # a backslash: §1 refuses the key
    shutil.copy(root / FOLDER / rec[0].name, odd)
    url = await _playlist_url(issuer, device="frontdoor")
    resp = await issuer.client.get(_path(url))
    assert resp.headers["X-Timeline-Skipped"] == "2"  # the plain MP4 and this one
    assert len(_entries(await resp.text())) == 3


async def test_more_segments_than_the_cap_is_a_clear_400(
    issuer: Issuer, rec: list[Recording], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = await _playlist_url(issuer)
    monkeypatch.setattr(timeline, "MAX_SEGMENTS", 5)
    resp = await issuer.client.get(_path(url))
    assert resp.status == 400
    assert "more than 5 segments" in (await resp.json())["data"]


async def test_a_playlist_is_answered_from_the_last_second_but_checked_every_time(
    issuer: Issuer, rec: list[Recording]
) -> None:
    """The micro-cache: within its second a request is not listed or indexed again, but its
    token and account are checked again, so a revocation holds at once."""
    answers = issuer.client.app[TIMELINE_ANSWERS]
    answers.ttl = 3600.0  # the test's clock is not the cache's: keep it from expiring
    url = await _playlist_url(issuer)
    answers.put(("x",), b"never kept", "", 0, 0.0)  # a second's answer, long gone
    assert answers.get(("x",), 3601.0) is None
    first = await (await issuer.client.get(_path(url))).read()
    scrape = await (await issuer.client.get("/metrics")).text()
    played = 'proxy_timeline_recordings_total{result="played"} 4.0'
    assert played in scrape
    # A new recording: not seen until the kept answer expires.
    root = Path(issuer.doc["providers"]["disk"]["root"])
    shutil.copy(root / FOLDER / rec[0].name, root / FOLDER / f"{T0 + 40}_a_frontdoor_b.mp4")
    again = await issuer.client.get(_path(url))
    assert await again.read() == first
    assert again.headers["X-Timeline-Skipped"] == "1"
    assert played in await (await issuer.client.get("/metrics")).text()  # nothing listed
    head = await issuer.client.head(_path(url))
    assert head.headers["Content-Length"] == str(len(first))
    answers.clear()
    fresh = await issuer.client.get(_path(url))
    assert len(_entries(await fresh.text())) == 5
    assert len(answers) == 1
    issuer.clock.now += 7200 + 1  # the link's expiry: refused, though its answer is kept
    expired = await issuer.client.get(_path(url))
    assert expired.status == 403
    assert len(answers) == 1
    issuer.clock.now -= 7200 + 1
    doc = json.loads(json.dumps(issuer.doc))
    doc["accounts"]["cam"]["enabled"] = False
    await issuer.reload(doc)
    assert len(answers) == 0  # a reload forgets every kept answer
    assert (await issuer.client.get(_path(url))).status == 403
