"""Real clients against a real proxy process; its S3 backend (moto) sits behind a relay."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import MotoServer
from tests.support import toml
from tests.support.procs import ROOT, free_port, stop, wait_http
from tests.support.proxyapp import KEY, NOW, Links
from tests.support.relay import TcpRelay

DURATION = 20  # seconds of video


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An H.264 MP4 (index at the end, so a player must seek to read it) and a VP8 WebM."""
    for tool in ("ffmpeg", "ffprobe", "chromium", "curl", "wget"):
        assert shutil.which(tool), f"{tool} is missing: scripts/test installs it"
    out = tmp_path_factory.mktemp("media")
    source = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15", "-t", str(DURATION)]
    mp4, webm = out / "clip.mp4", out / "clip.webm"
    _ffmpeg(
        *source,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "4",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "15",
        str(mp4),
    )
    _ffmpeg(
        *source,
        "-c:v",
        "libvpx",
        "-b:v",
        "3M",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        str(webm),
    )
    return {"mp4": mp4, "webm": webm}


@dataclass
class Proxy:
    base: str
    log: Path
    relay: TcpRelay
    links: Links

    def url(self, key: str, expires: int = NOW * 2) -> str:
        return self.base + self.links.path("cam", "s3", key, expires)

    def access_lines(self) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if line.startswith("{")]


@pytest.fixture
async def proxy(moto: MotoServer, media: dict[str, Path], tmp_path: Path) -> AsyncIterator[Proxy]:
    bucket = moto.new_bucket()
    s3 = moto.client()
    for kind, path in media.items():
        s3.upload_file(str(path), bucket, f"cam/clip.{kind}")
    relay = await TcpRelay("127.0.0.1", moto.port).start()
    port = free_port()
    doc = {
        "server": {"host": "127.0.0.1", "port": port, "check_interval": 3600},
        "signing": {"key": KEY},
        "providers": {"s3": moto.provider(bucket, f"http://127.0.0.1:{relay.port}")},
        "accounts": {"cam": {"providers": ["s3"]}},
    }
    config = tmp_path / "proxy.toml"
    config.write_text(toml.dumps(doc))
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "proxy.log"
    argv = [sys.executable, "-m", "proxy", "serve", "--config", str(config)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        # The relay runs on this test's loop: wait in a thread so the loop keeps serving it.
        await asyncio.to_thread(wait_http, f"{base}/healthz", proc)
        # Ready means the start-up check of the backend is done: later relay counts are ours.
        for _ in range(200):
            _, out, _ = await run(
                "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"{base}/readyz"
            )
            if out == b"200":
                break
            await asyncio.sleep(0.05)
        assert out == b"200", "the proxy never became ready"
        yield Proxy(base, log, relay, Links())
    finally:
        await asyncio.to_thread(stop, proc)
        await relay.close()


async def run(*argv: str, timeout: float = 120) -> tuple[int, bytes, bytes]:
    """A client process, awaited without blocking the loop the relay runs on."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out, err


async def metric(base: str, name: str) -> float:
    rc, out, _ = await run("curl", "-sS", f"{base}/metrics")
    assert rc == 0
    for line in out.decode().splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
