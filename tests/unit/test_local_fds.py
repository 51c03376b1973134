"""A descriptor opened in the executor is closed even when its caller gave up waiting, and
when the open is refused after the file was opened (it changed during the read-ahead, or a
symlink leads out of the account's prefix)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from proxy.errors import BackendError, NotFound
from proxy.storage.local import cached
from proxy.storage.local.backend import LocalStorage, _owning_fd


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


async def test_a_timed_out_open_does_not_leak_its_descriptor() -> None:
    opened = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow_open() -> tuple[int, str]:
        time.sleep(0.3)  # a disk that answers after the backend timeout
        fd = os.open(os.devnull, os.O_RDONLY)
        loop.call_soon_threadsafe(opened.set)
        return fd, "meta"

    before = _open_fds()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await _owning_fd(slow_open)
    await asyncio.wait_for(opened.wait(), 5)
    await asyncio.sleep(0.05)  # the done-callback runs on the loop right after
    assert _open_fds() <= before


async def test_an_open_that_is_awaited_hands_its_descriptor_over() -> None:
    fd, meta = await _owning_fd(lambda: (os.open(os.devnull, os.O_RDONLY), "meta"))
    try:
        assert meta == "meta"
        assert os.fstat(fd)
    finally:
        os.close(fd)


@pytest.mark.parametrize("where", ["loop", "executor"])
async def test_a_file_that_changes_during_the_read_ahead_leaves_no_descriptor_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """On the loop (cached: preadv with RWF_NOWAIT) and in the executor (pread)."""
    path = tmp_path / "cam" / "x.bin"
    path.parent.mkdir()
    path.write_bytes(b"a" * 5000)
    time.sleep(0.05)  # past the timestamps' granularity, so the rewrite shows
    real, real_v = os.pread, os.preadv

    def rewrite() -> None:
        with open(path, "r+b") as fh:
            fh.write(b"b" * 5000)

    def racing(fd: int, size: int, offset: int) -> bytes:
        rewrite()
        return real(fd, size, offset)

    def racing_v(fd: int, buffers: list[bytearray], offset: int, flags: int = 0) -> int:
        rewrite()
        return real_v(fd, buffers, offset, flags)

    if where == "loop":
        monkeypatch.setattr(os, "preadv", racing_v)
    else:
        monkeypatch.setattr(cached, "_call", None)  # as on a kernel without openat2
        monkeypatch.setattr(os, "pread", racing)
    storage = LocalStorage("disk", tmp_path)
    before = _open_fds()
    with pytest.raises(BackendError):
        async with storage.fetch("cam/x.bin", None, scope="cam/"):
            pass
    assert _open_fds() <= before


async def test_a_symlink_out_of_the_prefix_leaves_no_descriptor_open(tmp_path: Path) -> None:
    (tmp_path / "cam").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "secret.mp4").write_bytes(b"secret")
    os.symlink("../other", tmp_path / "cam" / "sub")
    storage = LocalStorage("disk", tmp_path)
    before = _open_fds()
    for call in (
        lambda: storage.stat("cam/sub/secret.mp4", scope="cam/"),
        lambda: storage.fetch("cam/sub/secret.mp4", None, scope="cam/").__aenter__(),
    ):
        with pytest.raises(NotFound):
            await call()
    assert _open_fds() <= before
