"""What an account name, a provider name and an object key may be (§1's rules for ``a``,
``p`` and ``f``), shared by parsing, issuing and every later link form.

Each check raises ``BadRequest`` naming the parameter, before any key or backend is touched.
"""

from __future__ import annotations

import re

from proxy.errors import BadRequest

MAX_NAME_CHARS = 128
MAX_FILENAME_BYTES = 1024

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def check_name(param: str, value: str) -> None:
    """The rules of ``a`` and ``p``: 1-128 printable characters."""
    if not value:
        raise BadRequest(f"parameter {param!r} is empty")
    if len(value) > MAX_NAME_CHARS:
        raise BadRequest(f"parameter {param!r} is longer than {MAX_NAME_CHARS} characters")
    if not value.isprintable():
        raise BadRequest(f"parameter {param!r} has a non-printable character")


def check_filename(value: str) -> None:
    """The rules of ``f``: 1-1024 bytes of UTF-8, no control character, no backslash, no
    leading ``/``, no empty, ``.`` or ``..`` segment."""
    if not value:
        raise BadRequest("parameter 'f' is empty")
    if _SURROGATE.search(value):  # not UTF-8 at all: it would not even encode
        raise BadRequest("parameter 'f' is not valid UTF-8")
    if len(value.encode()) > MAX_FILENAME_BYTES:
        raise BadRequest(f"parameter 'f' is longer than {MAX_FILENAME_BYTES} bytes")
    if _CONTROL.search(value):
        raise BadRequest("parameter 'f' has a control character")
    if "\\" in value:
        raise BadRequest("parameter 'f' has a backslash")
    if value.startswith("/"):
        raise BadRequest("parameter 'f' starts with '/'")
    for segment in value.split("/"):
        if segment in ("", ".", ".."):
            raise BadRequest("parameter 'f' has an empty, '.' or '..' path segment")
