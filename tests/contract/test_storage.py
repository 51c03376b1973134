"""The storage interface itself, against every backend."""

from __future__ import annotations

import time

import pytest

from proxy.errors import BackendError, NotFound
from proxy.storage import ByteRange, start_storage
from tests.contract.conftest import ACCOUNT, PROVIDER, Backend
from tests.support.proxyapp import make_settings, settings_doc


@pytest.fixture
async def storage(backend: Backend):
    doc = settings_doc({PROVIDER: backend.provider}, **{ACCOUNT: {"providers": [PROVIDER]}})
    started = await start_storage(make_settings(doc).providers[PROVIDER], 4096)
    yield started
    await started.close()


async def read_all(storage, key, byte_range, meta) -> bytes:
    async with storage.open(key, byte_range, meta) as chunks:
        return b"".join([chunk async for chunk in chunks])


async def test_stat_and_ranged_open(storage, backend: Backend) -> None:
    data = bytes(range(256)) * 100
    backend.put("acct/storage/a.bin", data)
    meta = await storage.stat("acct/storage/a.bin")
    assert meta.size == len(data)
    assert meta.etag
    assert meta.last_modified is not None
    assert meta.last_modified.tzinfo is not None
    assert await read_all(storage, "acct/storage/a.bin", None, meta) == data
    part = await read_all(storage, "acct/storage/a.bin", ByteRange(5000, 15000), meta)
    assert part == data[5000:15001]


async def test_missing_key_is_not_found(storage) -> None:
    with pytest.raises(NotFound):
        await storage.stat("acct/storage/never-written.bin")


async def test_a_body_never_mixes_two_versions(storage, backend: Backend) -> None:
    key = "acct/storage/changing.bin"
    backend.put(key, b"first version")
    meta = await storage.stat(key)
    time.sleep(0.01)  # a new mtime for the disk backend
    backend.put(key, b"second version, longer")
    with pytest.raises(BackendError):
        await read_all(storage, key, None, meta)
