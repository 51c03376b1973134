"""Authenticating the issuing endpoints: credentials, failure limits, hashing off the loop.

scrypt is slow on purpose, so it runs in a small thread pool of its own: the
event loop keeps streaming while a login is checked, and a flood of attempts
queues there instead of taking every core and 32 MiB a try. A credential that
verified recently is remembered (as an HMAC under a per-process random key,
never in clear) so a busy client does not pay scrypt on every request.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from proxy.accounts import Account, verify_secret
from proxy.errors import TooManyRequests, Unauthorized
from proxy.ratelimit import FailureWindow

ACCESS_KEY_HEADER = "X-Kerberos-Storage-AccessKey"
SECRET_HEADER = "X-Kerberos-Storage-SecretAccessKey"  # noqa: S105 - a header name
MAX_ACCESS_KEY_CHARS = 128  # what config accepts; longer ones are refused untracked
_REMEMBER_SECONDS = 60.0
_REMEMBER_MAX = 10_000


class Authenticator:
    def __init__(self, failures: int, window: float, hash_threads: int = 2) -> None:
        self.by_client = FailureWindow(failures, window)
        self.by_key = FailureWindow(failures, window)
        self._pool = ThreadPoolExecutor(hash_threads, thread_name_prefix="scrypt")
        self._pepper = os.urandom(32)
        self._recent: OrderedDict[bytes, float] = OrderedDict()
        self._inflight: dict[bytes, asyncio.Future[bool]] = {}

    def configure(self, failures: int, window: float) -> None:
        self.by_client.configure(failures, window)
        self.by_key.configure(failures, window)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def authenticate(
        self,
        accounts: Mapping[str, Account],
        access_key: str | None,
        secret: str | None,
        client: str,
        now: float | None = None,
    ) -> Account:
        """The account whose credentials these are, or ``Unauthorized`` / ``TooManyRequests``."""
        now = time.monotonic() if now is None else now
        if access_key is not None and len(access_key) > MAX_ACCESS_KEY_CHARS:
            access_key = None  # no such key can exist: treat as missing, track nothing of it
        key_id = _key_id(access_key) if access_key else ""
        wait = self.by_client.retry_after(client, now)
        if access_key:
            wait = max(wait, self.by_key.retry_after(key_id, now))
        if wait:
            raise TooManyRequests(wait)
        if not access_key or not secret:
            self.by_client.fail(client, now)
            raise Unauthorized(f"missing {ACCESS_KEY_HEADER} or {SECRET_HEADER}")

        account = accounts.get(access_key)
        stored = account.secret_hash if account else None
        token = self._token(access_key, secret, stored)
        if not self._remembered(token, now) and not await self._verify_once(
            token, stored, secret, client, key_id, now
        ):
            raise Unauthorized()
        if account is None:  # cannot happen: a good or remembered secret has a stored hash
            raise Unauthorized()
        if not account.enabled:
            raise Unauthorized("the account is disabled")
        return account

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
            self._remember(token, now)
        return ok

    def _token(self, access_key: str, secret: str, stored: str | None) -> bytes:
        # The stored hash is part of the token, so a changed secret is never remembered.
        material = "\0".join((access_key, secret, stored or "")).encode()
        return hmac.new(self._pepper, material, hashlib.sha256).digest()

    def _remembered(self, token: bytes, now: float) -> bool:
        until = self._recent.get(token)
        if until is None:
            return False
        if until < now:
            del self._recent[token]
            return False
        return True

    def _remember(self, token: bytes, now: float) -> None:
        self._recent[token] = now + _REMEMBER_SECONDS
        self._recent.move_to_end(token)
        while len(self._recent) > _REMEMBER_MAX:
            self._recent.popitem(last=False)


def _key_id(access_key: str) -> str:
    """What the failure window remembers of a key: a short digest, whatever was sent."""
    return hashlib.sha256(access_key.encode("utf-8", "surrogateescape")).hexdigest()[:32]
