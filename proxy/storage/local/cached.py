"""Opening and reading a file on the event loop, when the kernel's caches hold it all.

A trip to the executor costs more than the syscalls of a seek (a thread handoff and
the GIL coming back, tens to hundreds of microseconds on a busy machine, where the
open, fstat and read of a cached 1 KiB range take a few). Linux can say, instead of
blocking, that something is not in memory: ``openat2`` with ``RESOLVE_CACHED``
(Linux 5.12) fails with EAGAIN unless every path component is in the dentry cache,
and ``preadv2`` with ``RWF_NOWAIT`` (Linux 4.14) fails or comes back short unless
the bytes are in the page cache. So the loop tries first, and anything it cannot do
at once (a cold file, a symlink on the way, any error, a missing file) goes to
the executor exactly as before: the answer never differs, only where it is made.

``openat2`` also refuses to follow any symlink (``RESOLVE_NO_SYMLINKS``), so what it
opens is what the component-by-component walk would open. A kernel or sandbox that
lacks it (ENOSYS, EPERM from seccomp) turns this path off for the process.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat as stat_mod
import sys

# struct open_how (linux/openat2.h) and its resolve flags.
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_CACHED = 0x20
_RESOLVE = _RESOLVE_NO_MAGICLINKS | _RESOLVE_NO_SYMLINKS | _RESOLVE_CACHED
_SYS_OPENAT2 = 437  # the same number on every Linux architecture (the unified table)
_AT_FDCWD = -100
# The errors that mean this kernel or sandbox has no usable openat2.
_UNSUPPORTED = frozenset({errno.ENOSYS, errno.EPERM, errno.EINVAL, errno.E2BIG})


class _OpenHow(ctypes.Structure):
    _fields_ = (
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    )


def _syscall() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    if not sys.platform.startswith("linux") or not hasattr(os, "RWF_NOWAIT"):
        return None
    try:
        # PyDLL: the GIL stays held through the call (it cannot block: RESOLVE_CACHED),
        # so the loop never waits to get it back from an executor thread.
        call = ctypes.PyDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return None
    call.restype = ctypes.c_long
    return call


_call = _syscall()


def open_cached(path: str, flags: int) -> tuple[int, os.stat_result] | None:
    """``path`` (absolute, free of symlinks by the caller's realpath) opened and
    fstat'ed without blocking, if it is a regular file and the caches hold its path;
    None when the executor must decide, a missing file too (Linux 6 answers EAGAIN for a
    name it has not cached as present, so its 404 comes from the executor's walk)."""
    global _call
    call = _call
    if call is None:
        return None
    how = _OpenHow(flags, 0, _RESOLVE)
    fd = call(
        ctypes.c_long(_SYS_OPENAT2),
        ctypes.c_int(_AT_FDCWD),
        ctypes.c_char_p(os.fsencode(path)),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd < 0:
        if ctypes.get_errno() in _UNSUPPORTED:
            _call = None  # never again in this process: the walk in the executor always
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        return None
    if not stat_mod.S_ISREG(st.st_mode):
        os.close(fd)
        return None  # the walk gives the same NotFound, in its own words
    return fd, st


def read_cached(fd: int, size: int, offset: int) -> bytes | None:
    """``size`` bytes at ``offset`` if the page cache holds them all, else None."""
    buffer = bytearray(size)
    try:
        got = os.preadv(fd, [buffer], offset, os.RWF_NOWAIT)
    except OSError:
        return None  # EAGAIN (not cached), EOPNOTSUPP (a file system without it), ...
    if got != size:
        return None
    return bytes(buffer)


def usable() -> bool:
    """Whether this process still tries the loop first."""
    return _call is not None
