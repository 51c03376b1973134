"""Authenticating the issuing endpoints: credentials, failure limits, hashing off the loop.

Who may lock whom out (the README's "Issuing links" says the same):

- A request without credentials, or with a credential header that is not
  UTF-8 text (a 400), counts as a failure of the client address only, never
  of an access key: an access key is an identifier, not a secret.
- A wrong secret counts against the client address and against the key.
- A credential (access key and secret) that verified in the last
  ``_REMEMBER_SECONDS`` is accepted at once: no scrypt, and neither lock is
  looked at. It is remembered as an HMAC under a per-process random key,
  never in clear, at most ``_REMEMBER_MAX`` of them, and the stored hash is
  part of it, so a changed hash is never remembered. Whether the account and
  the credential are enabled is looked at on every request, after that, so
  disabling either by a reload takes effect at once.
- An address that verified a key in the last ``_KNOWN_GOOD_SECONDS`` (at most
  ``_KNOWN_GOOD_MAX`` pairs, least recently used forgotten first) is not
  refused by that key's lock, only by its own: a tenant's own systems keep
  working while someone hammers its access key from elsewhere.
- Otherwise ``auth_failures`` failures in ``auth_window`` lock the address
  (everything it sends is a 429) and the key (a 429 for addresses not known
  good for it).

scrypt is slow on purpose, so it runs in a small thread pool of its own: the
event loop keeps streaming while a login is checked, and a flood of attempts
queues there instead of taking every core and 32 MiB a try. Every attempt is
counted as a failure before it is hashed (and forgiven if it passes), so
parallel guesses cannot outrun the limit; an unknown key is hashed against a
decoy with the same cost.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from proxy.accounts import MAX_ACCESS_KEY_CHARS, Account, Credential, verify_secret
from proxy.errors import BadRequest, Disabled, TooManyRequests, Unauthorized
from proxy.http.names import ACCESS_KEY, SECRET_ACCESS_KEY
from proxy.http.text import check_text
from proxy.ratelimit import FailureWindow, RecentSet

_REMEMBER_SECONDS = 600.0
_REMEMBER_MAX = 10_000
_KNOWN_GOOD_SECONDS = 86400.0
_KNOWN_GOOD_MAX = 100_000


class Authenticator:
    def __init__(self, failures: int, window: float, hash_threads: int = 2) -> None:
        self.by_client = FailureWindow(failures, window)
        self.by_key = FailureWindow(failures, window)
        self._pool = ThreadPoolExecutor(hash_threads, thread_name_prefix="scrypt")
        self._pepper = os.urandom(32)
        self._recent = RecentSet(_REMEMBER_SECONDS, _REMEMBER_MAX)
        self.known_good = RecentSet(_KNOWN_GOOD_SECONDS, _KNOWN_GOOD_MAX)
        self._inflight: dict[bytes, asyncio.Future[bool]] = {}

    def configure(self, failures: int, window: float) -> None:
        self.by_client.configure(failures, window)
        self.by_key.configure(failures, window)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def authenticate(
        self,
        by_access_key: Mapping[str, tuple[Account, Credential]],
        access_key: str | None,
        secret: str | None,
        client: str,
        now: float | None = None,
    ) -> tuple[Account, Credential]:
        """The account and the credential these are, or ``Unauthorized`` (``Disabled`` when the
        secret is right but the account or the credential is disabled) / ``TooManyRequests``.

        ``by_access_key`` is every credential by its access key (``Runtime.by_access_key``);
        the secret is checked against that credential's own hash. An access key longer than
        config accepts (``MAX_ACCESS_KEY_CHARS``) is treated as missing.

        ``access_key`` and ``secret`` are the header values as aiohttp decoded them; one
        that is not text is a ``BadRequest``, counted against ``client``.
        """
        now = time.monotonic() if now is None else now
        try:
            for name, value in ((ACCESS_KEY, access_key), (SECRET_ACCESS_KEY, secret)):
                if value is not None:
                    check_text(name, value)
        except BadRequest:
            self._refuse_client(client, now)
            raise
        if access_key is not None and len(access_key) > MAX_ACCESS_KEY_CHARS:
            access_key = None  # no such key can exist: treat as missing, track nothing of it
        if not access_key or not secret:
            self._refuse_client(client, now)
            raise Unauthorized(f"missing {ACCESS_KEY} or {SECRET_ACCESS_KEY}")

        found = by_access_key.get(access_key)
        stored = found[1].secret_hash if found else None
        token = self._token(access_key, secret, stored)
        key_id = _key_id(access_key)
        pair = self._pair(client, key_id)
        if not self._recent.contains(token, now):
            wait = self.by_client.retry_after(client, now)
            if not self.known_good.contains(pair, now):
                wait = max(wait, self.by_key.retry_after(key_id, now))
            if wait:
                raise TooManyRequests(wait)
            if not await self._verify_once(token, stored, secret, client, key_id, now):
                raise Unauthorized()
        self.known_good.add(pair, now)
        if found is None:  # cannot happen: a good or remembered secret has a stored hash
            raise Unauthorized()
        account, credential = found
        if not account.enabled:
            raise Disabled("the account is disabled", account.name, credential.name)
        if not credential.enabled:
            raise Disabled("the credential is disabled", account.name, credential.name)
        return found

    def _refuse_client(self, client: str, now: float) -> None:
        """A failure that names no key: 429 if ``client`` is locked, else counted."""
        wait = self.by_client.retry_after(client, now)
        if wait:
            raise TooManyRequests(wait)
        self.by_client.fail(client, now)

    async def _verify_once(
        self, token: bytes, stored: str | None, secret: str, client: str, key: str, now: float
    ) -> bool:
        """One scrypt per distinct credential at a time, counted as a failure until it passes.

        Counting before hashing is what makes the limit hold against parallel guesses:
        every attempt in flight already uses up one of the allowed failures.
        """
        pending = self._inflight.get(token)
        if pending is not None:  # the same credential is being checked: share that answer
            return await asyncio.shield(pending)
        self.by_client.fail(client, now)
        self.by_key.fail(key, now)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, verify_secret, stored, secret)
        self._inflight[token] = future
        try:
            ok = await asyncio.shield(future)
        finally:
            del self._inflight[token]
        if ok:
            self.by_client.forgive(client, now)
            self.by_key.forgive(key, now)
            self._recent.add(token, now)
        return ok

    def _token(self, access_key: str, secret: str, stored: str | None) -> bytes:
        # The stored hash is part of the token, so a changed secret is never remembered.
        material = "\0".join((access_key, secret, stored or "")).encode()
        return hmac.new(self._pepper, material, hashlib.sha256).digest()

    def _pair(self, client: str, key_id: str) -> bytes:
        # A keyed digest: 16 bytes a pair, and nobody can aim collisions at it.
        material = f"{client}\0{key_id}".encode("utf-8", "surrogateescape")
        return hashlib.blake2b(material, key=self._pepper, digest_size=16).digest()


def _key_id(access_key: str) -> str:
    """What the failure window remembers of a key: a short digest, whatever was sent."""
    return hashlib.sha256(access_key.encode()).hexdigest()[:32]
