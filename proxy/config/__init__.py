"""Configuration: one TOML file plus Vault's environment variables, read in one place.

``load`` reads the file and ``parse`` checks it all, returning frozen ``Settings``
or raising one ``ConfigError`` that lists every problem found, each named by its
key. What a key is called, its default and its bounds are said once, by the field
of its settings dataclass:

- ``sections``: ``[server]``, ``[signing]``, ``[issuing]`` and ``Settings``
- ``proxy.storage.<kind>.settings``: each ``[providers.NAME]``, beside its backend
- ``proxy.accounts.Account``: each ``[accounts.NAME]``
- ``reader``: the one reader that walks those fields (``env:`` and ``enc:v1:`` values)

The rules that span sections (an account's providers and lifetime, unique access
keys) are here.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from proxy.accounts import Account, check_secret_hash
from proxy.config.reader import Reader
from proxy.config.sections import (
    MAX_LINK_SECONDS,
    IssuingSettings,
    ServerSettings,
    Settings,
    SigningSettings,
)
from proxy.errors import ConfigError
from proxy.fields import one_of
from proxy.storage import (
    PROVIDER_KINDS,
    AzureProvider,
    GcsProvider,
    LocalProvider,
    ProviderSettings,
    S3Provider,
)

__all__ = [
    "MAX_LINK_SECONDS",
    "AzureProvider",
    "GcsProvider",
    "IssuingSettings",
    "LocalProvider",
    "ProviderSettings",
    "S3Provider",
    "ServerSettings",
    "Settings",
    "SigningSettings",
    "load",
    "parse",
]

_SECTIONS = ("server", "signing", "issuing", "providers", "accounts")


def load(path: str | os.PathLike[str], environ: Mapping[str, str]) -> Settings:
    """Read a TOML file; raise ``ConfigError`` naming the file, key and problem."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(source, [("(file)", "no such file")]) from None
    except OSError as exc:
        raise ConfigError(source, [("(file)", f"cannot be read ({exc.strerror})")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [("(file)", f"not valid TOML ({exc})")]) from None
    return parse(data, source, environ)


def parse(data: Mapping[str, Any], source: str, environ: Mapping[str, str]) -> Settings:
    """Build ``Settings`` from an already-decoded TOML document."""
    r = Reader(environ)
    r.only(data, "", _SECTIONS)
    server_t, signing_t, issuing_t, providers_t, accounts_t = (
        r.table(data, name) for name in _SECTIONS
    )
    issuing = r.section(IssuingSettings, issuing_t, "issuing")
    server = r.section(ServerSettings, server_t, "server")
    signing = r.section(SigningSettings, signing_t, "signing")
    providers = {name: _provider(r, name, t) for name, t in r.subtables(providers_t, "providers")}
    if not providers_t:
        r.problem("providers", "at least one provider is required")
    accounts = {
        name: _account(r, name, t, providers, signing.max_expiry)
        for name, t in r.subtables(accounts_t, "accounts")
    }
    seen: dict[str, str] = {}
    for account in accounts.values():
        if account.access_key in seen:
            r.problem(
                f"accounts.{account.name}.access_key", f"also used by {seen[account.access_key]!r}"
            )
        elif account.access_key:
            seen[account.access_key] = account.name
    if r.problems:
        raise ConfigError(source, r.problems)
    return Settings(source, server, signing, issuing, providers, accounts)


def _provider(r: Reader, name: str, t: Mapping[str, Any]) -> ProviderSettings:
    where = f"providers.{name}"
    r.name(name, where)
    kind = r.string(t, f"{where}.kind")
    settings = PROVIDER_KINDS.get(kind)
    if settings is None:
        r.problem(f"{where}.kind", one_of(tuple(PROVIDER_KINDS)))
        return LocalProvider(name=name, root=Path("/"))
    keys = {key: value for key, value in t.items() if key != "kind"}  # kind chose the class
    return r.section(settings, keys, where, name=name)


def _account(
    r: Reader,
    name: str,
    t: Mapping[str, Any],
    providers: Mapping[str, ProviderSettings],
    server_max: int,
) -> Account:
    where = f"accounts.{name}"
    r.name(name, where)
    account, view = r.read(Account, t, where, name=name)
    if not account.providers:
        r.problem(f"{where}.providers", "at least one provider is required")
    for p in account.providers:
        if p not in providers:
            r.problem(f"{where}.providers", f"unknown provider {p!r}")
    prefix = account.prefix if view.given("prefix") else f"{name}/"
    if prefix.startswith("/"):
        r.problem(f"{where}.prefix", "must not start with '/'")
    elif prefix and not prefix.endswith("/"):
        # "cam" would also cover "camera/...": a prefix is a folder, or the whole provider.
        r.problem(f"{where}.prefix", 'must be "" or end with "/"')
    if account.max_expiry is not None and account.max_expiry > server_max:
        r.problem(f"{where}.max_expiry", "is longer than signing.max_expiry")
    access_key, secret_hash = account.access_key, account.secret_hash
    if (access_key is None) != (secret_hash is None):
        r.problem(where, "set both access_key and secret_hash, or neither (links only)")
    if access_key is not None and not (1 <= len(access_key) <= 128 and access_key.isprintable()):
        r.problem(f"{where}.access_key", "must be 1-128 printable characters")
    if secret_hash is not None:
        try:
            check_secret_hash(secret_hash)
        except ValueError as exc:
            r.problem(f"{where}.secret_hash", str(exc))
    return replace(account, prefix=prefix)
