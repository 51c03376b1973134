"""Building proxy settings and signed links for tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from proxy import config
from proxy.links.query import build_query
from proxy.links.signing import LinkClaims, Signer
from proxy.links.tokens import TOKEN_PATH, TokenClaims, make_token

KEY = "test-signing-key-0123456789abcdef0123456789"
OLD_KEY = "old-signing-key-0123456789abcdef0123456789ab"
NOW = 1_800_000_000


@dataclass
class Clock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now


def settings_doc(
    providers: dict[str, dict[str, Any]], **accounts: dict[str, Any]
) -> dict[str, Any]:
    return {
        "server": {"host": "127.0.0.1", "port": 8085},
        "signing": {"key": KEY, "previous_keys": [OLD_KEY]},
        "providers": providers,
        "accounts": accounts,
    }


def make_settings(doc: dict[str, Any]) -> config.Settings:
    return config.parse(doc, "test", {})


@dataclass
class Links:
    key: str = KEY
    signer: Signer = field(init=False)

    def __post_init__(self) -> None:
        self.signer = Signer(self.key.encode())

    def query(self, account: str, provider: str, filename: str, expires: int = NOW + 3600) -> str:
        claims = LinkClaims(account, provider, filename, expires)
        return build_query(claims, self.signer.sign(claims))

    def path(self, account: str, provider: str, filename: str, expires: int = NOW + 3600) -> str:
        return "/api/storage/signed?" + self.query(account, provider, filename, expires)

    def token(
        self, account: str, provider: str, *, expires: int = NOW + 3600, **claims: Any
    ) -> str:
        """A §6 token: ``file=`` or ``folder=``, and any other ``TokenClaims`` field."""
        return make_token(TokenClaims(account, provider, expires, **claims), self.signer)

    def token_path(self, token: str, key: str) -> str:
        """The token link of ``key``: each segment percent-encoded (RFC 3986 unreserved kept)."""
        return f"{TOKEN_PATH}/{token}/" + "/".join(quote(s, safe="") for s in key.split("/"))
