"""Is a well-formed link good right now? Signature, then expiry, then account.

The order matters: a forged link learns nothing about expiry or accounts, and
an expired one nothing about the account's current state.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from proxy.accounts import Account, authorize_link
from proxy.errors import Expired, InvalidSignature, ProxyError
from proxy.links import SignedQuery
from proxy.signing import LinkClaims, Signer


def check_link(
    query: SignedQuery, signer: Signer, accounts: Mapping[str, Account], now: float
) -> Account:
    """The link's account, or the matching ``Forbidden`` (valid while ``now <= e``)."""
    if not signer.verify(query.claims, query.signature):
        raise InvalidSignature()
    if now > query.claims.expires:
        raise Expired()
    return authorize_link(accounts, query.claims)


def validation_report(
    query: SignedQuery, signer: Signer, accounts: Mapping[str, Account], now: float
) -> dict[str, object]:
    """The JSON body of ``/api/storage/signed/validate`` (and of ``proxy verify``)."""
    try:
        check_link(query, signer, accounts, now)
    except ProxyError as exc:
        return {"valid": False, "reason": exc.code, **describe(query.claims, now)}
    return {"valid": True, **describe(query.claims, now)}


def describe(claims: LinkClaims, now: float) -> dict[str, object]:
    expires_at = datetime.fromtimestamp(claims.expires, tz=UTC)
    return {
        "account": claims.account,
        "provider": claims.provider,
        "filename": claims.filename,
        "expires": claims.expires,
        "expiresAt": expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        # An expired link reports 0, not a negative count.
        "expiresIn": max(0, int(claims.expires - now)),
    }
