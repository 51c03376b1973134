"""Is a well-formed link good right now? Signature, then expiry, then account.

The order matters: a forged link learns nothing about expiry or accounts, and
an expired one nothing about the account's current state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from proxy.accounts import Account, authorize_link
from proxy.errors import Expired, InvalidSignature, ProxyError
from proxy.links.query import SignedQuery
from proxy.links.signing import LinkClaims, Signer


def check_link(
    query: SignedQuery, signer: Signer, accounts: Mapping[str, Account], now: float
) -> Account:
    """The link's account, or the matching ``Forbidden`` (valid while ``now <= e``)."""
    if not signer.verify(query.claims, query.signature):
        raise InvalidSignature()
    if _second(now) > query.claims.expires:
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
    return {
        "account": claims.account,
        "provider": claims.provider,
        "filename": claims.filename,
        "expires": claims.expires,
        "expiresAt": utc_iso(claims.expires),
        # Whole seconds, as e is: 0 during the last second and after it, never negative.
        "expiresIn": max(0, claims.expires - _second(now)),
    }


def _second(now: float) -> int:
    """The Unix second ``now`` falls in: §1 counts in whole seconds, so a link is still
    valid during its own second e (at e + 0.5 too) and dead from e + 1 on."""
    return math.floor(now)


def utc_iso(seconds: int) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` for any Unix time ``e`` may hold, past year 9999 too."""
    days, rest = divmod(seconds, 86400)
    # Civil date from days since 1970-01-01 (H. Hinnant's algorithm): datetime stops at 9999.
    z = days + 719468
    era, doe = divmod(z, 146097)
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (month <= 2)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z"
