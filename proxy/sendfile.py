"""Zero copy from disk to a client socket: ``os.sendfile`` driven from the event loop.

uvloop has no ``loop.sendfile``, so the calls run in the executor (a cold disk
blocks a worker thread, never the loop), and the loop waits for the socket to
drain on a duplicate of its descriptor. What to send and when to stop is the
relay's (``proxy.streaming``); this module is only the mechanism.
"""

from __future__ import annotations

import asyncio
import errno
import os

from aiohttp import web

from proxy.errors import FileUnreadable, ObjectTruncated
from proxy.storage.base import FileBody


def plain_socket(request: web.Request) -> int | None:
    """The client socket's descriptor when bytes may go to it directly (plain TCP, open)."""
    transport = request.transport
    if transport is None or transport.is_closing():
        return None
    if transport.get_extra_info("sslcontext") is not None:
        return None
    sock = transport.get_extra_info("socket")
    fileno = getattr(sock, "fileno", None)
    fd = fileno() if fileno is not None else -1
    return fd if isinstance(fd, int) and fd >= 0 else None


async def send_file(request: web.Request, body: FileBody, idle: float, keep: int = 0) -> None:
    """The rest of ``body`` but its last ``keep`` bytes, with ``sendfile``: the kernel
    copies page cache to socket.

    Every call goes through a duplicate of the client socket's descriptor, taken
    with no await since the transport was seen open: if the transport closes
    meanwhile, its descriptor number may be reused by another connection, and
    this one's bytes must never go there. Each call runs in the executor (a cold
    file blocks there, never the loop) and sends what fits; when nothing fits,
    the loop waits until the socket drains. The transport's own buffer is always
    empty first, so no byte overtakes the headers. ``body`` keeps the position.
    Each call first checks that the file is still the version the body started
    from, so a changed one stops the transfer at the next call.
    """
    loop = asyncio.get_running_loop()
    transport = request.transport
    socket_fd = plain_socket(request)
    if transport is None or socket_fd is None:
        raise ConnectionResetError("the client went away")
    out = os.dup(socket_fd)
    try:
        while body.count > keep:
            if transport.is_closing():
                raise ConnectionResetError("the client went away")
            if transport.get_write_buffer_size() == 0:
                call = loop.run_in_executor(None, _sendfile_some, out, body, body.count - keep)
                try:
                    n = await asyncio.shield(call)
                except asyncio.CancelledError:
                    # Both descriptors close when this unwinds: not while a worker uses them.
                    await asyncio.wait([call])
                    raise
                if n > 0:
                    body.advance(n)
                    continue
            await _writable(loop, out, idle)
    finally:
        os.close(out)


# What the socket side of sendfile can fail with; anything else is the file's fault.
_SOCKET_ERRORS = frozenset(
    {
        errno.EPIPE,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ENOTCONN,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
    }
)
_SENDFILE_MAX = 16 << 20  # per call, so a fast client still lets the executor breathe


def _sendfile_some(socket_fd: int, body: FileBody, count: int) -> int:
    """Bytes of ``body`` sent, at most ``count`` (0: the socket is full); runs in the executor."""
    body.check()
    try:
        n = os.sendfile(socket_fd, body.fd, body.offset, min(count, _SENDFILE_MAX))
    except BlockingIOError:
        return 0
    except ConnectionError:
        raise
    except OSError as exc:
        if exc.errno in _SOCKET_ERRORS:
            raise ConnectionResetError(exc.errno, "the client connection failed") from exc
        raise FileUnreadable() from exc
    if n == 0:
        raise ObjectTruncated()
    return n


async def _writable(loop: asyncio.AbstractEventLoop, fd: int, idle: float) -> None:
    """Wait until ``fd`` can take bytes; TimeoutError after ``idle`` seconds."""
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    try:
        async with asyncio.timeout(idle):
            await ready
    finally:
        loop.remove_writer(fd)
