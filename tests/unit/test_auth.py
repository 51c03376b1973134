"""Who may lock whom out of the issuing endpoints: the Authenticator with its clock passed in.

Hashes are cheap here (scrypt N=16): the rules under test do not depend on the cost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from proxy.accounts import Account, Credential, by_access_key, hash_secret
from proxy.auth import Authenticator
from proxy.errors import BadRequest, Disabled, TooManyRequests, Unauthorized
from proxy.ratelimit import RecentSet

LIMIT = 3
WINDOW = 300
SECRET_A, SECRET_B = "secret-of-a", "secret-of-b"


def account(name: str, *credentials: Credential, enabled: bool = True) -> Account:
    return Account(name, ("disk",), f"{name}/", enabled=enabled, credentials=credentials)


ACCOUNTS = by_access_key(
    {
        "a": account("a", Credential("default", "AKA", hash_secret(SECRET_A, n=16))),
        "b": account("b", Credential("default", "AKB", hash_secret(SECRET_B, n=16))),
    }
)
ATTACKER, TENANT_B, ELSEWHERE = "203.0.113.66", "198.51.100.2", "198.51.100.9"


@pytest.fixture
async def auth() -> AsyncIterator[Authenticator]:
    authenticator = Authenticator(failures=LIMIT, window=WINDOW)
    yield authenticator
    authenticator.close()


async def login(auth: Authenticator, key: str | None, secret: str | None, client: str, t: float):
    account, _ = await auth.authenticate(ACCOUNTS, key, secret, client, now=t)
    return account


async def test_no_credentials_and_bad_bytes_count_against_the_address_only(
    auth: Authenticator,
) -> None:
    with pytest.raises(Unauthorized):
        await login(auth, None, None, ATTACKER, 1)
    with pytest.raises(BadRequest):  # a byte that was not UTF-8, as aiohttp decodes it
        await login(auth, "AKB\udcff", SECRET_B, ATTACKER, 2)
    with pytest.raises(BadRequest):
        await login(auth, "AKB", "x\x01y", ATTACKER, 3)
    assert auth.by_key._failures == {}  # naming a key (even B's) costs that key nothing
    for attempt in (
        (None, None),
        ("AKB\udcff", SECRET_B),
        ("AKA", SECRET_A),  # even the right secret, from a locked address
    ):
        with pytest.raises(TooManyRequests):
            await login(auth, *attempt, ATTACKER, 4)
    assert (await login(auth, "AKB", SECRET_B, ELSEWHERE, 5)).name == "b"


async def test_a_remembered_credential_passes_both_locks_for_ten_minutes(
    auth: Authenticator,
) -> None:
    assert (await login(auth, "AKB", SECRET_B, TENANT_B, 0)).name == "b"
    for i in range(LIMIT):  # wrong secrets: the attacker's address and B's key are locked
        with pytest.raises(Unauthorized):
            await login(auth, "AKB", f"guess-{i}", ATTACKER, 100 + i)
    with pytest.raises(TooManyRequests):
        await login(auth, "AKB", "guess", ATTACKER, 200)
    with pytest.raises(TooManyRequests):  # B's key is locked for anything not remembered
        await login(auth, "AKB", "another-guess", ELSEWHERE, 200)
    # B's credential verified at t=0: accepted from anywhere, locks or not, until t=600.
    assert (await login(auth, "AKB", SECRET_B, ELSEWHERE, 200)).name == "b"
    assert (await login(auth, "AKB", SECRET_B, ATTACKER, 200)).name == "b"


async def test_a_known_good_address_is_not_refused_by_its_keys_lock(auth: Authenticator) -> None:
    assert (await login(auth, "AKB", SECRET_B, TENANT_B, 0)).name == "b"
    t = 700.0  # the credential is no longer remembered; the address is still known good
    for i in range(LIMIT):
        with pytest.raises(Unauthorized):
            await login(auth, "AKB", f"guess-{i}", ATTACKER, t + i)
    assert auth.by_key.retry_after(next(iter(auth.by_key._failures)), t + 5) > 0
    with pytest.raises(TooManyRequests):  # a new address for B's key is refused
        await login(auth, "AKB", SECRET_B, ELSEWHERE, t + 5)
    assert (await login(auth, "AKB", SECRET_B, TENANT_B, t + 5)).name == "b"  # scrypt, no 429
    # Its own address lock still holds: wrong secrets from there end in 429 as well.
    for i in range(LIMIT):
        with pytest.raises(Unauthorized):
            await login(auth, "AKB", f"typo-{i}", TENANT_B, t + 10 + i)
    with pytest.raises(TooManyRequests):
        await login(auth, "AKA", SECRET_A, TENANT_B, t + 20)


async def test_known_good_lasts_a_day_and_is_not_refreshed_by_failures(
    auth: Authenticator,
) -> None:
    assert (await login(auth, "AKB", SECRET_B, TENANT_B, 0)).name == "b"

    async def flood(t: float) -> None:
        for i in range(LIMIT):
            with pytest.raises(Unauthorized):
                await login(auth, "AKB", f"guess-{t}-{i}", ATTACKER, t + i)

    await flood(80_000)
    with pytest.raises(Unauthorized):  # a typo from B's address is a 401, not the key's 429
        await login(auth, "AKB", "typo", TENANT_B, 80_005)
    await flood(86_410)  # a day after B's last success
    with pytest.raises(TooManyRequests):
        await login(auth, "AKB", SECRET_B, TENANT_B, 86_415)


def test_recent_set_expires_and_is_bounded() -> None:
    recent = RecentSet(ttl=10, max_tracked=3)
    recent.add(b"a", 0)
    assert recent.contains(b"a", 10)
    assert not recent.contains(b"a", 10.5)
    for item in (b"w", b"x", b"y"):
        recent.add(item, 20)
    recent.add(b"w", 21)  # touched: now the most recent
    recent.add(b"z", 22)
    assert len(recent) == 3
    assert not recent.contains(b"x", 22)  # the least recently added went first
    assert all(recent.contains(item, 22) for item in (b"w", b"y", b"z"))


SECRET_REC, SECRET_PORTAL = "secret-of-the-recorder", "secret-of-the-portal"
RECORDER = Credential("recorder", "AKREC", hash_secret(SECRET_REC, n=16))
PORTAL = Credential("portal", "AKPORTAL", hash_secret(SECRET_PORTAL, n=16))


async def test_each_credential_of_an_account_is_checked_against_its_own_hash(
    auth: Authenticator,
) -> None:
    keys = by_access_key({"cam": account("cam", RECORDER, PORTAL)})
    cam, recorder = await auth.authenticate(keys, "AKREC", SECRET_REC, TENANT_B, now=1)
    assert (cam.name, recorder) == ("cam", RECORDER)
    assert (await auth.authenticate(keys, "AKPORTAL", SECRET_PORTAL, TENANT_B, now=2))[1] == PORTAL
    with pytest.raises(Unauthorized, match="invalid credentials"):  # the other one's secret
        await auth.authenticate(keys, "AKREC", SECRET_PORTAL, ELSEWHERE, now=3)


async def test_disabling_one_credential_refuses_it_at_once_even_when_remembered(
    auth: Authenticator,
) -> None:
    before = by_access_key({"cam": account("cam", RECORDER, PORTAL)})
    assert (await auth.authenticate(before, "AKREC", SECRET_REC, TENANT_B, now=0))[1] == RECORDER
    # A reload disables the recorder's credential only; its hash is unchanged, so the
    # secret is still remembered: the enabled flag is looked at after that, every time.
    after = by_access_key({"cam": account("cam", replace(RECORDER, enabled=False), PORTAL)})
    with pytest.raises(Disabled, match="the credential is disabled") as refused:
        await auth.authenticate(after, "AKREC", SECRET_REC, TENANT_B, now=1)
    assert (refused.value.account, refused.value.credential) == ("cam", "recorder")
    assert (await auth.authenticate(after, "AKPORTAL", SECRET_PORTAL, TENANT_B, now=2))[1] == PORTAL
    # Only the right secret learns that a credential is disabled.
    with pytest.raises(Unauthorized, match="invalid credentials") as guessed:
        await auth.authenticate(after, "AKREC", "a guess", ELSEWHERE, now=3)
    assert not isinstance(guessed.value, Disabled)
    # A disabled account says so, whatever its credentials' own flags.
    off = by_access_key(
        {"cam": account("cam", replace(RECORDER, enabled=False), PORTAL, enabled=False)}
    )
    for key, secret in (("AKREC", SECRET_REC), ("AKPORTAL", SECRET_PORTAL)):
        with pytest.raises(Disabled, match="the account is disabled"):
            await auth.authenticate(off, key, secret, TENANT_B, now=4)
