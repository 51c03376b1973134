"""Local-disk provider: objects are regular files below one root folder.

A key can never name anything outside the root, nor outside the asking
account's prefix (``scope``): a key whose path holds a symlink is resolved
(following every one) and the real path must still lie inside the resolved root
and inside the scope; that path is then opened one component at a time without
following any symlink, so one swapped in after the check leads nowhere.

An open file is served only as the version it was opened as: its identity from
``fstat`` (device, inode, size, mtime, ctime) is compared again right after the
read-ahead and by every later read of its body (``FileBody``), so one rewritten
in place while it is sent ends in an error, never a mixed body. All file-system
calls run in the default executor so the event loop never blocks on a slow disk, unless the
kernel says everything is cached (``proxy.storage.local.cached``): then a seek is
opened and read on the loop, with the same checks and the same answer.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat as stat_mod
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from proxy.errors import BadRequest, FileUnreadable, NotFound, ObjectChanged, StoreMissing
from proxy.http.ranges import UNSATISFIABLE, parse_range
from proxy.storage.base import (
    ByteRange,
    Fetched,
    FileBody,
    Listed,
    ObjectMeta,
    file_identity,
    same_version,
)
from proxy.storage.local import cached

# O_NONBLOCK: opening a FIFO must not wait for a writer (regular files ignore the flag).
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# A listing reads the whole folder to sort it: one holding more entries is refused.
MAX_FOLDER_ENTRIES = 100_000
# What opening a folder's path says when there is no folder there to list (a symlink on
# the way, too: a listing never follows one).
_NO_FOLDER = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG})


class LocalStorage:
    def __init__(self, name: str, root: Path, chunk_size: int = 256 * 1024) -> None:
        self.name = name
        self._root = os.path.realpath(root)
        self._chunk_size = chunk_size

    def __repr__(self) -> str:
        return f"LocalStorage({self.name!r}, root={self._root!r})"

    async def stat(self, key: str, *, scope: str = "") -> ObjectMeta:
        opened = self._open_cached(key, scope)
        if opened is not None:
            os.close(opened[0])
            return _meta(opened[1])
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._stat_key, key, scope)

    @asynccontextmanager
    async def fetch(
        self, key: str, wanted: str | None, *, scope: str = ""
    ) -> AsyncIterator[Fetched | None]:
        """Open, stat and read the first chunk: on the loop if it is all cached, else in
        one trip to the executor."""
        fetched = self._fetch_cached(key, wanted, scope)
        if fetched is None:
            fetched = await _owning_fd(self._fetch_first, key, wanted, scope)
        fd, st, served, first = fetched
        try:
            start = served.start if served else 0
            count = served.length if served else st.st_size
            body = FileBody(fd, start, count, self._chunk_size, first, file_identity(st))
            yield Fetched(_meta(st), served, body)
        finally:
            os.close(fd)

    @asynccontextmanager
    async def open(
        self, key: str, byte_range: ByteRange | None, meta: ObjectMeta, *, scope: str = ""
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        opened = self._open_cached(key, scope)
        if opened is None:
            opened = await _owning_fd(self._open_fd, key, scope)
        fd, st = opened
        try:
            if _meta(st).etag != meta.etag:
                raise ObjectChanged()
            start = byte_range.start if byte_range else 0
            count = byte_range.length if byte_range else st.st_size
            yield FileBody(fd, start, count, self._chunk_size, b"", file_identity(st))
        finally:
            os.close(fd)

    async def listing(
        self, folder: str, start_after: str = "", *, scope: str = ""
    ) -> AsyncIterator[list[Listed]]:
        """The regular files of the folder, read and sorted whole in one trip to the executor:
        one page."""
        loop = asyncio.get_running_loop()
        yield await loop.run_in_executor(None, self._list_folder, folder, start_after, scope)

    async def check(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._check_root)

    def _check_root(self) -> None:
        try:
            with os.scandir(self._root) as entries:
                next(entries, None)
        except OSError as exc:
            raise StoreMissing(f"the root folder cannot be listed ({exc.strerror})") from exc

    async def presign(self, key: str, expires_in: int) -> str | None:
        return None  # a disk has no URLs of its own: links are always the proxy's

    async def close(self) -> None:
        return None

    def _open_cached(self, key: str, scope: str) -> tuple[int, os.stat_result] | None:
        """``_open_fd`` without blocking, or None: only the executor's walk can tell."""
        if not key.startswith(scope) or "/../" in f"/{key}/":
            return None  # the walk refuses it in its own words
        return cached.open_cached(f"{self._root}/{key}", _OPEN_FLAGS)

    def _fetch_cached(
        self, key: str, wanted: str | None, scope: str
    ) -> tuple[int, os.stat_result, ByteRange | None, bytes] | None:
        """``_fetch_first`` without blocking, or None (and nothing left open)."""
        opened = self._open_cached(key, scope)
        if opened is None:
            return None
        return self._first_chunk(*opened, wanted, cached.read_cached)

    def _stat_key(self, key: str, scope: str) -> ObjectMeta:
        fd, st = self._open_fd(key, scope)
        os.close(fd)
        return _meta(st)

    def _fetch_first(
        self, key: str, wanted: str | None, scope: str
    ) -> tuple[int, os.stat_result, ByteRange | None, bytes]:
        """Open ``key``, resolve ``wanted`` against its size and read the first chunk."""
        fetched = self._first_chunk(*self._open_fd(key, scope), wanted, os.pread)
        assert fetched is not None  # pread blocks rather than say no
        return fetched

    def _first_chunk(
        self,
        fd: int,
        st: os.stat_result,
        wanted: str | None,
        read: Callable[[int, int, int], bytes | None],
    ) -> tuple[int, os.stat_result, ByteRange | None, bytes] | None:
        """Resolve ``wanted`` against the open file's size and ``read`` the first chunk; None
        (the file closed) if ``read`` would have blocked. The file is stat'ed again after the
        read: when the chunk is the whole body, that is the check that it is all of one
        version."""
        try:
            decision = parse_range(wanted, st.st_size)
            # An unsatisfiable range is the caller's to answer (416) from the metadata.
            served = decision if isinstance(decision, ByteRange) else None
            if decision is UNSATISFIABLE:
                return fd, st, served, b""
            start = served.start if served else 0
            count = served.length if served else st.st_size
            first = read(fd, min(self._chunk_size, count), start) if count else b""
            if first is None:
                os.close(fd)
                return None
            if not same_version(file_identity(st), file_identity(os.fstat(fd))):
                raise ObjectChanged()
        except OSError as exc:
            os.close(fd)
            raise FileUnreadable() from exc
        except BaseException:
            os.close(fd)
            raise
        return fd, st, served, first

    def _open_fd(self, key: str, scope: str) -> tuple[int, os.stat_result]:
        """Open ``key`` for reading and stat it, or raise NotFound; runs in an executor."""
        # `key` already passed the link rules: no '..', '.' or empty segment, no leading
        # '/', no backslash; and the account's: it starts with `scope`. Walking it one
        # component at a time with O_NOFOLLOW cannot leave the scope; a symlink on the
        # way, the last component included, stops the walk (ELOOP, or ENOTDIR).
        if not key.startswith(scope):
            raise NotFound()
        try:
            try:
                file_fd = self._walk(key.split("/"))
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                # Resolving follows the symlinks, and the result must still lie inside the
                # root and the scope; its components are walked the same way, so a
                # symlink swapped in after the check leads nowhere.
                file_fd = self._walk(self._resolved_parts(key, scope))
        except FileNotFoundError:
            raise NotFound() from None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG):
                raise NotFound() from None
            raise FileUnreadable("the file could not be opened") from exc
        try:
            st = os.fstat(file_fd)
            if not stat_mod.S_ISREG(st.st_mode):
                raise NotFound()
        except BaseException:
            os.close(file_fd)
            raise
        return file_fd, st

    def _list_folder(self, folder: str, start_after: str, scope: str) -> list[Listed]:
        """The regular files directly inside ``folder``, sorted; runs in an executor.

        The folder is opened one component at a time from the root without following any
        symlink, as ``_walk`` opens a file: a symlink on the way lists nothing, wherever it
        leads, and so does a folder outside the scope. An entry is listed only if it is a
        regular file itself (a symlink is not), with the metadata ``stat`` would give it."""
        if not folder.startswith(scope) or (folder and not folder.endswith("/")):
            return []
        parts = folder.split("/")[:-1]
        if any(part in ("", ".", "..") for part in parts):
            return []
        try:
            fd = self._folder(parts)
            try:
                files = _regular_files(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            if exc.errno in _NO_FOLDER:
                return []
            raise FileUnreadable("the folder could not be listed") from exc
        listed = [Listed(folder + name, _meta(st)) for name, st in files]
        listed.sort(key=lambda entry: entry.key.encode())
        return [entry for entry in listed if entry.key > start_after]

    def _resolved_parts(self, key: str, scope: str) -> list[str]:
        path = os.path.realpath(os.path.join(self._root, key))
        if os.path.commonpath((self._root, path)) != self._root or path == self._root:
            raise NotFound()
        parts = os.path.relpath(path, self._root).split(os.sep)
        # The same rule as the account's (Account.covers), on the real name: a link
        # into another account's folder is as missing as one out of the root. A 404,
        # not a 403, so that the answer says nothing about where a link points.
        if not "/".join(parts).startswith(scope):
            raise NotFound()
        return parts

    def _walk(self, parts: list[str]) -> int:
        """The file at ``parts`` below the root, opened without following any symlink."""
        fd = self._folder(parts[:-1])
        try:
            return os.open(parts[-1], _OPEN_FLAGS, dir_fd=fd)
        finally:
            os.close(fd)

    def _folder(self, parts: list[str]) -> int:
        """The folder at ``parts`` below the root (the root itself for none), opened one
        component at a time without following any symlink."""
        fd = os.open(self._root, _DIR_FLAGS)
        try:
            for part in parts:
                next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = next_fd
        except BaseException:
            os.close(fd)
            raise
        return fd


_Opened = TypeVar("_Opened", bound=tuple[Any, ...])


async def _owning_fd(fn: Callable[..., _Opened], *args: Any) -> _Opened:
    """``fn(*args)`` in the executor; it returns an open descriptor first.

    If the caller is cancelled (a backend timeout, shutdown) while the worker
    still runs, the descriptor it then returns is closed instead of leaked.
    """
    future = asyncio.get_running_loop().run_in_executor(None, fn, *args)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        future.add_done_callback(_close_returned_fd)
        raise


def _close_returned_fd(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is None:
        os.close(future.result()[0])


def _regular_files(fd: int) -> list[tuple[str, os.stat_result]]:
    """The regular files of the open folder ``fd`` (symlinks not followed), each stat'ed."""
    files = []
    with os.scandir(fd) as entries:
        for count, entry in enumerate(entries, 1):
            if count > MAX_FOLDER_ENTRIES:
                raise BadRequest(f"the folder holds more than {MAX_FOLDER_ENTRIES} entries")
            if not entry.is_file(follow_symlinks=False):
                continue
            try:
                entry.name.encode()
                st = entry.stat(follow_symlinks=False)
            except UnicodeEncodeError:
                continue  # a name that is not UTF-8 is no key
            except FileNotFoundError:
                continue  # removed since the folder was read
            # Checked again on the stat: an entry may have been replaced since it was read.
            if stat_mod.S_ISREG(st.st_mode):
                files.append((entry.name, st))
    return files


def _meta(st: os.stat_result) -> ObjectMeta:
    # Strong validator from what changes when the file does (like nginx and aiohttp).
    etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
    modified = datetime.fromtimestamp(st.st_mtime, tz=UTC)
    return ObjectMeta(size=st.st_size, etag=etag, last_modified=modified, content_type=None)
