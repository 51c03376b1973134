"""Configuration: one TOML file plus Vault's environment variables, read in one place.

``load`` reads the file, resolves ``env:NAME`` values, applies the ``VAULT_*``
overrides, checks everything, and either returns frozen ``Settings`` or raises
one ``ConfigError`` that lists every problem found, each named by its key.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from proxy import sealing
from proxy.accounts import Account, check_secret_hash
from proxy.durations import parse_go_duration, parse_ttl
from proxy.errors import ConfigError
from proxy.signing import MIN_KEY_BYTES

PROVIDER_KINDS = ("local", "s3", "gcs", "azure")
# Ten years: far below what a 12-digit `e` can hold, whatever the clock says.
MAX_LINK_SECONDS = 10 * 365 * 86400
ENV_PREFIX = "env:"
FORWARDED_HEADERS = ("X-Forwarded-For", "Forwarded")
IPNetwork = IPv4Network | IPv6Network


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8085
    public_url: str = "http://127.0.0.1:8085"
    cors_allow_origins: tuple[str, ...] = ("*",)
    access_log: bool = True
    chunk_size: int = 256 * 1024
    client_timeout: float = 60.0  # a client that takes no bytes for this long is cut off
    backend_timeout: float = 15.0  # to a backend's metadata answer or a body's first byte
    max_streams: int = 1000  # bodies relayed at once by one process; then 503
    max_header_bytes: int = 16384  # request line and each header field
    max_header_fields: int = 100  # header fields in one request
    max_head_bytes: int = 32768  # request line and every header field together
    header_timeout: float = 10.0  # a request head (from the connection or its first byte) in full
    body_timeout: float = 30.0  # a request body in full
    max_connections: int = 2048  # open client connections per process; idle ones are evicted
    trusted_proxies: tuple[IPNetwork, ...] = ()  # peers whose forwarded_header is believed
    forwarded_header: str = "X-Forwarded-For"  # or "Forwarded" (RFC 7239)
    keepalive_timeout: float = 75.0
    shutdown_grace: float = 30.0  # SIGTERM: in-flight requests get this long to finish
    check_interval: float = 30.0  # how often /readyz's provider checks run


@dataclass(frozen=True, slots=True)
class SigningSettings:
    key: bytes = field(repr=False)
    previous_keys: tuple[bytes, ...] = field(default=(), repr=False)
    default_expiry: int = 86400
    max_expiry: int = 7 * 86400
    vault_signing: bool = True


@dataclass(frozen=True, slots=True)
class IssuingSettings:
    max_body_bytes: int = 1024 * 1024
    max_items: int = 1000
    auth_failures: int = 10  # failed authentications allowed per window, per client and per key
    auth_window: int = 300  # seconds


@dataclass(frozen=True, slots=True)
class LocalProvider:
    name: str
    root: Path
    kind: Literal["local"] = "local"


@dataclass(frozen=True, slots=True)
class S3Provider:
    name: str
    bucket: str
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    max_connections: int = 64
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 2
    # aiohttp pauses reading a body at twice this: more is faster, but a slow client holds it.
    read_buffer_bytes: int = 1 << 16
    kind: Literal["s3"] = "s3"


@dataclass(frozen=True, slots=True)
class GcsProvider:
    name: str
    bucket: str
    endpoint_url: str | None = None  # an emulator; None: Google's API
    credentials_json: str | None = field(default=None, repr=False)  # None: anonymous (emulator)
    max_connections: int = 64
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    kind: Literal["gcs"] = "gcs"


@dataclass(frozen=True, slots=True)
class AzureProvider:
    name: str
    container: str
    account_name: str | None = None
    account_key: str | None = field(default=None, repr=False)
    connection_string: str | None = field(default=None, repr=False)
    endpoint_url: str | None = None  # e.g. Azurite's http://127.0.0.1:10000/<account>
    max_connections: int = 64
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 2
    kind: Literal["azure"] = "azure"


ProviderSettings = LocalProvider | S3Provider | GcsProvider | AzureProvider


@dataclass(frozen=True, slots=True)
class Settings:
    source: str
    server: ServerSettings
    signing: SigningSettings
    issuing: IssuingSettings
    providers: Mapping[str, ProviderSettings]
    accounts: Mapping[str, Account]


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
    r = _Reader(environ)
    r.only(data, "", ("server", "signing", "issuing", "providers", "accounts"))
    server_t = r.table(data, "server")
    signing_t = r.table(data, "signing")
    issuing = _issuing(r, r.table(data, "issuing"))
    providers_t = r.table(data, "providers")
    accounts_t = r.table(data, "accounts")

    server = _server(r, server_t, environ)
    signing = _signing(r, signing_t, environ)
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


def _issuing(r: _Reader, t: Mapping[str, Any]) -> IssuingSettings:
    r.only(t, "issuing", ("max_body_bytes", "max_items", "auth_failures", "auth_window"))
    return IssuingSettings(
        max_body_bytes=r.integer(
            t, "issuing.max_body_bytes", default=1 << 20, low=64, high=64 << 20
        ),
        max_items=r.integer(t, "issuing.max_items", default=1000, low=1, high=100_000),
        auth_failures=r.integer(t, "issuing.auth_failures", default=10, low=1, high=1_000_000),
        auth_window=r.ttl(t, "issuing.auth_window", default=300),
    )


def _server(r: _Reader, t: Mapping[str, Any], environ: Mapping[str, str]) -> ServerSettings:
    r.only(
        t,
        "server",
        (
            "host", "port", "public_url", "cors_allow_origins", "access_log", "chunk_size",
            "client_timeout", "backend_timeout", "max_streams", "max_header_bytes",
            "max_header_fields", "max_head_bytes", "header_timeout", "body_timeout",
            "max_connections", "trusted_proxies", "forwarded_header",
            "keepalive_timeout", "shutdown_grace", "check_interval",
        ),
    )  # fmt: skip
    host = r.string(t, "server.host", default="127.0.0.1")
    port = r.integer(t, "server.port", default=8085, low=1, high=65535)
    public_url = environ.get("VAULT_PUBLIC_URL") or r.string(
        t, "server.public_url", default=f"http://{_url_host(host)}:{port}"
    )
    key = "VAULT_PUBLIC_URL" if environ.get("VAULT_PUBLIC_URL") else "server.public_url"
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        r.problem(key, "must be an http(s) URL with no query or fragment")
    origins = r.string_list(t, "server.cors_allow_origins", default=["*"])
    line_bytes = r.integer(t, "server.max_header_bytes", default=16384, low=4096, high=1 << 20)
    head_bytes = r.integer(t, "server.max_head_bytes", default=32768, low=4096, high=4 << 20)
    if head_bytes < line_bytes:
        r.problem("server.max_head_bytes", "must be at least server.max_header_bytes")
    forwarded = r.string(t, "server.forwarded_header", default="X-Forwarded-For")
    if forwarded.lower() not in (h.lower() for h in FORWARDED_HEADERS):
        r.problem("server.forwarded_header", f"must be one of {', '.join(FORWARDED_HEADERS)}")
    return ServerSettings(
        host=host,
        port=port,
        public_url=public_url.rstrip("/"),
        cors_allow_origins=tuple(origins),
        access_log=r.boolean(t, "server.access_log", default=True),
        chunk_size=r.integer(t, "server.chunk_size", default=256 * 1024, low=4096, high=16 << 20),
        client_timeout=r.seconds(t, "server.client_timeout", default=60.0),
        backend_timeout=r.seconds(t, "server.backend_timeout", default=15.0),
        max_streams=r.integer(t, "server.max_streams", default=1000, low=1, high=1_000_000),
        max_header_bytes=line_bytes,
        max_header_fields=r.integer(t, "server.max_header_fields", default=100, low=8, high=1000),
        max_head_bytes=head_bytes,
        header_timeout=r.seconds(t, "server.header_timeout", default=10.0),
        body_timeout=r.seconds(t, "server.body_timeout", default=30.0),
        max_connections=r.integer(
            t, "server.max_connections", default=2048, low=16, high=1_000_000
        ),
        trusted_proxies=_networks(r, t, "server.trusted_proxies"),
        forwarded_header=next(
            (h for h in FORWARDED_HEADERS if h.lower() == forwarded.lower()), "X-Forwarded-For"
        ),
        keepalive_timeout=r.seconds(t, "server.keepalive_timeout", default=75.0),
        shutdown_grace=r.seconds(t, "server.shutdown_grace", default=30.0),
        check_interval=r.seconds(t, "server.check_interval", default=30.0),
    )


def _networks(r: _Reader, t: Mapping[str, Any], key: str) -> tuple[IPNetwork, ...]:
    networks = []
    for i, text in enumerate(r.string_list(t, key, default=[])):
        try:
            networks.append(ip_network(text.strip(), strict=False))
        except ValueError:
            r.problem(f"{key}[{i}]", "must be an IP address or CIDR, e.g. 10.0.0.0/8")
    return tuple(networks)


def _signing(r: _Reader, t: Mapping[str, Any], environ: Mapping[str, str]) -> SigningSettings:
    r.only(t, "signing", ("key", "previous_keys", "default_expiry", "max_expiry"))
    if "VAULT_URL_SIGNING_KEY" in environ:
        key_name, key = "VAULT_URL_SIGNING_KEY", environ["VAULT_URL_SIGNING_KEY"]
    else:
        key_name, key = "signing.key", r.string(t, "signing.key", default="")
    if not key:
        r.problem(key_name, "a signing key is required (python -m proxy keygen makes one)")
    elif len(key.encode()) < MIN_KEY_BYTES:
        r.problem(key_name, f"shorter than {MIN_KEY_BYTES} bytes")
    previous = r.string_list(t, "signing.previous_keys", default=[])
    for i, old in enumerate(previous):
        if len(old.encode()) < MIN_KEY_BYTES:
            r.problem(f"signing.previous_keys[{i}]", f"shorter than {MIN_KEY_BYTES} bytes")

    max_expiry = r.ttl(t, "signing.max_expiry", default=7 * 86400)
    if max_expiry > MAX_LINK_SECONDS:
        r.problem("signing.max_expiry", "must be at most ten years")
    if "DEFAULT_URI_EXPIRY_TIME" in environ:
        default_expiry = r.ttl_value(
            environ["DEFAULT_URI_EXPIRY_TIME"], "DEFAULT_URI_EXPIRY_TIME", 86400
        )
    else:
        default_expiry = r.ttl(t, "signing.default_expiry", default=86400)
    if default_expiry > max_expiry:
        r.problem("signing.default_expiry", "is longer than signing.max_expiry")

    vault_signing = True
    if "VAULT_SIGNING" in environ:
        flag = environ["VAULT_SIGNING"].strip().lower()
        if flag not in ("true", "false", "1", "0"):
            r.problem("VAULT_SIGNING", "must be true or false")
        vault_signing = flag in ("true", "1")
    return SigningSettings(
        key=key.encode(),
        previous_keys=tuple(old.encode() for old in previous),
        default_expiry=default_expiry,
        max_expiry=max_expiry,
        vault_signing=vault_signing,
    )


def _provider(r: _Reader, name: str, t: Mapping[str, Any]) -> ProviderSettings:
    where = f"providers.{name}"
    r.name(name, where)
    kind = r.string(t, f"{where}.kind", default="")
    if kind == "local":
        r.only(t, where, ("kind", "root"))
        root = Path(r.string(t, f"{where}.root", default=""))
        if not str(root) or not root.is_absolute():
            r.problem(f"{where}.root", "must be an absolute path")
        elif not root.is_dir():
            r.problem(f"{where}.root", f"{root} is not a directory")
        return LocalProvider(name=name, root=root)
    if kind == "s3":
        r.only(
            t,
            where,
            (
                "kind", "bucket", "endpoint_url", "region", "access_key_id", "secret_access_key",
                "session_token", "addressing_style", "max_connections", "connect_timeout",
                "read_timeout", "retries", "read_buffer_bytes",
            ),
        )  # fmt: skip
        endpoint = _endpoint(r, t, where)
        access = r.string(t, f"{where}.access_key_id", default="") or None
        secret = r.string(t, f"{where}.secret_access_key", default="") or None
        if (access is None) != (secret is None):
            r.problem(where, "set both access_key_id and secret_access_key, or neither")
        style = r.string(t, f"{where}.addressing_style", default="path" if endpoint else "auto")
        if style not in ("auto", "path", "virtual"):
            r.problem(f"{where}.addressing_style", "must be auto, path or virtual")
            style = "auto"
        return S3Provider(
            name=name,
            bucket=_required(r, t, f"{where}.bucket"),
            endpoint_url=endpoint,
            region=_region(r, t, f"{where}.region"),
            access_key_id=access,
            secret_access_key=secret,
            session_token=r.string(t, f"{where}.session_token", default="") or None,
            addressing_style=style,  # type: ignore[arg-type]
            max_connections=r.integer(t, f"{where}.max_connections", default=64, low=1, high=4096),
            connect_timeout=r.seconds(t, f"{where}.connect_timeout", default=5.0),
            read_timeout=r.seconds(t, f"{where}.read_timeout", default=30.0),
            retries=r.integer(t, f"{where}.retries", default=2, low=0, high=10),
            read_buffer_bytes=r.integer(
                t, f"{where}.read_buffer_bytes", default=1 << 16, low=1 << 14, high=1 << 24
            ),
        )
    if kind == "gcs":
        return _gcs(r, name, t)
    if kind == "azure":
        return _azure(r, name, t)
    r.problem(f"{where}.kind", f"must be one of {', '.join(PROVIDER_KINDS)}")
    return LocalProvider(name=name, root=Path("/"))


def _gcs(r: _Reader, name: str, t: Mapping[str, Any]) -> GcsProvider:
    where = f"providers.{name}"
    r.only(
        t,
        where,
        (
            "kind", "bucket", "endpoint_url", "credentials_file", "credentials_json",
            "max_connections", "connect_timeout", "read_timeout",
        ),
    )  # fmt: skip
    endpoint = _endpoint(r, t, where)
    credentials = r.string(t, f"{where}.credentials_json", default="") or None
    path = r.string(t, f"{where}.credentials_file", default="")
    if path and credentials:
        r.problem(where, "set credentials_file or credentials_json, not both")
    elif path:
        try:
            credentials = Path(path).read_text()
        except OSError as exc:
            r.problem(f"{where}.credentials_file", f"cannot be read ({exc.strerror})")
    if credentials is not None:
        try:
            doc = json.loads(credentials)
            if not isinstance(doc, dict) or "client_email" not in doc:
                raise ValueError
        except ValueError:
            key = f"{where}.credentials_file" if path else f"{where}.credentials_json"
            r.problem(key, "must be a service-account JSON document")
    elif endpoint is None:
        r.problem(where, "Google's API needs credentials_file or credentials_json")
    return GcsProvider(
        name=name,
        bucket=_required(r, t, f"{where}.bucket"),
        endpoint_url=endpoint,
        credentials_json=credentials,
        max_connections=r.integer(t, f"{where}.max_connections", default=64, low=1, high=4096),
        connect_timeout=r.seconds(t, f"{where}.connect_timeout", default=5.0),
        read_timeout=r.seconds(t, f"{where}.read_timeout", default=30.0),
    )


def _azure(r: _Reader, name: str, t: Mapping[str, Any]) -> AzureProvider:
    where = f"providers.{name}"
    r.only(
        t,
        where,
        (
            "kind", "container", "account_name", "account_key", "connection_string",
            "endpoint_url", "max_connections", "connect_timeout", "read_timeout", "retries",
        ),
    )  # fmt: skip
    if importlib.util.find_spec("azure.storage.blob") is None:
        r.problem(f"{where}.kind", "azure needs the azure extra: pip install 'proxy[azure]'")
    account = r.string(t, f"{where}.account_name", default="") or None
    key = r.string(t, f"{where}.account_key", default="") or None
    connection = r.string(t, f"{where}.connection_string", default="") or None
    if connection is None and (account is None or key is None):
        r.problem(where, "set connection_string, or account_name and account_key")
    return AzureProvider(
        name=name,
        container=_required(r, t, f"{where}.container"),
        account_name=account,
        account_key=key,
        connection_string=connection,
        endpoint_url=_endpoint(r, t, where),
        max_connections=r.integer(t, f"{where}.max_connections", default=64, low=1, high=4096),
        connect_timeout=r.seconds(t, f"{where}.connect_timeout", default=5.0),
        read_timeout=r.seconds(t, f"{where}.read_timeout", default=30.0),
        retries=r.integer(t, f"{where}.retries", default=2, low=0, high=10),
    )


def _region(r: _Reader, t: Mapping[str, Any], key: str) -> str:
    region = r.string(t, key, default="us-east-1")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", region):
        r.problem(key, "must look like us-east-1 (lowercase letters, digits, dashes)")
    return region


def _endpoint(r: _Reader, t: Mapping[str, Any], where: str) -> str | None:
    endpoint = r.string(t, f"{where}.endpoint_url", default="") or None
    if endpoint and urlsplit(endpoint).scheme not in ("http", "https"):
        r.problem(f"{where}.endpoint_url", "must be an http(s) URL")
    return endpoint


def _required(r: _Reader, t: Mapping[str, Any], key: str) -> str:
    value = r.string(t, key, default="")
    if not value:
        r.problem(key, "required")
    return value


def _account(
    r: _Reader,
    name: str,
    t: Mapping[str, Any],
    providers: Mapping[str, ProviderSettings],
    server_max: int,
) -> Account:
    where = f"accounts.{name}"
    r.name(name, where)
    r.only(
        t,
        where,
        ("access_key", "secret_hash", "providers", "prefix", "max_expiry", "enabled"),
    )
    bound = r.string_list(t, f"{where}.providers", default=[])
    if not bound:
        r.problem(f"{where}.providers", "at least one provider is required")
    for p in bound:
        if p not in providers:
            r.problem(f"{where}.providers", f"unknown provider {p!r}")
    prefix = r.string(t, f"{where}.prefix", default=f"{name}/")
    if prefix.startswith("/"):
        r.problem(f"{where}.prefix", "must not start with '/'")
    elif prefix and not prefix.endswith("/"):
        # "cam" would also cover "camera/...": a prefix is a folder, or the whole provider.
        r.problem(f"{where}.prefix", 'must be "" or end with "/"')
    max_expiry = r.ttl(t, f"{where}.max_expiry", default=None) if "max_expiry" in t else None
    if max_expiry is not None and max_expiry > server_max:
        r.problem(f"{where}.max_expiry", "is longer than signing.max_expiry")
    access_key = r.string(t, f"{where}.access_key", default="") or None
    secret_hash = r.string(t, f"{where}.secret_hash", default="") or None
    if (access_key is None) != (secret_hash is None):
        r.problem(where, "set both access_key and secret_hash, or neither (links only)")
    if access_key is not None and not (1 <= len(access_key) <= 128 and access_key.isprintable()):
        r.problem(f"{where}.access_key", "must be 1-128 printable characters")
    if secret_hash is not None:
        try:
            check_secret_hash(secret_hash)
        except ValueError as exc:
            r.problem(f"{where}.secret_hash", str(exc))
    return Account(
        name=name,
        providers=tuple(bound),
        prefix=prefix,
        enabled=r.boolean(t, f"{where}.enabled", default=True),
        max_expiry=max_expiry,
        access_key=access_key,
        secret_hash=secret_hash,
    )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class _Reader:
    """Typed access to TOML values that records problems instead of raising."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[tuple[str, str]] = []

    def problem(self, key: str, text: str) -> None:
        self.problems.append((key, text))

    def only(self, t: Mapping[str, Any], where: str, allowed: tuple[str, ...]) -> None:
        for key in t:
            if key not in allowed:
                self.problem(f"{where}.{key}" if where else key, "unknown key")

    def table(self, t: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = t.get(key, {})
        if not isinstance(value, dict):
            self.problem(key, "must be a table")
            return {}
        return value

    def subtables(self, t: Mapping[str, Any], where: str) -> list[tuple[str, Mapping[str, Any]]]:
        out: list[tuple[str, Mapping[str, Any]]] = []
        for name, value in t.items():
            if isinstance(value, dict):
                out.append((name, value))
            else:
                self.problem(f"{where}.{name}", "must be a table")
        return out

    def name(self, name: str, where: str) -> None:
        if not 1 <= len(name) <= 128 or not name.isprintable():
            self.problem(where, "names are 1-128 printable characters")

    def string(self, t: Mapping[str, Any], key: str, *, default: str) -> str:
        value = t.get(key.rsplit(".", 1)[-1], default)
        if not isinstance(value, str):
            self.problem(key, "must be a string")
            return default
        return self._resolve(value, key, default)

    def _resolve(self, value: str, key: str, default: str) -> str:
        if value.startswith(ENV_PREFIX):
            var = value[len(ENV_PREFIX) :]
            if var not in self.environ:
                self.problem(key, f"environment variable {var} is not set")
                return default
            return self.environ[var]
        if value.startswith(sealing.PREFIX):
            master = self.environ.get(sealing.MASTER_KEY_ENV)
            if not master:
                self.problem(key, f"a sealed value needs {sealing.MASTER_KEY_ENV} to be set")
                return default
            try:
                return sealing.unseal(value, key, master)
            except sealing.SealError as exc:
                self.problem(key, str(exc))
                return default
        return value

    def string_list(self, t: Mapping[str, Any], key: str, *, default: list[str]) -> list[str]:
        value = t.get(key.rsplit(".", 1)[-1], default)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(key, "must be a list of strings")
            return default
        return [self._resolve(v, f"{key}[{i}]", "") for i, v in enumerate(value)]

    def integer(self, t: Mapping[str, Any], key: str, *, default: int, low: int, high: int) -> int:
        value = t.get(key.rsplit(".", 1)[-1], default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, "must be an integer")
            return default
        if not low <= value <= high:
            self.problem(key, f"must be between {low} and {high}")
            return default
        return value

    def boolean(self, t: Mapping[str, Any], key: str, *, default: bool) -> bool:
        value = t.get(key.rsplit(".", 1)[-1], default)
        if not isinstance(value, bool):
            self.problem(key, "must be true or false")
            return default
        return value

    def ttl(self, t: Mapping[str, Any], key: str, *, default: Any) -> Any:
        value = t.get(key.rsplit(".", 1)[-1], default)
        if value is None:
            return None
        if isinstance(value, str):
            value = self._resolve(value, key, str(default))
        return self.ttl_value(value, key, default)

    def ttl_value(self, value: object, key: str, default: Any) -> Any:
        try:
            return parse_ttl(value)  # type: ignore[arg-type]
        except ValueError as exc:
            self.problem(key, str(exc))
            return default

    def seconds(self, t: Mapping[str, Any], key: str, *, default: float) -> float:
        """A timeout: a number of seconds or a Go duration."""
        value = t.get(key.rsplit(".", 1)[-1], default)
        if isinstance(value, str):
            value = self._resolve(value, key, str(default))
            if value.replace(".", "", 1).isdigit():
                value = float(value)
        if isinstance(value, str):
            try:
                value = parse_go_duration(value) / 1e9
            except ValueError as exc:
                self.problem(key, str(exc))
                return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(key, "must be a number of seconds or a duration like '30s'")
            return default
        if not (0 < value <= 3600) or math.isnan(value):
            self.problem(key, "must be more than 0 and at most one hour")
            return default
        return float(value)
