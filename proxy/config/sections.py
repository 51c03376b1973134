"""The proxy's own sections (``[server]``, ``[signing]``, ``[issuing]``) and ``Settings``.

Each field is a key with its default and bounds (``proxy.fields``); the rules between
keys and the protocol's ``VAULT_*`` variables are each class's ``checked``. Providers'
sections are their backends' (``proxy.storage.<kind>.settings``); accounts' are
``proxy.accounts.Account``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from proxy.accounts import Account
from proxy.fields import (
    Table,
    boolean,
    choice,
    integer,
    networks,
    seconds,
    string,
    strings,
    tables,
    ttl,
)
from proxy.http import names
from proxy.http.forwarded import IPNetwork
from proxy.links.signing import MIN_KEY_BYTES, Signer
from proxy.links.tokens import check_key_id
from proxy.storage import ProviderSettings

# Ten years: far below what a 12-digit `e` can hold, whatever the clock says.
MAX_LINK_SECONDS = 10 * 365 * 86400
FORWARDED_HEADERS = (names.X_FORWARDED_FOR, names.FORWARDED)


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = field(default="127.0.0.1", metadata=string())
    port: int = field(default=8085, metadata=integer(low=1, high=65535))
    # Default http://{host}:{port} (``checked``); VAULT_PUBLIC_URL, when not empty, wins.
    public_url: str = field(default="", metadata=string(env="VAULT_PUBLIC_URL", env_if_empty=False))
    cors_allow_origins: tuple[str, ...] = field(default=("*",), metadata=strings())
    access_log: bool = field(default=True, metadata=boolean())
    chunk_size: int = field(default=256 * 1024, metadata=integer(low=4096, high=16 << 20))
    # A client that takes no bytes for this long is cut off.
    client_timeout: float = field(default=60.0, metadata=seconds())
    # To a backend's metadata answer or a body's first byte.
    backend_timeout: float = field(default=15.0, metadata=seconds())
    # Bodies relayed at once by one process; then 503.
    max_streams: int = field(default=1000, metadata=integer(low=1, high=1_000_000))
    # The request line and each header field.
    max_header_bytes: int = field(default=16384, metadata=integer(low=4096, high=1 << 20))
    max_header_fields: int = field(default=100, metadata=integer(low=8, high=1000))
    # The request line and every header field together.
    max_head_bytes: int = field(default=32768, metadata=integer(low=4096, high=4 << 20))
    # A request head (from the connection or its first byte) in full.
    header_timeout: float = field(default=10.0, metadata=seconds())
    body_timeout: float = field(default=30.0, metadata=seconds())  # a request body in full
    # Open client connections per process; idle ones are evicted.
    max_connections: int = field(default=2048, metadata=integer(low=16, high=1_000_000))
    # Peers whose forwarded_header is believed.
    trusted_proxies: tuple[IPNetwork, ...] = field(default=(), metadata=networks())
    forwarded_header: str = field(
        default=names.X_FORWARDED_FOR, metadata=choice(FORWARDED_HEADERS, ignore_case=True)
    )
    keepalive_timeout: float = field(default=75.0, metadata=seconds())
    # SIGTERM: in-flight requests get this long to finish.
    shutdown_grace: float = field(default=30.0, metadata=seconds())
    check_interval: float = field(default=30.0, metadata=seconds())  # /readyz's provider checks

    def checked(self, t: Table) -> ServerSettings:
        if t.given("public_url"):
            public_url = self.public_url
        else:
            host = f"[{self.host}]" if ":" in self.host else self.host
            public_url = f"http://{host}:{self.port}"
        if not _plain_http_url(public_url):
            t.problem(t.source("public_url"), "must be an http(s) URL with no query or fragment")
        if self.max_head_bytes < self.max_header_bytes:
            t.problem(t.key("max_head_bytes"), "must be at least server.max_header_bytes")
        return replace(self, public_url=public_url.rstrip("/"))


@dataclass(frozen=True, slots=True)
class PreviousKey:
    """One entry of ``signing.previous_keys``: a plain string (an unnamed key) or a table
    ``{ id = "...", key = "..." }``; still accepted, never used to sign."""

    key: bytes = field(repr=False, metadata=string(required=True, convert=str.encode))
    # The id §6 tokens name it by (``k``); a token naming an id nobody has is refused.
    id: str | None = field(default=None, metadata=string(optional=True))

    def checked(self, t: Table) -> PreviousKey:
        if self.key and len(self.key) < MIN_KEY_BYTES:
            t.problem(t.key("key"), f"shorter than {MIN_KEY_BYTES} bytes")
        _check_key_id(t, "id", self.id)
        return self


@dataclass(frozen=True, slots=True)
class SigningSettings:
    # VAULT_URL_SIGNING_KEY, when set, wins.
    key: bytes = field(repr=False, metadata=string(convert=str.encode, env="VAULT_URL_SIGNING_KEY"))
    # The current key's id, put into every token link as ``k``; VAULT_URL_SIGNING_KEY_ID wins.
    key_id: str | None = field(
        default=None, metadata=string(optional=True, env="VAULT_URL_SIGNING_KEY_ID")
    )
    # Still accepted, never used to sign.
    previous_keys: tuple[PreviousKey, ...] = field(
        default=(), repr=False, metadata=tables(PreviousKey, shorthand="key")
    )
    default_expiry: int = field(default=86400, metadata=ttl(env="DEFAULT_URI_EXPIRY_TIME"))
    max_expiry: int = field(default=7 * 86400, metadata=ttl())
    vault_signing: bool = True  # not a key: VAULT_SIGNING only

    def signer(self) -> Signer:
        """The one way a ``Signer`` is made from settings: every key, with its id."""
        return Signer(
            self.key,
            [old.key for old in self.previous_keys],
            key_id=self.key_id,
            previous_ids=[old.id for old in self.previous_keys],
        )

    def checked(self, t: Table) -> SigningSettings:
        if not self.key:
            t.problem(
                t.source("key"), "a signing key is required (python -m proxy keygen makes one)"
            )
        elif len(self.key) < MIN_KEY_BYTES:
            t.problem(t.source("key"), f"shorter than {MIN_KEY_BYTES} bytes")
        _check_key_id(t, "key_id", self.key_id)
        named = {self.key_id: t.source("key_id")} if self.key_id is not None else {}
        for i, old in enumerate(self.previous_keys):
            if old.id is None:
                continue
            where = f"{t.key('previous_keys')}[{i}].id"
            if old.id in named:
                t.problem(where, f"{old.id!r} is also the id of {named[old.id]}")
            else:
                named[old.id] = where.removesuffix(".id")
        if self.max_expiry > MAX_LINK_SECONDS:
            t.problem(t.key("max_expiry"), "must be at most ten years")
        if self.default_expiry > self.max_expiry:
            t.problem(t.key("default_expiry"), "is longer than signing.max_expiry")
        flag = t.environ.get("VAULT_SIGNING")
        if flag is None:
            return self
        flag = flag.strip().lower()
        if flag not in ("true", "false", "1", "0"):
            t.problem("VAULT_SIGNING", "must be true or false")
        return replace(self, vault_signing=flag in ("true", "1"))


@dataclass(frozen=True, slots=True)
class IssuingSettings:
    # POST /api/storage/bulk: the body and its items (413 past either).
    max_body_bytes: int = field(default=1 << 20, metadata=integer(low=64, high=64 << 20))
    max_items: int = field(default=1000, metadata=integer(low=1, high=100_000))
    # Failed authentications allowed per window, per client and per key; then 429.
    auth_failures: int = field(default=10, metadata=integer(low=1, high=1_000_000))
    auth_window: int = field(default=300, metadata=ttl())  # seconds


@dataclass(frozen=True, slots=True)
class Settings:
    source: str
    server: ServerSettings
    signing: SigningSettings
    issuing: IssuingSettings
    providers: Mapping[str, ProviderSettings]
    accounts: Mapping[str, Account]


def _check_key_id(t: Table, name: str, key_id: str | None) -> None:
    if key_id is None:
        return
    try:
        check_key_id(key_id)
    except ValueError as exc:
        t.problem(t.source(name), str(exc))


def _plain_http_url(text: str) -> bool:
    try:
        url = urlsplit(text)
        url.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:  # e.g. "http://[x": an unclosed IPv6 bracket
        return False
    return (
        url.scheme in ("http", "https") and bool(url.netloc) and not url.query and not url.fragment
    )
