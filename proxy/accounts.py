"""Accounts: who may have links, to which providers, under which prefix.

A link is checked against its account at serving time, not only when it was
issued, so disabling an account, unbinding a provider or narrowing a prefix
revokes every outstanding link at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from proxy.errors import Revoked
from proxy.signing import LinkClaims


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    providers: tuple[str, ...]  # the first is the default
    prefix: str
    enabled: bool = True
    max_expiry: int | None = None  # seconds; None: the server's maximum
    access_key: str | None = None
    secret_hash: str | None = field(default=None, repr=False)

    @property
    def default_provider(self) -> str:
        return self.providers[0]

    def covers(self, filename: str) -> bool:
        return filename.startswith(self.prefix)


def authorize_link(accounts: Mapping[str, Account], claims: LinkClaims) -> Account:
    """The account behind a correctly signed, unexpired link, or ``Revoked`` saying why."""
    account = accounts.get(claims.account)
    if account is None:
        raise Revoked("the link has been revoked: the account no longer exists")
    if not account.enabled:
        raise Revoked("the link has been revoked: the account is disabled")
    if claims.provider not in account.providers:
        raise Revoked("the link has been revoked: the account is not bound to this provider")
    if not account.covers(claims.filename):
        raise Revoked("the link has been revoked: the file is outside the account's prefix")
    return account
