"""The Kerberos naming rule, the window, and the playlist's text: tables, pure."""

from __future__ import annotations

from array import array

import pytest

from proxy.timeline.index import FragmentIndex
from proxy.timeline.naming import RecordingName, Window, recording_name
from proxy.timeline.playlist import Recording, playlist_chunks, program_date_time, target_duration

F = "cam/rec/"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (F + "1776427171_1-1_frontdoor_402-263-805-680_801_29960.mp4", (1776427171, "frontdoor")),
        (F + "1776427171_1-1_frontdoor.MP4", (1776427171, "frontdoor")),
        (F + "1776427171_x.mp4", (1776427171, None)),  # fewer than three fields: no device
        (F + "1776427171.mp4", (1776427171, None)),
        (F + "1_a_b.mp4", (1, "b")),
        (F + "01776427171_a_b.mp4", None),  # a leading zero is no Unix second as written
        (F + "1776427171_a_b.mp4.part", None),
        (F + "1776427171_a_b.txt", None),
        (F + "sub/1776427171_a_b.mp4", None),  # not directly inside the folder
        (F + "x1776427171_a_b.mp4", None),
        (F + "١٧٧٦_a_b.mp4", None),  # digits, but not ASCII
        (F + "1234567890123_a_b.mp4", None),  # thirteen digits
        ("other/1776427171_a_b.mp4", None),
    ],
)
def test_recording_names(key: str, expected: tuple[int, str | None] | None) -> None:
    found = recording_name(key, F)
    if expected is None:
        assert found is None
    else:
        assert found == RecordingName(key, *expected)


def test_the_window_selects_start_inclusive_end_exclusive_and_the_device() -> None:
    window = Window(100, 200, "frontdoor")
    assert window.selects(RecordingName("k", 100, "frontdoor"))
    assert window.selects(RecordingName("k", 199, "frontdoor"))
    assert not window.selects(RecordingName("k", 200, "frontdoor"))
    assert not window.selects(RecordingName("k", 99, "frontdoor"))
    assert not window.selects(RecordingName("k", 150, "backyard"))
    assert not window.selects(RecordingName("k", 150, None))
    assert Window(100, 200).selects(RecordingName("k", 150, None))


@pytest.mark.parametrize(
    ("start", "end", "bounds"),
    [
        (1776427171, 1776430771, (F + "1776427171", F + "1776430771")),
        (999_999_990, 1_000_000_010, ("", None)),  # the digit count changes: list it all
    ],
)
def test_listing_bounds(start: int, end: int, bounds: tuple[str, str | None]) -> None:
    start_after, stop_at = Window(start, end).listing_bounds(F)
    assert (start_after, stop_at) == bounds
    if stop_at:
        # Every name of the window sorts inside the bounds, the end second's outside.
        first = F + f"{start}_a_b.mp4"
        last = F + f"{end - 1}_a_b.mp4"
        assert start_after < first <= last < stop_at <= F + f"{end}_a_b.mp4"
        assert F + f"{start - 1}_a_b.mp4" < start_after


def _recording(timestamp: int, durations: list[int], uri: str) -> Recording:
    offsets = [771 + 1000 * i for i in range(len(durations))]
    index = FragmentIndex(
        771, 12800, array("q", offsets), array("q", [1000] * len(durations)), array("q", durations)
    )
    return Recording(RecordingName(f"{F}{timestamp}_a_d.mp4", timestamp, "d"), index, uri)


def test_the_playlist_text() -> None:
    one = _recording(1776427171, [25600, 25600], "https://x/t/A/one.mp4")
    two = _recording(1776427181, [26112], "https://x/t/A/two.mp4")
    text = "".join(playlist_chunks([one, two]))
    assert text == (
        "#EXTM3U\n"
        "#EXT-X-VERSION:7\n"
        "#EXT-X-PLAYLIST-TYPE:VOD\n"
        "#EXT-X-TARGETDURATION:3\n"
        "#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-PROGRAM-DATE-TIME:2026-04-17T11:59:31.000Z\n"
        '#EXT-X-MAP:URI="https://x/t/A/one.mp4",BYTERANGE="771@0"\n'
        "#EXTINF:2.000000,\n#EXT-X-BYTERANGE:1000@771\nhttps://x/t/A/one.mp4\n"
        "#EXTINF:2.000000,\n#EXT-X-BYTERANGE:1000@1771\nhttps://x/t/A/one.mp4\n"
        "#EXT-X-DISCONTINUITY\n"
        "#EXT-X-PROGRAM-DATE-TIME:2026-04-17T11:59:41.000Z\n"
        '#EXT-X-MAP:URI="https://x/t/A/two.mp4",BYTERANGE="771@0"\n'
        "#EXTINF:2.040000,\n#EXT-X-BYTERANGE:1000@771\nhttps://x/t/A/two.mp4\n"
        "#EXT-X-ENDLIST\n"
    )
    assert target_duration([]) == 1
    assert "".join(playlist_chunks([])).endswith("#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-ENDLIST\n")
    assert program_date_time(0) == "1970-01-01T00:00:00.000Z"


def test_a_playlist_is_written_in_bounded_pieces_whatever_a_recording_holds() -> None:
    long_uri = "https://x/t/" + "A" * 3000 + "/one.mp4"
    big = _recording(1776427171, [25600] * 5000, long_uri)
    pieces = list(playlist_chunks([big]))
    assert len(pieces) > 100
    assert max(len(piece) for piece in pieces) < 2 * 64 * 1024  # about 64 KiB, never twice
    assert "".join(pieces).count("#EXTINF:") == 5000


def test_a_timeline_claim_is_read_strictly() -> None:
    import base64
    import json

    from proxy.errors import BadRequest
    from proxy.links.signing import Signer
    from proxy.links.tokens import parse_token
    from tests.support.proxyapp import KEY

    signer = Signer(KEY.encode())

    def token(tl: object) -> str:
        claims = {"a": "cam", "p": "disk", "d": "cam/", "e": 4102444800, "tl": tl}
        raw = json.dumps(claims, separators=(",", ":")).encode()
        payload = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return (
            f"{payload}.{signer.sign_message(b'vault-token-v1' + bytes([10]) + payload.encode())}"
        )

    good = parse_token(token({"start": 1, "end": 2, "dev": "frontdoor"}), signer).claims
    assert good.timeline == Window(1, 2, "frontdoor")
    for bad in (
        {"start": 1, "end": 2, "dev": None},
        {"start": 1, "end": 2, "dev": 7},
        {"start": 1, "end": 2, "dev": "a_b"},
        {"start": 2, "end": 2},
        {"start": 1},
        {"start": 1, "end": 2.5},
        {"start": 1, "end": 2, "x": 1},
        [1, 2],
    ):
        with pytest.raises(BadRequest):
            parse_token(token(bad), signer)
