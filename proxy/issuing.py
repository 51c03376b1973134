"""The rules a new link's lifetime follows, shared by the issuing endpoints and ``proxy sign``."""

from __future__ import annotations

from proxy.accounts import Account
from proxy.config import SigningSettings
from proxy.durations import parse_ttl


def lifetime_limit(signing: SigningSettings, account: Account) -> int:
    """The longest lifetime, in seconds, a link of ``account`` may get."""
    if account.max_expiry is None:
        return signing.max_expiry
    return min(signing.max_expiry, account.max_expiry)


def link_lifetime(signing: SigningSettings, account: Account, given: object) -> int:
    """Seconds a new link lives: ``given`` as a client sent it (seconds or a Go duration),
    or when nothing was asked for, the default shortened to the account's limit.

    Raises ``ValueError`` (the caller names the field) for a malformed or non-positive
    value, or one above the limit.
    """
    limit = lifetime_limit(signing, account)
    if given is None:
        return min(signing.default_expiry, limit)
    ttl = parse_ttl(given)  # type: ignore[arg-type]  # it refuses any other type itself
    if ttl > limit:
        raise ValueError(f"longer than the maximum of {limit} seconds")
    return ttl
