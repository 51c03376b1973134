"""The backend interface: a small Protocol and the frozen values that cross it.

A backend answers two questions: what is this object (``stat``), and give me
these bytes of it (``open``). The byte range travels *down* to the backend, so
no layer above ever reads bytes it would throw away. Vendor errors never cross
this boundary: each backend maps them onto ``proxy.errors`` at its edge.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

from proxy.errors import (
    BackendUnavailable,
    FileUnreadable,
    ObjectChanged,
    ObjectTruncated,
    ProxyError,
)
from proxy.http.ranges import ByteRange as ByteRange  # re-exported: the range a backend serves

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """What a backend knows about an object without reading its bytes."""

    size: int
    etag: str | None = None  # a quoted entity-tag as sent in HTTP, e.g. '"abc"' or 'W/"abc"'
    last_modified: datetime | None = None  # timezone-aware UTC
    content_type: str | None = None  # None when the backend stores none worth trusting


@dataclass(frozen=True, slots=True)
class Listed:
    """One object of a folder listing: its key and what ``stat`` would say of its size and
    version (the same ``etag`` text, so a listing can key a cache and open that version)."""

    key: str
    meta: ObjectMeta


@dataclass(frozen=True, slots=True)
class Fetched:
    """An object's metadata and (part of) its body, from one backend answer."""

    meta: ObjectMeta
    served: ByteRange | None  # the bytes ``chunks`` yields; None: the whole object
    chunks: AsyncIterator[bytes]


Identity = tuple[int, int, int, int, int, int]


def file_identity(st: os.stat_result) -> Identity:
    """What an open file's ``fstat`` shows of its version.

    A write in place keeps the inode and maybe the size, and a writer may set the
    mtime back, but never the ctime: the kernel stamps it on every change.
    """
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_nlink)


def same_version(opened: Identity, now: Identity) -> bool:
    """Whether the bytes can still be those of the version opened.

    A ctime that moved with one link fewer and nothing else changed is the file being
    unlinked or replaced by a rename (the usual atomic update): its bytes are intact,
    and the streams reading it go on.
    """
    if now == opened:
        return True
    return now[:4] == opened[:4] and now[5] < opened[5]


class FileBody:
    """``count`` bytes of an open file from ``offset``, as an async iterator of chunks.

    Reads run in the default executor. A relay that can may instead hand the rest
    of the file to the kernel (``sendfile``) after taking ``first``, the chunk read
    ahead when the file was opened; ``advance`` then keeps the position.

    ``identity`` is the file's as it was opened. Every read compares it after the
    bytes are in memory, so a file that changes while it is served ends the body
    with an ``ObjectChanged`` at the latest before its last chunk is handed over.
    """

    def __init__(
        self, fd: int, offset: int, count: int, chunk_size: int, first: bytes, identity: Identity
    ) -> None:
        self.fd = fd
        self.offset = offset
        self.count = count
        self.identity = identity
        self._chunk_size = chunk_size
        self._first = first

    @property
    def first(self) -> bytes:
        """The chunk read ahead and not taken yet."""
        return self._first

    def take_first(self) -> bytes:
        """The chunk read ahead, once (then b"")."""
        chunk, self._first = self._first, b""
        self.advance(len(chunk))
        return chunk

    def advance(self, sent: int) -> None:
        self.offset += sent
        self.count -= sent

    def check(self) -> None:
        """Raise ``ObjectChanged`` if the file is no longer the version it was opened as.

        Blocking (``fstat``): call it in the executor."""
        try:
            now = file_identity(os.fstat(self.fd))
        except OSError as exc:
            raise FileUnreadable() from exc
        if not same_version(self.identity, now):
            raise ObjectChanged()

    def __aiter__(self) -> FileBody:
        return self

    async def __anext__(self) -> bytes:
        if self._first:
            return self.take_first()
        if self.count <= 0:
            raise StopAsyncIteration
        loop = asyncio.get_running_loop()
        size = min(self._chunk_size, self.count)
        chunk = await loop.run_in_executor(None, self._read, size, self.offset)
        if not chunk:
            raise ObjectTruncated()
        self.advance(len(chunk))
        return chunk

    def _read(self, size: int, offset: int) -> bytes:
        try:
            chunk = os.pread(self.fd, size, offset)
        except OSError as exc:
            raise FileUnreadable() from exc
        # After the read: a write stamps the file before it copies its bytes in.
        self.check()
        return chunk


def range_header(byte_range: ByteRange) -> str:
    """The ``Range`` value that asks a backend for exactly ``byte_range``."""
    return f"bytes={byte_range.start}-{byte_range.end}"


# A vendor's exception classes, and the proxy error they become: its class, or a function
# of the exception that picks one (by the status or error code it carries).
VendorErrors = Sequence[
    tuple[
        type[Exception] | tuple[type[Exception], ...],
        type[ProxyError] | Callable[[Any], type[ProxyError]],
    ]
]


def translator(table: VendorErrors) -> Callable[[], AbstractContextManager[None]]:
    """A backend's one boundary: ``with translate(): ...`` raises a vendor error from
    ``table``'s first row that matches it (rows go most specific first), as that row's
    proxy error, the vendor's detail kept in ``__cause__`` (for logs only). A proxy
    error passes through; anything the table does not name propagates unchanged."""

    @contextmanager
    def translate() -> Iterator[None]:
        try:
            yield
        except ProxyError:
            raise
        except Exception as exc:
            for vendor, proxy_error in table:
                if isinstance(exc, vendor):
                    chosen = proxy_error if isinstance(proxy_error, type) else proxy_error(exc)
                    raise chosen() from exc
            raise

    return translate


def started(client: T | None, backend: str) -> T:
    """A backend's client, or BackendUnavailable if it is used before start() or after close()."""
    if client is None:
        raise BackendUnavailable(f"the {backend} client is not started")
    return client


async def read_chunks(
    read: Callable[[int], Awaitable[bytes]],
    size: int,
    translate: Callable[[], AbstractContextManager[None]],
) -> AsyncIterator[bytes]:
    """Chunks from ``read(size)`` until it returns nothing, vendor errors translated."""
    while True:
        with translate():
            chunk = await read(size)
        if not chunk:
            return
        yield chunk


# What stores report for an object saved without a type; the extension says more.
_UNTYPED = frozenset({"binary/octet-stream", "application/octet-stream", ""})


def stored_type(value: str | None) -> str | None:
    """The backend's content type, or None when it is only a store's default."""
    return None if value is None or value.split(";")[0].strip() in _UNTYPED else value


@runtime_checkable
class Storage(Protocol):
    """One configured provider."""

    name: str

    async def stat(self, key: str, *, scope: str = "") -> ObjectMeta:
        """Metadata of ``key``; raises ``NotFound`` or a ``BackendError``.

        ``scope`` is the prefix of the account asking ("": the whole provider). A
        backend whose names can lead elsewhere (symlinks on disk) answers NotFound
        for a key whose object does not really lie inside it; object stores,
        where a key is only itself, ignore it."""
        ...

    def open(
        self, key: str, byte_range: ByteRange | None, meta: ObjectMeta, *, scope: str = ""
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Chunks of ``key`` (the whole object when ``byte_range`` is None).

        ``meta`` is what ``stat`` returned just before; a backend may use it to
        make sure the bytes come from the same version. ``scope`` as for ``stat``.
        Leaving the context always releases the backend's file or connection,
        also mid-stream.
        """
        ...

    def listing(
        self, folder: str, start_after: str = "", *, scope: str = ""
    ) -> AsyncIterator[list[Listed]]:
        """The objects directly inside ``folder`` (a key prefix ending with "/"; objects of
        its subfolders are not listed), in ascending key order (by UTF-8 bytes), only keys
        after ``start_after`` when it is given. One list per backend call (a page), fetched
        as the caller iterates, so a caller that stops early pays for no further pages; a
        page may be empty.
        ``scope`` as for ``stat``: on disk, a folder reached through a symlink that leads
        outside it lists nothing. A missing folder lists nothing."""
        ...

    async def check(self) -> None:
        """Prove with a real, cheap call that the backend answers and the credentials work."""
        ...

    async def presign(self, key: str, expires_in: int) -> str | None:
        """The backend's own time-limited URL for ``key`` (native mode), or None if it has none."""
        ...

    async def close(self) -> None:
        """Release pooled clients; called once at shutdown."""
        ...


@runtime_checkable
class FetchesAtOnce(Protocol):
    """A provider that can answer a GET with one backend call instead of ``stat`` + ``open``."""

    name: str

    def fetch(
        self, key: str, wanted: str | None, *, scope: str = ""
    ) -> AbstractAsyncContextManager[Fetched | None]:
        """Metadata and the bytes of ``wanted`` (a ``Range`` value from ``requested_range``,
        or None for the whole object) in one call; ``scope`` as for ``Storage.stat``.

        None when the backend will not serve that range (unsatisfiable): the caller
        then asks ``stat``. The caller checks ``served`` against its own decision and
        falls back to ``open`` when they differ. Leaving the context releases the body.
        """
        ...
