"""Streaming packages (HLS and DASH) made with Debian's ffmpeg, for the player tests.

One source clip is encoded once (lavfi ``testsrc2`` + ``sine``; H.264 + AAC; 320x180, 25 fps,
8 s, a keyframe every 2 s exactly, so that every segment starts on one), then packaged by stream
copy, so every package holds the same frames:

- ``hls-ts``: ``index.m3u8`` + ``seg_000.ts`` .. ``seg_003.ts`` (MPEG-TS, one folder);
- ``hls-ts-up``: the same, the playlist in ``playlist/`` and the segments in the sibling folder
  ``media/`` (``-hls_base_url ../media/``), so hls.js resolves ``../`` too;
- ``hls-fmp4``: ``index.m3u8`` + ``clip.mp4``, one fragmented MP4 read by byte ranges
  (``EXT-X-MAP`` with ``BYTERANGE``, one ``EXT-X-BYTERANGE`` per segment). ffmpeg 5.1 writes
  the ``EXT-X-MAP`` URI without ``-hls_base_url``, so this one cannot cheaply live in another
  folder than its playlist;
- ``dash``: ``mpd/manifest.mpd`` (``SegmentTemplate`` + ``SegmentTimeline``) whose segments sit in
  the sibling folders ``stream0/`` (video) and ``stream1/`` (audio): every segment URI starts
  with ``../``, as a token link must survive.

Each package lives in its own folder ``{account}/{name}/`` under a root, which is both the
static server's document root and the proxy's local provider root. All processes run with a
timeout and are awaited (``subprocess.run``), so none outlives its call.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SECONDS = 8
FPS = 25
SEGMENT = 2  # seconds; the GOP is exactly this long
WIDTH, HEIGHT = 320, 180
TIMEOUT = 120  # seconds for any one ffmpeg or ffprobe run


@dataclass(frozen=True)
class Source:
    path: Path
    duration: float  # of the video stream, seconds
    frames: int  # video frames, counted by decoding


@dataclass(frozen=True)
class Package:
    """One manifest and its media, under ``root / folder``."""

    name: str  # a key of MAKERS: "hls-ts", "hls-ts-up", "hls-fmp4", "dash"
    kind: str  # "hls" or "dash"
    root: Path  # the document root / provider root
    folder: str  # the key prefix of the package, ends with "/": "cam/dash/"
    manifest: str  # the manifest, relative to folder: "mpd/manifest.mpd"
    duration: float  # the source's, seconds
    frames: int  # the source's video frames

    @property
    def key(self) -> str:
        """The manifest's object key (relative to ``root``)."""
        return self.folder + self.manifest

    @property
    def path(self) -> Path:
        return self.root / self.key

    def files(self) -> list[str]:
        """Every file of the package, as object keys, sorted."""
        base = self.root / self.folder
        return sorted(self.folder + p.relative_to(base).as_posix() for p in base.rglob("*.*"))


def _ffmpeg(*args: str, cwd: Path | None = None) -> None:
    if not shutil.which("ffmpeg"):
        raise RuntimeError("ffmpeg is missing: scripts/test installs it")
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", *args],
        check=True,
        timeout=TIMEOUT,
        cwd=cwd,
    )


def probe(target: str, *args: str) -> dict[str, object]:
    """``ffprobe -of json`` of a file or URL (blocking: not for URLs served on this loop)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", *args, target],
        check=True,
        timeout=TIMEOUT,
        capture_output=True,
    ).stdout
    result: dict[str, object] = json.loads(out)
    return result


def make_source(out: Path) -> Source:
    """The clip every package is cut from: H.264 (yuv420p, GOP = SEGMENT s) + AAC stereo."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "source.mp4"
    gop = str(FPS * SEGMENT)
    _ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(SECONDS),
        "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
        "-x264-params", "open-gop=0",
        "-c:a", "aac", "-b:a", "64k", "-ac", "2",
        "-movflags", "+faststart",
        str(path),
    )  # fmt: skip
    info = probe(
        str(path),
        "-count_frames",
        "-select_streams", "v:0",
        "-show_entries", "stream=nb_read_frames,duration",
    )  # fmt: skip
    stream = info["streams"][0]  # type: ignore[index]
    return Source(path, float(stream["duration"]), int(stream["nb_read_frames"]))


def _package(
    source: Source, root: Path, folder: str, name: str, kind: str, manifest: str
) -> Package:
    return Package(name, kind, root, folder, manifest, source.duration, source.frames)


def make_hls_ts(source: Source, root: Path, folder: str) -> Package:
    """HLS, MPEG-TS segments next to the playlist."""
    out = root / folder
    out.mkdir(parents=True, exist_ok=True)
    _ffmpeg(
        "-i", str(source.path), "-c", "copy",
        "-f", "hls", "-hls_time", str(SEGMENT), "-hls_playlist_type", "vod",
        "-hls_segment_type", "mpegts", "-hls_segment_filename", str(out / "seg_%03d.ts"),
        str(out / "index.m3u8"),
    )  # fmt: skip
    return _package(source, root, folder, "hls-ts", "hls", "index.m3u8")


def make_hls_ts_up(source: Source, root: Path, folder: str) -> Package:
    """HLS, MPEG-TS, the playlist in ``playlist/`` and its segments in the sibling folder
    ``media/``: every segment URI is ``../media/seg_NNN.ts``."""
    out = root / folder
    for sub in ("playlist", "media"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    _ffmpeg(
        "-i", str(source.path), "-c", "copy",
        "-f", "hls", "-hls_time", str(SEGMENT), "-hls_playlist_type", "vod",
        "-hls_segment_type", "mpegts", "-hls_base_url", "../media/",
        "-hls_segment_filename", str(out / "media" / "seg_%03d.ts"),
        str(out / "playlist" / "index.m3u8"),
    )  # fmt: skip
    text = (out / "playlist" / "index.m3u8").read_text()
    assert "\n../media/seg_000.ts\n" in text, text
    return _package(source, root, folder, "hls-ts-up", "hls", "playlist/index.m3u8")


def make_hls_fmp4(source: Source, root: Path, folder: str) -> Package:
    """HLS, fMP4 in ONE file read by byte ranges: EXT-X-MAP + EXT-X-BYTERANGE."""
    out = root / folder
    out.mkdir(parents=True, exist_ok=True)
    _ffmpeg(
        "-i", str(source.path), "-c", "copy",
        "-f", "hls", "-hls_time", str(SEGMENT), "-hls_playlist_type", "vod",
        "-hls_segment_type", "fmp4", "-hls_flags", "single_file",
        "-hls_segment_filename", str(out / "clip.mp4"),
        str(out / "index.m3u8"),
    )  # fmt: skip
    text = (out / "index.m3u8").read_text()
    assert '#EXT-X-MAP:URI="clip.mp4",BYTERANGE=' in text, text
    assert "#EXT-X-BYTERANGE:" in text, text
    return _package(source, root, folder, "hls-fmp4", "hls", "index.m3u8")


def make_dash(source: Source, root: Path, folder: str) -> Package:
    """DASH, SegmentTemplate; the MPD in ``mpd/``, each representation's segments in a sibling
    folder (``../stream0/`` video, ``../stream1/`` audio)."""
    out = root / folder
    for sub in ("mpd", "stream0", "stream1"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    _ffmpeg(
        "-i", str(source.path), "-map", "0:v", "-map", "0:a", "-c", "copy",
        "-f", "dash", "-seg_duration", str(SEGMENT), "-use_template", "1", "-use_timeline", "1",
        "-adaptation_sets", "id=0,streams=v id=1,streams=a",
        "-init_seg_name", "../stream$RepresentationID$/init.$ext$",
        "-media_seg_name", "../stream$RepresentationID$/seg-$Number%03d$.$ext$",
        "manifest.mpd",
        cwd=out / "mpd",
    )  # fmt: skip
    text = (out / "mpd" / "manifest.mpd").read_text()
    assert "<SegmentTemplate" in text, text
    assert 'initialization="../stream$RepresentationID$/init.m4s"' in text, text
    return _package(source, root, folder, "dash", "dash", "mpd/manifest.mpd")


MAKERS = {
    "hls-ts": make_hls_ts,
    "hls-ts-up": make_hls_ts_up,
    "hls-fmp4": make_hls_fmp4,
    "dash": make_dash,
}


def make_all(root: Path, account: str = "cam") -> dict[str, Package]:
    """Every package, each in ``root / account / name /``; the source in ``root / "source"``
    (outside the account's prefix)."""
    source = make_source(root / "source")
    return {name: make(source, root, f"{account}/{name}/") for name, make in MAKERS.items()}
