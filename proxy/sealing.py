"""Sealed configuration values: ``enc:v1:`` + AES-256-GCM under ``PROXY_MASTER_KEY``.

Each value gets its own random salt and nonce. The AES key is derived from the
master key and the salt with HKDF-SHA256, and the name of the config field the
value belongs to is bound as associated data: a sealed S3 secret pasted into
another field does not open. Nothing here ever puts a plaintext, a master key
or a sealed value into an exception message.
"""

from __future__ import annotations

import base64
import binascii
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "enc:v1:"
MASTER_KEY_ENV = "PROXY_MASTER_KEY"
MIN_MASTER_KEY_BYTES = 32
_SALT = 16
_NONCE = 12
_INFO = b"proxy sealed config value v1"
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


class SealError(ValueError):
    """The value cannot be sealed or opened; the message is safe to print."""


def seal(plaintext: str, field: str, master_key: str) -> str:
    salt, nonce = os.urandom(_SALT), os.urandom(_NONCE)
    sealed = AESGCM(_derive(master_key, salt)).encrypt(nonce, plaintext.encode(), _aad(field))
    return PREFIX + base64.urlsafe_b64encode(salt + nonce + sealed).rstrip(b"=").decode("ascii")


def unseal(token: str, field: str, master_key: str) -> str:
    if not token.startswith(PREFIX):
        raise SealError("not a sealed value")
    body = token[len(PREFIX) :]
    if not _B64URL.fullmatch(body):
        raise SealError("sealed value is not valid base64url")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise SealError("sealed value is not valid base64url") from None
    if len(raw) < _SALT + _NONCE + 16:
        raise SealError("sealed value is truncated")
    salt, nonce, sealed = raw[:_SALT], raw[_SALT : _SALT + _NONCE], raw[_SALT + _NONCE :]
    try:
        plain = AESGCM(_derive(master_key, salt)).decrypt(nonce, sealed, _aad(field))
    except InvalidTag:
        raise SealError(
            f"cannot be unsealed: wrong {MASTER_KEY_ENV}, a tampered value, "
            "or a value sealed for another field"
        ) from None
    try:
        return plain.decode()
    except UnicodeDecodeError:
        raise SealError("sealed value is not UTF-8 text") from None


def _derive(master_key: str, salt: bytes) -> bytes:
    raw = master_key.encode()
    if len(raw) < MIN_MASTER_KEY_BYTES:
        raise SealError(f"{MASTER_KEY_ENV} must be at least {MIN_MASTER_KEY_BYTES} bytes")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO).derive(raw)


_INDEX = re.compile(r"\[[0-9]+\]")


def _aad(field: str) -> bytes:
    # List items share their list's name, so reordering previous_keys keeps them valid; a
    # key inside a list's table keeps its own name: signing.previous_keys[2].key is sealed
    # as signing.previous_keys.key, which its .id cannot open.
    return _INDEX.sub("", field).encode()
