"""Configuration: one TOML file plus Vault's environment variables, read in one place.

``load`` reads the file and ``parse`` checks it all, returning frozen ``Settings``
or raising one ``ConfigError`` that lists every problem found, each named by its
key. What a key is called, its default and its bounds are said once, by the field
of its settings dataclass:

- ``sections``: ``[server]``, ``[signing]``, ``[issuing]`` and ``Settings``
- ``proxy.storage.<kind>.settings``: each ``[providers.NAME]``, beside its backend
- ``proxy.accounts.Account``: each ``[accounts.NAME]``
- ``reader``: the one reader that walks those fields (``env:`` and ``enc:v1:`` values)

The rules that span sections (an account's providers and lifetime, its
credentials' names, access keys unique across every account) are here.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from proxy.accounts import DEFAULT_CREDENTIAL, Account, Credential
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
    _unique_access_keys(r, accounts)
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
    credentials = account.credentials
    if (access_key is None) != (secret_hash is None):
        r.problem(where, "set both access_key and secret_hash, or neither (links only)")
    elif access_key is not None and secret_hash is not None:
        # The account's own pair is its credential "default", checked under the account's keys.
        credentials = (Credential(DEFAULT_CREDENTIAL, access_key, secret_hash).checked(view),)
        credentials += account.credentials
    account = replace(account, prefix=prefix, credentials=credentials)
    names: set[str] = set()
    for key, credential in _credential_keys(account):
        if credential.name in names:
            r.problem(f"{key}.name", f"{credential.name!r} is already a credential of {name!r}")
        names.add(credential.name)
    return account


def _credential_keys(account: Account) -> list[tuple[str, Credential]]:
    """Each credential of ``account`` with the table it came from, as problems name it."""
    where = f"accounts.{account.name}"
    legacy = int(account.access_key is not None and account.secret_hash is not None)
    return [
        (where if i < legacy else f"{where}.credentials[{i - legacy}]", credential)
        for i, credential in enumerate(account.credentials)
    ]


def _unique_access_keys(r: Reader, accounts: Mapping[str, Account]) -> None:
    """One access key, one credential: a problem names each key that repeats an earlier one."""
    seen: dict[str, str] = {}
    for account in accounts.values():
        for key, credential in _credential_keys(account):
            first = seen.get(credential.access_key)
            if first is not None:
                r.problem(f"{key}.access_key", f"also used by {first}")
            elif credential.access_key:
                seen[credential.access_key] = f"{account.name!r} (credential {credential.name!r})"
