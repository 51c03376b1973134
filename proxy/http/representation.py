"""The representation's own header values: ``Content-Type`` and ``Content-Disposition``. Pure.

The type is the backend's when it stored one worth trusting, else guessed from
the key's extension (a table of its own, so the host's ``/etc/mime.types``
never changes an answer), else ``application/octet-stream``. The disposition
is ``inline`` with the key's last segment as the file name (RFC 6266, RFC 8187).
"""

from __future__ import annotations

import functools
import mimetypes
import posixpath
from urllib.parse import quote

_TYPES = mimetypes.MimeTypes(filenames=())
for _ext, _type in {
    ".mkv": "video/x-matroska",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mpd": "application/dash+xml",
    ".m4a": "audio/mp4",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".wav": "audio/wav",
    ".webp": "image/webp",
}.items():
    _TYPES.add_type(_type, _ext)


@functools.lru_cache(maxsize=4096)  # pure, and asked on every answer
def content_type(stored: str | None, key: str) -> str:
    """``stored`` (the backend's type, None when it has none), else one for ``key``'s extension."""
    if stored:
        return stored
    guessed, _ = _TYPES.guess_type(posixpath.basename(key), strict=False)
    return guessed or "application/octet-stream"


@functools.lru_cache(maxsize=4096)
def content_disposition(key: str, download: bool | str | None = None) -> str:
    """``inline`` (or ``attachment`` when ``download`` is set) with an ASCII fallback and the
    exact UTF-8 name (RFC 6266, RFC 8187): ``download``'s name if a string, else the key's
    last segment."""
    name = download if isinstance(download, str) else posixpath.basename(key)
    kind = "attachment" if download else "inline"
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
