"""The one copy of the issuing rules, for ``GET /api/storage``, the bulk endpoint and
``python -m proxy sign``.

A new link is checked as serving will check it, in this order (§3; the README's
"Issuing links" lists the same): the provider is bound to the account (401), the
filename follows §1's rules (400) and lies inside the account's prefix (403),
the lifetime is positive and within the maxima (400). With ``VAULT_SIGNING``
false the backend's own URL is handed out where it has one.

Who the account is (credentials, or the operator naming it) is the caller's
business, and so is the clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from proxy.accounts import Account
from proxy.config import SigningSettings
from proxy.durations import parse_ttl
from proxy.errors import BadRequest, Forbidden, Unauthorized
from proxy.links.query import build_url
from proxy.links.rules import check_filename
from proxy.links.signing import LinkClaims, Signer

# A backend's native URL for (key, seconds), or None when it has none (``Storage.presign``).
Presign = Callable[[str, int], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class LinkRequest:
    """One link as a client asked for it, nothing checked yet."""

    filename: str
    provider: str | None = None  # None: the account's default provider
    expiry: object = None  # as given: a Go duration, digit string or integer; None: the default


@dataclass(frozen=True, slots=True)
class Grant:
    """A link that passed every rule: its claims, and the lifetime they were made with."""

    claims: LinkClaims
    lifetime: int


def grant(
    signing: SigningSettings,
    account: Account,
    wanted: LinkRequest,
    now: float,
    *,
    expiry_field: str = "uriExpiryTime",
) -> Grant:
    """The link ``account`` may have for ``wanted`` at ``now``, or the ``ProxyError`` saying
    why not. ``expiry_field`` is what the caller calls the lifetime, for the message."""
    provider = wanted.provider or account.default_provider
    if provider not in account.providers:
        raise Unauthorized(f"the account is not bound to provider {provider!r}")
    check_filename(wanted.filename)
    if not account.covers(wanted.filename):
        raise Forbidden("the filename lies outside the account's prefix")
    try:
        ttl = link_lifetime(signing, account, wanted.expiry)
    except ValueError as exc:
        raise BadRequest(f"{expiry_field}: {exc}") from None
    return Grant(LinkClaims(account.name, provider, wanted.filename, int(now) + ttl), ttl)


async def link_url(
    granted: Grant,
    signing: SigningSettings,
    signer: Signer,
    public_url: str,
    presign: Presign | None = None,
) -> str:
    """The URL handed out: the backend's own (``presign``) when ``VAULT_SIGNING`` is false
    and it has one, else a §1 link signed with the current key."""
    if presign is not None and not signing.vault_signing:
        native = await presign(granted.claims.filename, granted.lifetime)
        if native is not None:
            return native
    return signed_url(granted, signer, public_url)


def signed_url(granted: Grant, signer: Signer, public_url: str) -> str:
    """The §1 link of ``granted``, whatever ``VAULT_SIGNING`` says."""
    return build_url(public_url, granted.claims, signer.sign(granted.claims))


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
