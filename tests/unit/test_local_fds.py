"""A descriptor opened in the executor is closed even when its caller gave up waiting."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from proxy.storage.local import _owning_fd


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
