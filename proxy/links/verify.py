"""Is a well-formed link good right now? Signature, then expiry, then account (§1); for a
token (§6) also not-before and the client's address, after the account.

The order matters: a forged link learns nothing about expiry or accounts, and
an expired one nothing about the account's current state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from ipaddress import ip_network

from proxy.accounts import Account, authorize, authorize_link
from proxy.errors import (
    AddressNotAllowed,
    Expired,
    InvalidSignature,
    NotYetValid,
    ProxyError,
)
from proxy.http.forwarded import parse_address
from proxy.links.query import SignedQuery
from proxy.links.signing import LinkClaims, Signer
from proxy.links.tokens import TokenClaims, parse_token


def check_link(
    query: SignedQuery, signer: Signer, accounts: Mapping[str, Account], now: float
) -> Account:
    """The link's account, or the matching ``Forbidden`` (valid while ``now <= e``)."""
    if not signer.verify(query.claims, query.signature):
        raise InvalidSignature()
    return check_signed_link(query.claims, accounts, now)


def check_signed_link(claims: LinkClaims, accounts: Mapping[str, Account], now: float) -> Account:
    """``check_link`` past the signature: the expiry, then the account."""
    if _second(now) > claims.expires:
        raise Expired()
    return authorize_link(accounts, claims)


def validation_report(
    query: SignedQuery, signer: Signer, accounts: Mapping[str, Account], now: float
) -> dict[str, object]:
    """The JSON body of ``/api/storage/signed/validate`` (and of ``proxy verify``)."""
    if not signer.verify(query.claims, query.signature):
        return {"valid": False, "reason": InvalidSignature.code, **describe(query.claims, now)}
    return signed_link_report(query.claims, accounts, now)


def signed_link_report(
    claims: LinkClaims, accounts: Mapping[str, Account], now: float
) -> dict[str, object]:
    """``validation_report`` of a link whose signature passed."""
    try:
        check_signed_link(claims, accounts, now)
    except ProxyError as exc:
        return {"valid": False, "reason": exc.code, **describe(claims, now)}
    return {"valid": True, **describe(claims, now)}


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


def check_token(
    claims: TokenClaims, accounts: Mapping[str, Account], now: float, client: str | None
) -> Account:
    """The account of a token whose signature passed, or the ``Forbidden`` saying why not:
    expiry, then not-before, then the account, then the client's address (§6; not checked
    when ``client`` is None: nobody is asking from anywhere, e.g. ``proxy verify``)."""
    second = _second(now)
    if second > claims.expires:
        raise Expired()
    if claims.not_before is not None and second < claims.not_before:
        raise NotYetValid()
    account = authorize(accounts, claims.account, claims.provider, claims.scope)
    if claims.client_ips and client is not None and not address_allowed(client, claims.client_ips):
        raise AddressNotAllowed()
    return account


def address_allowed(client: str, cidrs: Iterable[str]) -> bool:
    address = parse_address(client)
    if address is None:
        return False
    return any(address in ip_network(cidr, strict=False) for cidr in cidrs)


def token_report(
    token: str, signer: Signer, accounts: Mapping[str, Account], now: float, client: str | None
) -> dict[str, object]:
    """The validate JSON of a token (``GET /api/storage/t/{token}/``, ``proxy verify``);
    ``BadRequest`` for a malformed one."""
    try:
        claims = parse_token(token, signer).claims
    except InvalidSignature as exc:
        return {"valid": False, "reason": exc.code}
    try:
        check_token(claims, accounts, now, client)
    except ProxyError as exc:
        return {"valid": False, "reason": exc.code, **describe_token(claims, now)}
    return {"valid": True, **describe_token(claims, now)}


def describe_token(claims: TokenClaims, now: float) -> dict[str, object]:
    scope = {"file": claims.file} if claims.file is not None else {"prefix": claims.folder}
    described: dict[str, object] = {
        "account": claims.account,
        "provider": claims.provider,
        "scope": scope,
        "expires": claims.expires,
        "expiresAt": utc_iso(claims.expires),
        "expiresIn": max(0, claims.expires - _second(now)),
    }
    if claims.file is not None:
        described["filename"] = claims.file
    if claims.not_before is not None:
        described["notBefore"] = claims.not_before
    if claims.download is not None:
        described["download"] = claims.download
    if claims.client_ips:
        described["clientIp"] = list(claims.client_ips)
    if claims.key_id is not None:
        described["keyId"] = claims.key_id
    if claims.timeline is not None:
        window = claims.timeline
        selection: dict[str, object] = {"start": window.start, "end": window.end}
        if window.device is not None:
            selection["device"] = window.device
        described["timeline"] = selection
    return described
