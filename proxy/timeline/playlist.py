"""The timeline's HLS playlist (RFC 8216, version 7) and JSON, from the recordings'
fragment indexes. Pure.

One recording is one discontinuity: its initialisation section (``EXT-X-MAP``
with a byte range), its wall-clock start (``EXT-X-PROGRAM-DATE-TIME``, from the
name), then one ``EXTINF`` + ``EXT-X-BYTERANGE`` per movie fragment, each URI a
§6 token link to the recording itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from proxy.links.verify import utc_iso
from proxy.timeline.index import FragmentIndex
from proxy.timeline.naming import RecordingName

_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Recording:
    name: RecordingName
    index: FragmentIndex
    uri: str  # its §6 token link


def program_date_time(seconds: int) -> str:
    return utc_iso(seconds).removesuffix("Z") + ".000Z"


def target_duration(recordings: Sequence[Recording]) -> int:
    """A whole number of seconds no segment's duration exceeds (RFC 8216 §4.3.3.1 allows
    the nearest-integer rounding; rounding up is also within the rule)."""
    longest = 0.0
    for recording in recordings:
        index = recording.index
        if len(index):
            longest = max(longest, max(index.durations) / index.timescale)
    return max(1, math.ceil(longest))


def playlist_chunks(recordings: Sequence[Recording]) -> Iterator[str]:
    """The playlist, in pieces of about 64 KiB: never more of it held at once, whatever the
    number of recordings or of fragments in one."""
    pieces = [
        "#EXTM3U\n"
        "#EXT-X-VERSION:7\n"
        "#EXT-X-PLAYLIST-TYPE:VOD\n"
        f"#EXT-X-TARGETDURATION:{target_duration(recordings)}\n"
        "#EXT-X-MEDIA-SEQUENCE:0\n"
    ]
    held = len(pieces[0])
    for number, recording in enumerate(recordings):
        for line in _recording_lines(recording, first=number == 0):
            pieces.append(line)
            held += len(line)
            if held >= _CHUNK:
                yield "".join(pieces)
                pieces, held = [], 0
    pieces.append("#EXT-X-ENDLIST\n")
    yield "".join(pieces)


def _recording_lines(recording: Recording, *, first: bool) -> Iterator[str]:
    index, uri = recording.index, recording.uri
    if not first:
        yield "#EXT-X-DISCONTINUITY\n"
    yield f"#EXT-X-PROGRAM-DATE-TIME:{program_date_time(recording.name.timestamp)}\n"
    yield f'#EXT-X-MAP:URI="{uri}",BYTERANGE="{index.init_size}@0"\n'
    segments = _segment_heads(index)
    if not segments:
        return
    after = uri + "\n"
    batch = max(1, _CHUNK // 2 // (len(segments[0]) + len(after)))
    for start in range(0, len(segments), batch):
        yield after.join(segments[start : start + batch]) + after


def _segment_heads(index: FragmentIndex) -> list[str]:
    """Each fragment's ``#EXTINF`` and ``#EXT-X-BYTERANGE`` lines, made once per index."""
    if not index.rendered and len(index):
        scale = index.timescale
        index.rendered.extend(
            f"#EXTINF:{duration / scale:.6f},\n#EXT-X-BYTERANGE:{size}@{offset}\n"
            for offset, size, duration in zip(
                index.offsets, index.sizes, index.durations, strict=True
            )
        )
    return index.rendered


def timeline_json(
    recordings: Sequence[Recording], skipped: int, start: int, end: int, device: str | None
) -> dict[str, object]:
    """What a UI needs to draw the timeline: each recording's key, time, length and link."""
    return {
        "start": start,
        "end": end,
        "device": device,
        "skipped": skipped,
        "recordings": [
            {
                "key": r.name.key,
                "timestamp": r.name.timestamp,
                "device": r.name.device,
                "duration": round(r.index.duration, 6),
                "url": r.uri,
            }
            for r in recordings
        ],
    }
