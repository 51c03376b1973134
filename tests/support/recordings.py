"""Camera recordings as a Kerberos agent writes them, made with Debian's ffmpeg.

Fragmented MP4 (``-movflags frag_keyframe+empty_moov+default_base_moof``), H.264, 320x180,
25 fps, a keyframe every 2 s exactly (so one movie fragment per 2 s), named
``{unix}_{...}_{device}_{...}.mp4``. The set for the timeline tests (``SET``): three
``frontdoor`` recordings a few seconds apart, one plain (non-fragmented) MP4 of
``frontdoor`` between them, and one of another device (``backyard``). Each is made once per
source length and copied; every ffmpeg and ffprobe run has a timeout.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.packages import TIMEOUT, _ffmpeg

FPS = 25
T0 = 1776427171  # the first recording's second (2026-04-17T11:59:31Z)


@dataclass(frozen=True)
class Recording:
    name: str  # the file name: {unix}_{...}_{device}_{...}.mp4
    timestamp: int
    device: str
    seconds: int
    fragmented: bool = True

    @property
    def frames(self) -> int:
        return self.seconds * FPS


# (offset from T0, device, seconds, fragmented)
SET = (
    (0, "frontdoor", 4, True),
    (5, "backyard", 4, True),
    (10, "frontdoor", 6, True),
    (15, "frontdoor", 4, False),
    (20, "frontdoor", 4, True),
)


def kerberos_name(timestamp: int, device: str, seconds: int) -> str:
    return f"{timestamp}_6-967003_{device}_200-200-400-400_{seconds * FPS}_769.mp4"


def encode(path: Path, seconds: int, *, fragmented: bool = True, start: int = 0) -> None:
    """``seconds`` of ``testsrc2`` (from ``start`` s, so recordings differ), as one file."""
    movflags = ["-movflags", "frag_keyframe+empty_moov+default_base_moof"] if fragmented else []
    _ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size=320x180:rate={FPS}:duration={start + seconds}",
        "-ss", str(start), "-t", str(seconds),
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-g", str(2 * FPS), "-keyint_min", str(2 * FPS), "-sc_threshold", "0",
        *movflags, str(path),
    )  # fmt: skip


def make_set(folder: Path, t0: int = T0) -> list[Recording]:
    """``SET`` in ``folder`` (made if missing), in time order."""
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for offset, device, seconds, fragmented in SET:
        recording = Recording(
            kerberos_name(t0 + offset, device, seconds), t0 + offset, device, seconds, fragmented
        )
        encode(folder / recording.name, seconds, fragmented=fragmented, start=offset)
        made.append(recording)
    return made


def count_frames(path: Path | str, *, packets: bool = False) -> int:
    """Video frames of a file or URL, counted by decoding them (ffprobe ``-count_frames``), or
    with ``packets`` the video packets its demuxer reads (``-count_packets``)."""
    what = "packets" if packets else "frames"
    out = subprocess.run(
        [
            "ffprobe", "-v", "error", f"-count_{what}", "-select_streams", "v:0",
            "-show_entries", f"stream=nb_read_{what}", "-of", "csv=p=0", str(path),
        ],
        check=True,
        timeout=TIMEOUT,
        capture_output=True,
        text=True,
    ).stdout  # fmt: skip
    # An HLS input lists its stream once per program too: the first count is the stream's.
    return int(next(line for line in out.split() if line.strip()))
