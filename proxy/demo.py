"""``python -m proxy demo``: a working setup from nothing, for a first look.

A folder (``.demo/`` by default, out of git) gets a sample text file, a small HLS
package and three camera recordings (both made with ``ffmpeg`` when it is installed:
6 s of a test picture and tone in 2 s TS segments; 4 s fragmented MP4 each, named
the Kerberos way, 10 s apart, for a §7 timeline) and a signing key made on first
run (mode 0600, reused so earlier links keep working). The settings serve it as
provider ``local`` to account ``demo`` (prefix ``demo/``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from proxy import config

SAMPLE = "demo/hello.txt"
TEXT = "Hello from proxy: this file was streamed through a signed, expiring link.\n"
HLS_FOLDER = "demo/hls/"
HLS_PLAYLIST = HLS_FOLDER + "index.m3u8"
_FFMPEG_SECONDS = 120
RECORDINGS_FOLDER = "demo/recordings/"
RECORDING_SECONDS = 4
RECORDINGS_START = 1776427171  # the first recording's second; the others 10 s and 20 s on
DEVICE = "frontdoor"


def media_root(data_dir: str) -> Path:
    return Path(data_dir).resolve() / "media"


def prepare(data_dir: str, host: str, port: int, environ: Mapping[str, str]) -> config.Settings:
    """Create what is missing in ``data_dir`` and return the settings that serve it."""
    data = Path(data_dir).resolve()
    media = media_root(data_dir)
    (media / "demo").mkdir(parents=True, exist_ok=True)
    sample = media / SAMPLE
    if not sample.exists():
        sample.write_text(TEXT)
    key_file = data / "signing.key"
    if not key_file.exists():
        # Created 0600 before anything is written; kept out of git by .gitignore.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    doc = {
        "server": {"host": host, "port": port},
        "signing": {"key": key_file.read_text().strip()},
        "providers": {"local": {"kind": "local", "root": str(media)}},
        "accounts": {"demo": {"providers": ["local"], "prefix": "demo/"}},
    }
    return config.parse(doc, f"demo ({data})", environ)


def hls_package(data_dir: str) -> bool:
    """Make the HLS package once, if ``ffmpeg`` is there; whether the package exists."""
    folder = media_root(data_dir) / HLS_FOLDER
    if (folder / "index.m3u8").exists():
        return True
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return False
    folder.mkdir(parents=True, exist_ok=True)
    argv = [
        ffmpeg, "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=6",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=6",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "50", "-keyint_min", "50",
        "-sc_threshold", "0", "-c:a", "aac", "-b:a", "96k", "-shortest",
        "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod",
        "-hls_segment_filename", str(folder / "seg_%03d.ts"), str(folder / "index.m3u8"),
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, timeout=_FFMPEG_SECONDS, check=False)
    return done.returncode == 0 and (folder / "index.m3u8").exists()


def recordings(data_dir: str) -> tuple[int, int] | None:
    """Make the three recordings once, if ``ffmpeg`` is there; the (start, end) window that
    selects them all, or None."""
    folder = media_root(data_dir) / RECORDINGS_FOLDER
    ffmpeg = shutil.which("ffmpeg")
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(3):
        second = RECORDINGS_START + 10 * n
        path = (
            folder / f"{second}_6-967003_{DEVICE}_200-200-400-400_{25 * RECORDING_SECONDS}_769.mp4"
        )
        if path.exists():
            continue
        if ffmpeg is None:
            return None
        part = path.with_suffix(".part")
        argv = [
            ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi",
            "-i", f"testsrc2=size=640x360:rate=25:duration={RECORDING_SECONDS}",
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
            "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
            "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", str(part),
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, timeout=_FFMPEG_SECONDS, check=False)
        if done.returncode != 0:
            return None
        part.rename(path)  # whole or not at all: a rerun never indexes half a file
    return RECORDINGS_START, RECORDINGS_START + 30
