"""SIGTERM: stop accepting, let streams in flight finish within the grace period, then close."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.support import toml
from tests.support.procs import ROOT, free_port, stop, wait_http
from tests.support.proxyapp import KEY, NOW, Links

# Larger than a loopback connection's socket buffers can hold: with sendfile the server
# otherwise hands a whole file to the kernel and is done before the client reads it.
SIZE = 48 * 1024 * 1024


def serve(tmp_path: Path, grace: float, data: bytes) -> tuple[subprocess.Popen[bytes], str]:
    (tmp_path / "media" / "cam").mkdir(parents=True)
    (tmp_path / "media" / "cam" / "big.bin").write_bytes(data)
    port = free_port()
    doc = {
        "server": {"host": "127.0.0.1", "port": port, "shutdown_grace": grace, "access_log": False},
        "signing": {"key": KEY},
        "providers": {"disk": {"kind": "local", "root": str(tmp_path / "media")}},
        "accounts": {"cam": {"providers": ["disk"]}},
    }
    path = tmp_path / "proxy.toml"
    path.write_text(toml.dumps(doc))
    log = open(tmp_path / "proxy.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "proxy", "serve", "--config", str(path)],
        stdout=log,
        stderr=log,
        cwd=ROOT,
    )
    log.close()
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/healthz", proc)
    return proc, base


async def refused(base: str) -> bool:
    host, port = base.removeprefix("http://").split(":")
    try:
        _, writer = await asyncio.open_connection(host, int(port))
    except (ConnectionRefusedError, ConnectionResetError):
        # Reset: the attempt reached the backlog of a listener that was closing.
        return True
    writer.close()
    return False


@pytest.mark.slow
async def test_sigterm_lets_32_downloads_finish_and_refuses_new_ones(tmp_path: Path) -> None:
    data = os.urandom(SIZE)
    proc, base = serve(tmp_path, grace=30, data=data)
    url = base + Links().path("cam", "disk", "cam/big.bin", NOW * 2)
    started = asyncio.Event()
    go_on = asyncio.Event()
    ready = 0

    async def download(session: aiohttp.ClientSession) -> str:
        nonlocal ready
        digest = hashlib.sha256()
        async with session.get(url) as resp:
            assert resp.status == 200
            digest.update(await resp.content.readexactly(64 * 1024))
            ready += 1
            if ready == 32:
                started.set()
            await go_on.wait()  # hold the stream open across the SIGTERM
            async for chunk in resp.content.iter_chunked(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()

    try:
        connector = aiohttp.TCPConnector(limit=64, force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            tasks = [asyncio.ensure_future(download(session)) for _ in range(32)]
            await asyncio.wait_for(started.wait(), 30)
            os.kill(proc.pid, signal.SIGTERM)
            for _ in range(200):  # bounded: 10 s
                if await refused(base):
                    break
                await asyncio.sleep(0.05)
            log = (tmp_path / "proxy.log").read_text()[-2000:]
            assert await refused(base), f"new connections must be refused after SIGTERM\n{log}"
            assert proc.poll() is None, f"the server must wait for its streams\n{log}"
            go_on.set()
            results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
        log = (tmp_path / "proxy.log").read_text()[-2000:]
        assert results == [hashlib.sha256(data).hexdigest()] * 32, f"{results[:3]}\n{log}"
        assert proc.wait(30) == 0, log
    finally:
        stop(proc)


@pytest.mark.slow
async def test_a_stream_past_the_grace_period_is_cut_not_left_hanging(tmp_path: Path) -> None:
    proc, base = serve(tmp_path, grace=1, data=os.urandom(SIZE * 2))
    url = base + Links().path("cam", "disk", "cam/big.bin", NOW * 2)
    try:
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            await resp.content.readexactly(64 * 1024)
            loop = asyncio.get_running_loop()
            os.kill(proc.pid, signal.SIGTERM)
            start = loop.time()
            await asyncio.sleep(2)  # a slow client: past the 1 s grace
            with pytest.raises(aiohttp.ClientPayloadError):
                async for _ in resp.content.iter_chunked(1 << 20):
                    pass
        assert proc.wait(15) == 0
        assert loop.time() - start < 15
    finally:
        stop(proc)
