"""Streams, not buffers: a large object through a real server process with bounded memory.

The client stops reading for a while mid-body; a proxy that buffered would use
that pause to pull the rest of the object into memory. Peak RSS (VmHWM) of the
server process is compared before and after.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.contract.conftest import KINDS, Backend, make_backend
from tests.support import toml
from tests.support.procs import free_port, peak_rss_kib, started
from tests.support.proxyapp import KEY, Links

SIZE = 80 * 1024 * 1024  # larger than the 64 MiB allowance, so buffering would show
LIMIT_KIB = 64 * 1024


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("big")
    (root / "cam").mkdir()
    digest = hashlib.sha256()
    with open(root / "cam" / "big.bin", "wb") as fh:
        for _ in range(SIZE // (8 << 20)):
            block = os.urandom(8 << 20)
            digest.update(block)
            fh.write(block)
    (root / "cam" / "warm.bin").write_bytes(os.urandom(4 << 20))
    return root, digest.hexdigest()


async def fetch(session: aiohttp.ClientSession, url: str, pause: float) -> tuple[int, str]:
    digest = hashlib.sha256()
    got = 0
    async with session.get(url) as resp:
        assert resp.status == 200
        first = await resp.content.readexactly(1 << 20)
        digest.update(first)
        got += len(first)
        await asyncio.sleep(pause)  # a slow client: the proxy must not read ahead unbounded
        async for chunk in resp.content.iter_chunked(1 << 20):
            digest.update(chunk)
            got += len(chunk)
    return got, digest.hexdigest()


def upload(backend: Backend, root: Path) -> None:
    for name in ("big.bin", "warm.bin"):
        backend.put(f"cam/{name}", (root / "cam" / name).read_bytes())


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
async def test_large_stream_keeps_server_memory_bounded(
    kind: str, big: tuple[Path, str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    root, expected = big
    if kind == "local":
        provider: dict[str, object] = {"kind": "local", "root": str(root)}
    else:
        backend = make_backend(kind, request)
        upload(backend, root)
        provider = backend.provider
    port = free_port()
    doc = {
        "server": {"host": "127.0.0.1", "port": port, "access_log": False},
        "signing": {"key": KEY},
        "providers": {"store": provider},
        "accounts": {"cam": {"providers": ["store"]}},
    }
    config = tmp_path / "proxy.toml"
    config.write_text(toml.dumps(doc))
    argv = [sys.executable, "-m", "proxy", "serve", "--config", str(config)]
    base = f"http://127.0.0.1:{port}"
    links = Links()
    with started(argv, f"{base}/healthz", tmp_path / "proxy.log") as proc:
        async with aiohttp.ClientSession() as session:
            # Warm up: the backend client, its pool and the buffers exist before the baseline.
            for _ in range(3):
                await fetch(session, base + links.path("cam", "store", "cam/warm.bin"), 0)
            idle = peak_rss_kib(proc.pid)
            got, digest = await fetch(session, base + links.path("cam", "store", "cam/big.bin"), 2)
        peak = peak_rss_kib(proc.pid)
    assert got == SIZE
    assert digest == expected
    grew = peak - idle
    print(f"{kind}: idle peak {idle} KiB, streaming peak {peak} KiB, +{grew} KiB")
    assert grew < LIMIT_KIB, f"server grew by {grew} KiB while streaming {SIZE >> 20} MiB"
