"""The storage interface itself, against every backend."""

from __future__ import annotations

import importlib
import os
import time
import uuid
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from proxy.errors import BackendError, BadRequest, NotFound
from proxy.storage import ByteRange, start_storage
from proxy.storage.local import backend as local_backend
from proxy.storage.local.backend import LocalStorage
from tests.contract.conftest import ACCOUNT, PROVIDER, Backend, LocalBackend
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


# --- listing a folder ------------------------------------------------------------------


def new_folder() -> str:
    """A folder of its own: the backends are shared by every test of the session."""
    return f"acct/list-{uuid.uuid4().hex[:8]}/"


async def listed(storage, folder: str, start_after: str = "", scope: str = "") -> list[Any]:
    return [
        entry async for page in storage.listing(folder, start_after, scope=scope) for entry in page
    ]


def put_folder(backend: Backend, folder: str) -> dict[str, bytes]:
    """Three direct children, one object in a subfolder, one in a sibling sharing the name
    (and the folder's own marker object, where a folder can be an object)."""
    children = {
        f"{folder}1776427171_a.mp4": b"aaa-first",
        f"{folder}1776427175_b.mp4": b"bbb-second-longer",
        f"{folder}1776427180_c.mp4": b"ccc",
    }
    # Out of order, so that the listing's order is its own.
    for key in sorted(children, reverse=True):
        backend.put(key, children[key])
    backend.put(f"{folder}sub/1776427172_x.mp4", b"in a subfolder")
    if backend.kind != "local":
        # A console's "folder" marker: listed by every object store, but not inside it.
        backend.put(folder, b"")
    backend.put(f"{folder.rstrip('/')}-other/1776427173_y.mp4", b"in a sibling folder")
    return children


async def test_listing_yields_the_direct_children_in_order(storage, backend: Backend) -> None:
    folder = new_folder()
    children = put_folder(backend, folder)
    entries = await listed(storage, folder)
    assert [entry.key for entry in entries] == sorted(children)
    for entry in entries:
        assert entry.meta.size == len(children[entry.key])
        stat = await storage.stat(entry.key)
        assert entry.meta.etag == stat.etag
        assert entry.meta.size == stat.size
        assert entry.meta.last_modified is not None
        assert entry.meta.last_modified.tzinfo is not None
        # The listed meta opens that version, as stat's would.
        head = await read_all(storage, entry.key, ByteRange(0, 2), entry.meta)
        assert head == children[entry.key][:3]


async def test_listing_starts_after_a_key(storage, backend: Backend) -> None:
    folder = new_folder()
    put_folder(backend, folder)
    # A prefix of b's key sorts before it: b and c.
    after = await listed(storage, folder, f"{folder}1776427175")
    assert [entry.key for entry in after] == [
        f"{folder}1776427175_b.mp4",
        f"{folder}1776427180_c.mp4",
    ]
    # A key itself is not listed after itself (GCS's startOffset would include it).
    after_b = await listed(storage, folder, f"{folder}1776427175_b.mp4")
    assert [entry.key for entry in after_b] == [f"{folder}1776427180_c.mp4"]
    assert await listed(storage, folder, f"{folder}1776427180_c.mp4") == []
    # One before the folder lists it all.
    assert len(await listed(storage, folder, "acct/")) == 3


async def test_listing_a_missing_folder_lists_nothing(storage, backend: Backend) -> None:
    folder = new_folder()
    assert await listed(storage, folder) == []
    put_folder(backend, folder)
    assert await listed(storage, f"{folder}nothing-here/") == []
    # An object's name as a folder, and a folder name without its "/", are no folders.
    assert await listed(storage, f"{folder}1776427171_a.mp4/") == []
    assert await listed(storage, folder.rstrip("/")) == []


def count_page_requests(storage, kind: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Shrink the backend's page to 2 keys; each list request it then makes appends to the list."""
    module = importlib.import_module(f"proxy.storage.{kind}.backend")
    monkeypatch.setattr(module, "LIST_PAGE", 2)
    if kind == "s3":
        owner, name = storage.client, "list_objects_v2"
    elif kind == "gcs":
        owner, name = storage.client, "list_objects"
    else:
        owner, name = storage.container._client.container, "list_blob_hierarchy_segment"
    original = getattr(owner, name)
    calls: list[int] = []

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


async def test_listing_pages_as_the_caller_iterates(
    storage, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend.kind == "local":
        pytest.skip("a folder on disk is read whole, to sort it: it has no pages")
    calls = count_page_requests(storage, backend.kind, monkeypatch)
    folder = new_folder()
    keys = [f"{folder}17764271{n:02d}_{n}.mp4" for n in range(5)]
    for key in keys:
        backend.put(key, key.encode())
    entries = await listed(storage, folder)
    assert [entry.key for entry in entries] == keys
    assert [entry.meta.size for entry in entries] == [len(key) for key in keys]
    assert len(calls) == 3
    # A caller that stops after the first key pays for one page only.
    calls.clear()
    async with aclosing(storage.listing(folder)) as listing:
        async for page in listing:
            assert [entry.key for entry in page] == keys[:2]  # pages of two
            break
    assert len(calls) == 1
    # Paging and start_after together.
    assert [entry.key for entry in await listed(storage, folder, keys[1])] == keys[2:]


async def test_listing_more_than_a_page(storage, backend: Backend) -> None:
    if backend.kind != "local":
        # 1005 uploads take moto 12-19 s: the object stores page with 2-key pages above.
        pytest.skip("1005 uploads are slow on this emulator")
    folder = new_folder()
    keys = [f"{folder}{n:05d}.ts" for n in range(1005)]
    for key in keys:
        backend.put(key, b"x")
    assert [entry.key for entry in await listed(storage, folder)] == keys


# --- listing on disk: symlinks, scope, the bound -----------------------------------------


@pytest.fixture
def disk(tmp_path: Path) -> tuple[LocalStorage, LocalBackend]:
    return LocalStorage("disk", tmp_path / "root"), LocalBackend(tmp_path / "root")


async def test_disk_listing_follows_no_symlinked_folder(disk, tmp_path: Path) -> None:
    storage, files = disk
    files.put("other/real/1776427171_a.mp4", b"another account's")
    files.put("acct/mine/1776427171_a.mp4", b"mine")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "1776427171_a.mp4").write_bytes(b"outside the root")
    root = tmp_path / "root"
    os.symlink(root / "other" / "real", root / "acct" / "theirs")
    os.symlink(outside, root / "acct" / "out")
    os.symlink(root / "acct" / "mine", root / "acct" / "alias")  # inside the scope
    os.symlink(root / "acct", root / "acct-link")
    assert [e.key for e in await listed(storage, "acct/mine/", scope="acct/")] == [
        "acct/mine/1776427171_a.mp4"
    ]
    for folder in ("acct/theirs/", "acct/out/", "acct/alias/"):
        assert await listed(storage, folder, scope="acct/") == []
        assert await listed(storage, folder) == []
    assert await listed(storage, "acct-link/mine/") == []


async def test_disk_listing_stays_in_its_scope(disk) -> None:
    storage, files = disk
    files.put("other/real/1776427171_a.mp4", b"another account's")
    assert await listed(storage, "other/real/", scope="acct/") == []
    assert await listed(storage, "acct/../other/real/", scope="acct/") == []
    assert await listed(storage, "acct/./", scope="acct/") == []
    assert len(await listed(storage, "other/real/", scope="other/")) == 1


async def test_disk_listing_skips_what_is_not_a_regular_file(disk, tmp_path: Path) -> None:
    storage, files = disk
    files.put("acct/f/1776427171_a.mp4", b"a file")
    files.put("acct/f/sub/1776427172_x.mp4", b"in a subfolder")
    files.put("acct/secret.txt", b"not in the folder")
    folder = tmp_path / "root" / "acct" / "f"
    os.symlink(folder / "1776427171_a.mp4", folder / "1776427172_link.mp4")
    os.symlink(tmp_path / "root" / "acct" / "secret.txt", folder / "1776427173_out.mp4")
    os.symlink(folder / "missing.mp4", folder / "1776427174_dangling.mp4")
    os.mkfifo(folder / "1776427175_fifo.mp4")
    entries = await listed(storage, "acct/f/", scope="acct/")
    assert [entry.key for entry in entries] == ["acct/f/1776427171_a.mp4"]
    assert entries[0].meta == await storage.stat("acct/f/1776427171_a.mp4")


async def test_disk_listing_sorts_by_utf8_bytes(disk) -> None:
    storage, files = disk
    names = ["Z.mp4", "a.mp4", "\u00e9.mp4", "\U0001f3a5.mp4", "\uff21.mp4", "_.mp4"]
    for name in names:
        files.put(f"acct/u/{name}", b"x")
    keys = [entry.key for entry in await listed(storage, "acct/u/")]
    assert keys == sorted((f"acct/u/{n}" for n in names), key=lambda k: k.encode())


async def test_disk_listing_refuses_a_folder_too_large(
    disk, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage, files = disk
    monkeypatch.setattr(local_backend, "MAX_FOLDER_ENTRIES", 3)
    for n in range(3):
        files.put(f"acct/big/{n}.mp4", b"x")
    assert len(await listed(storage, "acct/big/")) == 3
    files.put("acct/big/3.mp4", b"x")
    with pytest.raises(BadRequest, match="more than 3 entries"):
        await listed(storage, "acct/big/")
