"""The one copy of the issuing rules, for ``GET /api/storage``, the bulk endpoint and
``python -m proxy sign``.

A new link is checked as serving will check it, in this order (§3; the README's
"Issuing links" lists the same): the provider is bound to the account (401), the
filename follows §1's rules (400) and lies inside the account's prefix (403),
the lifetime is positive and within the maxima (400), then §6's options (400).
With ``VAULT_SIGNING`` false the backend's own URL is handed out where it has
one.

A request with any of §6's options (a folder, not-before, download, client
addresses) gets a token link (``/api/storage/t/{token}/{key}``); one with none
gets a §1 link, as before.

Who the account is (credentials, or the operator naming it) is the caller's
business, and so is the clock.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from proxy.accounts import Account
from proxy.config import SigningSettings
from proxy.durations import parse_ttl
from proxy.errors import BadRequest, Forbidden, Unauthorized
from proxy.links.query import build_url
from proxy.links.rules import check_filename
from proxy.links.signing import LinkClaims, Signer
from proxy.links.tokens import (
    MAX_CIDRS,
    TokenClaims,
    check_cidr,
    check_device,
    make_token,
    timeline_url,
    token_url,
)
from proxy.timeline.naming import Window

# A backend's native URL for (key, seconds), or None when it has none (``Storage.presign``).
Presign = Callable[[str, int], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class LinkRequest:
    """One link as a client asked for it, nothing checked yet."""

    filename: str  # with ``prefix``, the folder (ending with "/")
    provider: str | None = None  # None: the account's default provider
    expiry: object = None  # as given: a Go duration, digit string or integer; None: the default
    # §6's options, already in their types (the caller parses headers or JSON).
    prefix: bool = False
    not_before: int | None = None
    download: bool | str | None = None  # True: attachment named by the key; str: this name
    client_ips: tuple[str, ...] = ()

    @property
    def wants_token(self) -> bool:
        return bool(self.prefix or self.not_before is not None or self.download or self.client_ips)


@dataclass(frozen=True, slots=True)
class Grant:
    """A link that passed every rule: its claims, and the lifetime they were made with."""

    claims: LinkClaims  # for a folder, ``filename`` is the folder
    lifetime: int
    token: TokenClaims | None = None  # set when the link is a §6 token link


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
    if wanted.prefix:
        check_folder(wanted.filename)
    else:
        check_filename(wanted.filename)
    if not account.covers(wanted.filename):
        raise Forbidden("the filename lies outside the account's prefix")
    try:
        ttl = link_lifetime(signing, account, wanted.expiry)
    except ValueError as exc:
        raise BadRequest(f"{expiry_field}: {exc}") from None
    claims = LinkClaims(account.name, provider, wanted.filename, int(now) + ttl)
    if not wanted.wants_token:
        return Grant(claims, ttl)
    if wanted.not_before is not None and wanted.not_before > claims.expires:
        raise BadRequest("notBefore: after the link's expiry")
    if isinstance(wanted.download, str):
        check_download_name(wanted.download)
    if len(wanted.client_ips) > MAX_CIDRS:
        raise BadRequest(f"clientIp: at most {MAX_CIDRS} CIDRs")
    for cidr in wanted.client_ips:
        check_cidr(cidr, "clientIp")
    token = TokenClaims(
        account=account.name,
        provider=provider,
        expires=claims.expires,
        file=None if wanted.prefix else wanted.filename,
        folder=wanted.filename if wanted.prefix else None,
        not_before=wanted.not_before,
        download=wanted.download or None,
        client_ips=wanted.client_ips,
    )
    return Grant(claims, ttl, token)


_UNIX_SECONDS = re.compile(r"[1-9][0-9]{0,11}")


def token_options(
    scope: object = None,
    not_before: object = None,
    download: object = None,
    client_ip: object = None,
) -> dict[str, Any]:
    """§6's issuing options as ``LinkRequest`` fields, from a request's header texts or a
    bulk item's JSON values (names as the bulk fields spell them); 400 if malformed."""
    options: dict[str, Any] = {}
    if scope is not None:
        if scope not in ("prefix", "file"):
            raise BadRequest("scope: 'prefix' (a folder) or 'file'")
        options["prefix"] = scope == "prefix"
    if not_before is not None:
        if isinstance(not_before, int) and not isinstance(not_before, bool):
            not_before = str(not_before)
        if not isinstance(not_before, str) or not _UNIX_SECONDS.fullmatch(not_before):
            raise BadRequest("notBefore: Unix seconds (1 to 12 digits)")
        options["not_before"] = int(not_before)
    if download is not None:
        if isinstance(download, str) and download.lower() in ("true", "false"):
            download = download.lower() == "true"
        if not isinstance(download, bool | str) or download == "":
            raise BadRequest("download: true, false or a file name")
        options["download"] = download or None
    if client_ip is not None:
        if isinstance(client_ip, str):
            client_ip = [c.strip() for c in client_ip.split(",") if c.strip()]
        if not isinstance(client_ip, list) or not client_ip:
            raise BadRequest("clientIp: CIDRs, comma-separated (or a JSON list)")
        options["client_ips"] = tuple(client_ip)
    return options


def check_folder(folder: str) -> None:
    """A folder grant (§6 ``d``): §1's rules for the path, and a trailing ``/``."""
    if not folder.endswith("/"):
        raise BadRequest("a folder (scope prefix) ends with '/'")
    check_filename(folder.removesuffix("/"))


def check_download_name(name: str) -> None:
    check_filename(name)
    if "/" in name:
        raise BadRequest("download: a file name, not a path")


async def link_url(
    granted: Grant,
    signing: SigningSettings,
    signer: Signer,
    public_url: str,
    presign: Presign | None = None,
) -> str:
    """The URL handed out: the backend's own (``presign``) when ``VAULT_SIGNING`` is false
    and it has one, else a §1 link or (with §6's options) a token link, signed with the
    current key. Native URLs carry none of §6's options: asking for them from a backend
    that has native URLs, in native mode, is a 400."""
    if presign is not None and not signing.vault_signing:
        native = await presign(granted.claims.filename, granted.lifetime)
        if native is not None:
            if granted.token is not None:
                raise BadRequest(
                    "with VAULT_SIGNING=false this provider hands out its own URLs, which "
                    "cannot carry a folder, notBefore, download or clientIp"
                )
            return native
    return signed_url(granted, signer, public_url)


def signed_url(granted: Grant, signer: Signer, public_url: str) -> str:
    """The proxy's own link of ``granted`` (§1, or §6 with options), whatever
    ``VAULT_SIGNING`` says."""
    if granted.token is not None:
        token = replace(granted.token, key_id=signer.key_id)
        return token_url(public_url, make_token(token, signer), granted.claims.filename)
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


def timeline_window(start: object, end: object, device: object = None) -> Window:
    """§7's selection as a client sent it (JSON values or CLI texts); 400 if malformed."""
    bounds = []
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, str) and _UNIX_SECONDS.fullmatch(value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 10**12:
            raise BadRequest(f"{name}: Unix seconds (1 to 12 digits)")
        bounds.append(value)
    if bounds[1] <= bounds[0]:
        raise BadRequest("end: after start")
    if device is not None:
        check_device(device, "device")
    return Window(bounds[0], bounds[1], device if isinstance(device, str) else None)


def timeline_link(
    signing: SigningSettings,
    account: Account,
    folder: str,
    provider: str | None,
    expiry: object,
    window: Window,
    signer: Signer,
    public_url: str,
    now: float,
) -> str:
    """§7's playlist URL for ``folder``'s recordings in ``window``, by the rules of a folder
    grant (§6). Always the proxy's own link: no backend has a native equivalent."""
    granted = grant(signing, account, LinkRequest(folder, provider, expiry, prefix=True), now)
    assert granted.token is not None  # a folder is always a token
    claims = replace(granted.token, timeline=window, key_id=signer.key_id)
    return timeline_url(public_url, make_token(claims, signer))
