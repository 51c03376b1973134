"""Never block the loop: a file system call of the local provider that may block runs in the
executor. What the kernel promises not to block (an ``openat2`` with RESOLVE_CACHED, a
``preadv`` with RWF_NOWAIT, ``fstat`` of an open file) may run on the loop, and a seek whose
file is all cached never leaves it."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path
from typing import Any

import pytest
from blockbuster import blockbuster_ctx

from proxy.app import create_app
from proxy.storage.local import cached
from proxy.storage.local.backend import LocalStorage
from tests.support.proxyapp import Clock, Links, make_settings, settings_doc


async def test_serving_from_disk_never_blocks_the_loop(tmp_path: Path, aiohttp_client: Any) -> None:
    (tmp_path / "cam").mkdir()
    data = bytes(range(256)) * 4096
    (tmp_path / "cam" / "clip.mp4").write_bytes(data)
    doc = settings_doc(
        {"disk": {"kind": "local", "root": str(tmp_path)}}, cam={"providers": ["disk"]}
    )
    client = await aiohttp_client(create_app(make_settings(doc), clock=Clock()))
    path = Links().path("cam", "disk", "cam/clip.mp4")
    # Only calls made from proxy code count; the test client may block as it likes.
    with blockbuster_ctx(["proxy"]):
        full = await client.get(path)
        assert await full.read() == data
        part = await client.get(path, headers={"Range": "bytes=10-19"})
        assert await part.read() == data[10:20]
        head = await client.head(path)
        assert head.status == 200


def _count_executor_trips(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    trips: list[object] = []
    loop = asyncio.get_running_loop()
    real = loop.run_in_executor

    def counted(executor: Any, fn: Any, *args: Any) -> Any:
        trips.append(fn)
        return real(executor, fn, *args)

    monkeypatch.setattr(loop, "run_in_executor", counted)
    return trips


async def _fetch(storage: LocalStorage, key: str, wanted: str | None) -> bytes:
    async with storage.fetch(key, wanted, scope="cam/") as fetched:
        assert fetched is not None
        return b"".join([chunk async for chunk in fetched.chunks])


async def test_a_cached_seek_never_leaves_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cached.usable(), "this kernel has openat2 and RWF_NOWAIT (Linux 5.12+)"
    (tmp_path / "cam").mkdir()
    data = os.urandom(1 << 20)
    (tmp_path / "cam" / "clip.mp4").write_bytes(data)
    storage = LocalStorage("disk", tmp_path)
    assert await _fetch(storage, "cam/clip.mp4", "bytes=1000-1999") == data[1000:2000]  # warm
    trips = _count_executor_trips(monkeypatch)
    assert await _fetch(storage, "cam/clip.mp4", "bytes=5000-6023") == data[5000:6024]
    meta = await storage.stat("cam/clip.mp4", scope="cam/")
    assert meta.size == len(data)
    assert trips == []


async def test_a_read_that_would_block_goes_to_the_executor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What preadv(RWF_NOWAIT) answers for bytes not in the page cache (EAGAIN) is given here
    directly: the kernel may keep pages that posix_fadvise(DONTNEED) was asked to drop."""
    (tmp_path / "cam").mkdir()
    data = os.urandom(1 << 20)
    (tmp_path / "cam" / "clip.mp4").write_bytes(data)
    storage = LocalStorage("disk", tmp_path)

    def would_block(fd: int, buffers: list[bytearray], offset: int, flags: int = 0) -> int:
        assert flags & os.RWF_NOWAIT
        raise BlockingIOError(errno.EAGAIN, "not in the page cache")

    monkeypatch.setattr(os, "preadv", would_block)
    trips = _count_executor_trips(monkeypatch)
    assert await _fetch(storage, "cam/clip.mp4", "bytes=700000-700999") == data[700000:701000]
    assert len(trips) == 1  # the read-ahead would have blocked: the whole trip went there
    assert cached.usable()  # a cold file turns nothing off


async def test_a_symlink_on_the_way_is_walked_in_the_executor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """openat2 refuses every symlink; the walk decides, and a link inside the scope serves."""
    (tmp_path / "cam" / "real").mkdir(parents=True)
    data = os.urandom(4096)
    (tmp_path / "cam" / "real" / "clip.mp4").write_bytes(data)
    (tmp_path / "cam" / "alias").symlink_to(tmp_path / "cam" / "real")
    storage = LocalStorage("disk", tmp_path)
    trips = _count_executor_trips(monkeypatch)
    assert await _fetch(storage, "cam/alias/clip.mp4", None) == data
    assert len(trips) == 1
