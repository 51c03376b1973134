"""Request header values as text, or a 400.

aiohttp decodes header bytes as UTF-8 with ``surrogateescape``, so a byte that
is not UTF-8 arrives as a lone surrogate (``\\udcff``) that raises wherever the
value is encoded again. Values read through here are refused first: no
surrogate, no control character.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from proxy.errors import BadRequest

_UNFIT = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def header_text(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` (None when absent), or ``BadRequest``."""
    value = headers.get(name)
    if value is not None:
        check_text(name, value)
    return value


def check_text(name: str, value: str) -> None:
    """``BadRequest`` unless ``value`` is UTF-8 text without control characters."""
    if _UNFIT.search(value):
        raise BadRequest(f"header {name} is not UTF-8 text without control characters")
