"""The signature of §1 of the protocol: message, sign, verify. Pure.

``message = "vault-signed-v1" LF a LF p LF f LF e`` (UTF-8), and the signature
is ``base64url_nopad(HMAC-SHA256(key, message))``, 43 characters. The proxy
signs with its current key and accepts any configured previous key, comparing
in constant time. The clock is passed in by the caller.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

MIN_KEY_BYTES = 32
SIGNATURE_LENGTH = 43
_DOMAIN = b"vault-signed-v1"


@dataclass(frozen=True, slots=True)
class LinkClaims:
    """The four signed fields of a link."""

    account: str
    provider: str
    filename: str
    expires: int


def message(claims: LinkClaims) -> bytes:
    return b"\n".join(
        (
            _DOMAIN,
            claims.account.encode(),
            claims.provider.encode(),
            claims.filename.encode(),
            str(claims.expires).encode(),
        )
    )


class Signer:
    """Signs with the current key; verifies against current and previous keys.

    The HMAC key schedule is computed once per key and copied per request,
    which keeps the hot path free of re-keying work.
    """

    __slots__ = ("_all", "_current", "_ids", "key_id")

    def __init__(
        self,
        key: bytes,
        previous_keys: Sequence[bytes] = (),
        *,
        key_id: str | None = None,
        previous_ids: Sequence[str | None] = (),
    ) -> None:
        for k in (key, *previous_keys):
            if len(k) < MIN_KEY_BYTES:
                raise ValueError(f"signing keys must be at least {MIN_KEY_BYTES} bytes")
        ids = (*previous_ids, *[None] * (len(previous_keys) - len(previous_ids)))
        self.key_id = key_id  # named in every token it signs (§6 ``k``)
        self._current = hmac.new(key, digestmod=hashlib.sha256)
        self._all = tuple(hmac.new(k, digestmod=hashlib.sha256) for k in (key, *previous_keys))
        self._ids: tuple[str | None, ...] = (key_id, *ids[: len(previous_keys)])

    def __repr__(self) -> str:
        return f"Signer(keys={len(self._all)})"

    @staticmethod
    def _digest(keyed: hmac.HMAC, msg: bytes) -> str:
        mac = keyed.copy()
        mac.update(msg)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")

    def sign(self, claims: LinkClaims) -> str:
        return self.sign_message(message(claims))

    def verify(self, claims: LinkClaims, signature: str) -> bool:
        return self.verify_message(message(claims), signature)

    def sign_message(self, msg: bytes) -> str:
        """The signature of ``msg`` (already domain-separated) under the current key."""
        return self._digest(self._current, msg)

    def verify_message(self, msg: bytes, signature: str) -> bool:
        """True if any configured key made ``signature``; constant time per key."""
        return self.signed_by(msg, signature) is not None

    def signed_by(self, msg: bytes, signature: str) -> frozenset[str | None] | None:
        """The ids of the configured keys that made ``signature`` (None for an unnamed key),
        or None if none did; constant time per key."""
        given = signature.encode("ascii", "replace")
        matched: list[str | None] = []
        # Every key is tried, also after a match, so timing says nothing about which one.
        for keyed, key_id in zip(self._all, self._ids, strict=True):
            if hmac.compare_digest(self._digest(keyed, msg).encode("ascii"), given):
                matched.append(key_id)
        return frozenset(matched) if matched else None
