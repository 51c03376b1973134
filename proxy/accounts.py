"""Accounts: who may have links, to which providers, under which prefix; and the
credentials (key pairs) an account's systems issue links with.

A link is checked against its account at serving time, not only when it was
issued, so disabling an account, unbinding a provider or narrowing a prefix
revokes every outstanding link at once. A link names its account, not the
credential that issued it: disabling a credential stops that system issuing,
and leaves its links alone. A secret is kept only as a salted scrypt hash, and
checking one costs the same whether the access key exists or not.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from proxy.errors import Revoked
from proxy.fields import Table, boolean, string, strings, tables, ttl
from proxy.links.signing import LinkClaims

# The name of the credential an account's own access_key / secret_hash make.
DEFAULT_CREDENTIAL = "default"
MAX_ACCESS_KEY_CHARS = 128
_CREDENTIAL_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_ACCESS_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # base32: no 0/O or 1/I to misread
_ACCESS_KEY_CHARS = 20  # 100 random bits after "AK"


@dataclass(frozen=True, slots=True)
class Credential:
    """One ``[[accounts.NAME.credentials]]``: the key pair one system issues links with."""

    name: str = field(metadata=string(required=True))  # unique within its account
    access_key: str = field(metadata=string(required=True))  # unique across all accounts
    secret_hash: str = field(repr=False, metadata=string(required=True))
    enabled: bool = field(default=True, metadata=boolean())

    def checked(self, t: Table) -> Credential:
        if self.name:
            try:
                check_credential_name(self.name)
            except ValueError as exc:
                t.problem(t.key("name"), str(exc))
        if self.access_key and not (
            len(self.access_key) <= MAX_ACCESS_KEY_CHARS and self.access_key.isprintable()
        ):
            t.problem(t.key("access_key"), "must be 1-128 printable characters")
        if self.secret_hash:
            try:
                check_secret_hash(self.secret_hash)
            except ValueError as exc:
                t.problem(t.key("secret_hash"), str(exc))
        return self


@dataclass(frozen=True, slots=True)
class Account:
    """One ``[accounts.NAME]``: its fields are the keys (``proxy.fields``); config checks them."""

    name: str  # not a key: the table's name
    providers: tuple[str, ...] = field(metadata=strings())  # the first is the default
    prefix: str = field(metadata=string())  # "": the whole provider; not set: "<name>/"
    enabled: bool = field(default=True, metadata=boolean())
    # Seconds; None: the server's maximum.
    max_expiry: int | None = field(default=None, metadata=ttl())
    # With secret_hash: the credential named "default" (config adds it to ``credentials``).
    access_key: str | None = field(default=None, metadata=string(optional=True))
    secret_hash: str | None = field(default=None, repr=False, metadata=string(optional=True))
    # Who may call the issuing endpoints for this account; none: links only (proxy sign).
    credentials: tuple[Credential, ...] = field(default=(), metadata=tables(Credential))

    @property
    def default_provider(self) -> str:
        return self.providers[0]

    def covers(self, filename: str) -> bool:
        return filename.startswith(self.prefix)


def by_access_key(accounts: Mapping[str, Account]) -> dict[str, tuple[Account, Credential]]:
    """Every credential of every account, by its access key (config keeps them unique)."""
    return {c.access_key: (a, c) for a in accounts.values() for c in a.credentials}


def new_credential(name: str) -> tuple[Credential, str]:
    """A fresh credential named ``name`` and its secret, which is kept nowhere else."""
    access_key = "AK" + "".join(
        secrets.choice(_ACCESS_KEY_ALPHABET) for _ in range(_ACCESS_KEY_CHARS)
    )
    secret = secrets.token_urlsafe(32)
    return Credential(name, access_key, hash_secret(secret)), secret


def check_credential_name(name: str) -> None:
    if not _CREDENTIAL_NAME.fullmatch(name):
        raise ValueError("names are 1-64 characters of A-Z a-z 0-9 . _ -")


def credential_toml(account: str, credential: Credential) -> str:
    """The ``[[accounts.ACCOUNT.credentials]]`` block of ``credential``, ready to paste."""
    bare = re.fullmatch(r"[A-Za-z0-9_-]+", account)
    table = account if bare else json.dumps(account, ensure_ascii=False)

    def text(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string for these values

    return (
        f"[[accounts.{table}.credentials]]\n"
        f"name = {text(credential.name)}\n"
        f"access_key = {text(credential.access_key)}\n"
        f"secret_hash = {text(credential.secret_hash)}\n"
    )


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
