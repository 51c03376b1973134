"""Accounts: who may have links, to which providers, under which prefix.

A link is checked against its account at serving time, not only when it was
issued, so disabling an account, unbinding a provider or narrowing a prefix
revokes every outstanding link at once. An account's secret is kept only as a
salted scrypt hash, and checking one costs the same whether the access key
exists or not.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from proxy.errors import Revoked
from proxy.fields import boolean, string, strings, ttl
from proxy.links.signing import LinkClaims


@dataclass(frozen=True, slots=True)
class Account:
    """One ``[accounts.NAME]``: its fields are the keys (``proxy.fields``); config checks them."""

    name: str  # not a key: the table's name
    providers: tuple[str, ...] = field(metadata=strings())  # the first is the default
    prefix: str = field(metadata=string())  # "": the whole provider; not set: "<name>/"
    enabled: bool = field(default=True, metadata=boolean())
    # Seconds; None: the server's maximum.
    max_expiry: int | None = field(default=None, metadata=ttl())
    # With secret_hash: may call the issuing endpoints.
    access_key: str | None = field(default=None, metadata=string(optional=True))
    secret_hash: str | None = field(default=None, repr=False, metadata=string(optional=True))

    @property
    def default_provider(self) -> str:
        return self.providers[0]

    def covers(self, filename: str) -> bool:
        return filename.startswith(self.prefix)


def authorize_link(accounts: Mapping[str, Account], claims: LinkClaims) -> Account:
    """The account behind a correctly signed, unexpired link, or ``Revoked`` saying why."""
    return authorize(accounts, claims.account, claims.provider, claims.filename)


def authorize(accounts: Mapping[str, Account], name: str, provider: str, scope: str) -> Account:
    """Account ``name``, if it still exists, is enabled, is bound to ``provider`` and its
    prefix covers ``scope`` (a key, or a token's folder); else ``Revoked`` saying which."""
    account = accounts.get(name)
    if account is None:
        raise Revoked("the link has been revoked: the account no longer exists")
    if not account.enabled:
        raise Revoked("the link has been revoked: the account is disabled")
    if provider not in account.providers:
        raise Revoked("the link has been revoked: the account is not bound to this provider")
    if not account.covers(scope):
        raise Revoked("the link has been revoked: the file is outside the account's prefix")
    return account


# scrypt cost: 2**15 x 8 x 1 takes ~75 ms and 32 MiB, the interactive-login range.
# The parameters travel inside every hash, so raising them later keeps old hashes valid.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_BYTES = 16
_HASH_BYTES = 32
_MAX_SCRYPT_MEMORY = 256 * 1024 * 1024


def hash_secret(secret: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64url) of ``secret``, with a fresh random salt."""
    salt = os.urandom(_SALT_BYTES)
    digest = _scrypt(secret.encode(), salt, n, r, p)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def check_secret_hash(text: str) -> None:
    """Raise ``ValueError`` unless ``text`` is a hash that ``hash_secret`` could have made."""
    _parse_hash(text)


def verify_secret(stored: str | None, secret: str) -> bool:
    """Constant-time check of ``secret``; with ``stored`` None, the same work against a decoy."""
    n, r, p, salt, expected = _parse_hash(stored) if stored else _DECOY
    actual = _scrypt(secret.encode(), salt, n, r, p)
    return hmac.compare_digest(actual, expected) and stored is not None


def _scrypt(secret: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret, salt=salt, n=n, r=r, p=p, maxmem=_MAX_SCRYPT_MEMORY, dklen=_HASH_BYTES
    )


def _parse_hash(text: str) -> tuple[int, int, int, bytes, bytes]:
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("not an scrypt hash (make one with: python -m proxy hash-secret)")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        raise ValueError("malformed scrypt hash") from None
    if (
        n < 2
        or n & (n - 1)
        or not 1 <= r <= 64
        or not 1 <= p <= 16
        or 128 * r * n > _MAX_SCRYPT_MEMORY
    ):
        raise ValueError("scrypt parameters out of range")
    if len(salt) < 8 or len(digest) != _HASH_BYTES:
        raise ValueError("malformed scrypt hash")
    return n, r, p, salt, digest


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text.replace("-", "").replace("_", "").isalnum() or not text.isascii():
        raise ValueError("bad base64")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("bad base64") from None


# Unknown access keys are checked against this, so they cost what a known one costs.
_DECOY = (SCRYPT_N, SCRYPT_R, SCRYPT_P, b"\0" * _SALT_BYTES, b"\0" * _HASH_BYTES)
