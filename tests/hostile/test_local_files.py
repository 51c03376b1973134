"""Attacks through the local-disk provider's files: rewriting them in place while they stream,
and symlinks that lead out of the account's prefix.

The first half runs a real server process and reads its answers over real sockets; the
identity checks that no socket can time reliably (a small body read whole before the
headers) are driven through the backend and the app directly.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from proxy.app import create_app
from proxy.errors import BackendError
from proxy.storage.base import FileBody, file_identity
from proxy.storage.local.backend import LocalStorage
from proxy.streaming import CHECKED_TAIL
from tests.support.proxyapp import NOW, Clock, Links, make_settings, settings_doc
from tests.support.serving import ProxyProcess, media_doc, proxy_process

LINK_EXPIRES = NOW * 2
MIB = 1024 * 1024
CHUNK = 256 * 1024  # server.chunk_size's default: the read-ahead of a one-call GET


def _url(p: ProxyProcess, key: str, account: str = "cam") -> str:
    return p.base + Links().path(account, "disk", key, LINK_EXPIRES)


async def _metric(session: aiohttp.ClientSession, p: ProxyProcess, sample: str) -> float:
    async with session.get(p.base + "/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[1])
    return 0.0


def _rewrite(path: Path, data: bytes, offset: int = 0) -> None:
    """Overwrite ``path`` in place (same inode, same size), as ``dd conv=notrunc`` does."""
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


def _aged(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    # A change lands in the timestamps only past their granularity (a clock tick on kernels
    # without fine-grained ctime); the README names that window. Step over it.
    time.sleep(0.05)
    return path


# -- a file rewritten in place while it streams ------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda old: (0, os.urandom(len(old))), id="whole-file"),
        # A few bytes just before the end, in the part the relay reads and checks last.
        pytest.param(lambda old: (len(old) - 1000, b"\xff" * 100), id="inside-the-tail"),
    ],
)
async def test_a_file_rewritten_while_it_streams_never_arrives_whole(
    tmp_path: Path, change: Callable[[bytes], tuple[int, bytes]]
) -> None:
    old = os.urandom(64 * MIB)
    path = _aged(tmp_path / "media" / "cam" / "x.bin", old)
    offset, patch = change(old)
    new = old[:offset] + patch + old[offset + len(patch) :]
    got = hashlib.sha256()
    received = 0
    rewritten = False
    error: BaseException | None = None
    with proxy_process(tmp_path, media_doc(tmp_path / "media", access_log=False)) as p:
        async with aiohttp.ClientSession() as session:
            aborts = 'proxy_stream_aborts_total{reason="backend"}'
            before = await _metric(session, p, aborts)
            async with session.get(_url(p, "cam/x.bin")) as resp:
                assert resp.status == 200
                assert resp.headers["Content-Length"] == str(len(old))
                try:
                    while True:  # a slow reader: 1 MiB, then a pause
                        piece = await resp.content.read(MIB)
                        if not piece:
                            break
                        got.update(piece)
                        received += len(piece)
                        if not rewritten and received >= 4 * MIB:
                            _rewrite(path, patch, offset)
                            rewritten = True
                        await asyncio.sleep(0.01)
                except aiohttp.ClientPayloadError as exc:
                    error = exc
            assert await _metric(session, p, aborts) == before + 1
    digest = got.hexdigest()
    assert digest not in {hashlib.sha256(old).hexdigest(), hashlib.sha256(new).hexdigest()}
    assert error is not None, "a file that changed mid-stream must surface as a failed transfer"
    assert received < len(old)


@pytest.mark.slow
async def test_an_unchanged_file_streams_whole_and_zero_copy(tmp_path: Path) -> None:
    data = os.urandom(64 * MIB)
    _aged(tmp_path / "media" / "cam" / "x.bin", data)
    with proxy_process(tmp_path, media_doc(tmp_path / "media", access_log=False)) as p:
        async with aiohttp.ClientSession() as session:
            before = await _metric(session, p, "proxy_zero_copy_bytes_total")
            async with session.get(_url(p, "cam/x.bin")) as resp:
                got = hashlib.sha256()
                while piece := await resp.content.read(MIB):
                    got.update(piece)
                    await asyncio.sleep(0.002)  # slow enough that sendfile runs many times
            after = await _metric(session, p, "proxy_zero_copy_bytes_total")
    assert got.hexdigest() == hashlib.sha256(data).hexdigest()
    # Only the read-ahead and the checked tail went through Python.
    assert after - before == len(data) - CHUNK - CHECKED_TAIL


@pytest.mark.slow
async def test_a_file_replaced_by_a_rename_keeps_streaming_whole(tmp_path: Path) -> None:
    """The usual atomic update (write a new file, rename it over the old) changes the old
    inode's ctime and link count, never its bytes: streams of the old version go on."""
    old = os.urandom(32 * MIB)
    path = _aged(tmp_path / "media" / "cam" / "x.bin", old)
    with proxy_process(tmp_path, media_doc(tmp_path / "media", access_log=False)) as p:
        async with aiohttp.ClientSession() as session, session.get(_url(p, "cam/x.bin")) as resp:
            got = hashlib.sha256(await resp.content.readexactly(4 * MIB))
            replacement = path.with_name("x.bin.new")
            replacement.write_bytes(os.urandom(len(old)))
            os.replace(replacement, path)
            while piece := await resp.content.read(MIB):
                got.update(piece)
        async with aiohttp.ClientSession() as session, session.get(_url(p, "cam/x.bin")) as resp:
            now = await resp.read()
    assert got.hexdigest() == hashlib.sha256(old).hexdigest()
    assert now == path.read_bytes()


# -- the identity checks, driven directly ---------------------------------------------------


async def test_a_file_body_refuses_a_file_rewritten_between_chunks(tmp_path: Path) -> None:
    path = _aged(tmp_path / "x.bin", b"a" * 3000)
    fd = os.open(path, os.O_RDONLY)
    try:
        body = FileBody(fd, 0, 3000, 1000, b"", file_identity(os.fstat(fd)))
        assert await anext(body) == b"a" * 1000
        _rewrite(path, b"b" * 3000)
        with pytest.raises(BackendError):
            await anext(body)
    finally:
        os.close(fd)


async def test_a_file_body_passes_an_unchanged_file_whole(tmp_path: Path) -> None:
    path = _aged(tmp_path / "x.bin", b"a" * 3000)
    fd = os.open(path, os.O_RDONLY)
    try:
        body = FileBody(fd, 0, 3000, 1000, b"", file_identity(os.fstat(fd)))
        assert b"".join([chunk async for chunk in body]) == b"a" * 3000
    finally:
        os.close(fd)


def _rewrite_during_first_read(
    monkeypatch: pytest.MonkeyPatch, path: Path, data: bytes
) -> list[int]:
    """The next read of any file first rewrites ``path``: a writer racing the read. Both
    reads are raced: ``pread`` in the executor and ``preadv`` (RWF_NOWAIT) on the loop."""
    real, real_v = os.pread, os.preadv
    calls: list[int] = []

    def racing(fd: int, size: int, offset: int) -> bytes:
        if not calls:
            _rewrite(path, data)
        calls.append(size)
        return real(fd, size, offset)

    def racing_v(fd: int, buffers: list[bytearray], offset: int, flags: int = 0) -> int:
        if not calls:
            _rewrite(path, data)
        calls.append(sum(len(b) for b in buffers))
        return real_v(fd, buffers, offset, flags)

    monkeypatch.setattr(os, "pread", racing)
    monkeypatch.setattr(os, "preadv", racing_v)
    return calls


async def test_a_small_file_rewritten_during_the_read_ahead_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole body is the read-ahead: the second stat of the same trip is the last check."""
    path = _aged(tmp_path / "cam" / "x.bin", b"a" * 5000)
    storage = LocalStorage("disk", tmp_path)
    calls = _rewrite_during_first_read(monkeypatch, path, b"b" * 5000)
    with pytest.raises(BackendError):
        async with storage.fetch("cam/x.bin", None, scope="cam/"):
            pass
    assert calls == [5000]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="one-call"),
        pytest.param({"If-None-Match": '"other"'}, id="stat-then-open"),
        pytest.param({"Range": "bytes=100-"}, id="range"),
    ],
)
async def test_a_small_body_that_changes_before_the_headers_is_a_502(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aiohttp_client: Any, headers: dict[str, str]
) -> None:
    path = _aged(tmp_path / "cam" / "x.bin", b"a" * 5000)
    doc = settings_doc(
        {"disk": {"kind": "local", "root": str(tmp_path)}}, cam={"providers": ["disk"]}
    )
    client = await aiohttp_client(create_app(make_settings(doc), clock=Clock()))
    _rewrite_during_first_read(monkeypatch, path, b"b" * 5000)
    resp = await client.get(Links().path("cam", "disk", "cam/x.bin"), headers=headers)
    assert resp.status == 502
    assert (await resp.json())["error"] == "backend_error"


# -- symlinks and the account's prefix ----------------------------------------------------


def _linked_media(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    for folder in ("cam/dir", "other"):
        (root / folder).mkdir(parents=True)
    (root / "cam" / "real.mp4").write_bytes(b"cam's own")
    (root / "other" / "secret.mp4").write_bytes(b"other's secret")
    links = {
        "cam/evil.mp4": root / "other" / "secret.mp4",  # a final symlink, absolute
        "cam/rel.mp4": "../other/secret.mp4",  # the same, relative
        "cam/sub": root / "other",  # a directory symlink on the way
        "cam/alias.mp4": "real.mp4",  # stays inside the prefix
        "cam/inner": "dir",  # a directory symlink that stays inside
        "other/hop.mp4": "../cam/real.mp4",  # through another prefix and back
        "cam/hop.mp4": "../other/hop.mp4",
    }
    for name, target in links.items():
        os.symlink(target, root / name)
    (root / "cam" / "dir" / "deep.mp4").write_bytes(b"cam's deep")
    return root


def _scoped_doc(root: Path) -> dict[str, Any]:
    doc = media_doc(root)
    doc["accounts"] = {
        "cam": {"providers": ["disk"]},
        "other": {"providers": ["disk"]},
        "all": {"providers": ["disk"], "prefix": ""},
    }
    return doc


REQUESTS = [
    pytest.param("GET", {}, id="get"),
    pytest.param("GET", {"Range": "bytes=0-3"}, id="range"),
    pytest.param("GET", {"If-None-Match": '"other"'}, id="conditional"),
    pytest.param("HEAD", {}, id="head"),
]


@pytest.mark.slow
async def test_symlinks_serve_only_what_lies_inside_the_accounts_prefix(tmp_path: Path) -> None:
    refused = ["cam/evil.mp4", "cam/rel.mp4", "cam/sub/secret.mp4"]
    served = {
        "cam/alias.mp4": b"cam's own",
        "cam/hop.mp4": b"cam's own",
        "cam/inner/deep.mp4": b"cam's deep",
    }
    with proxy_process(tmp_path, _scoped_doc(_linked_media(tmp_path))) as p:
        async with aiohttp.ClientSession() as session:
            for method, headers in [param.values for param in REQUESTS]:
                for key in refused:
                    async with session.request(method, _url(p, key), headers=headers) as resp:
                        assert resp.status == 404, (method, headers, key)
                        assert b"secret" not in await resp.read()
                for key, body in served.items():
                    async with session.request(method, _url(p, key), headers=headers) as resp:
                        assert resp.status in (200, 206), (method, headers, key)
                        if method == "GET":
                            assert body.startswith(await resp.read())
            # The owner of the target, and an account over the whole provider, reach it.
            async with session.get(_url(p, "other/secret.mp4", "other")) as resp:
                assert await resp.read() == b"other's secret"
            async with session.get(_url(p, "cam/evil.mp4", "all")) as resp:
                assert await resp.read() == b"other's secret"
