"""Links and tokens whose signature the current keys verified, remembered by their text.

A player seeking through one recording sends the same link (or token) again and
again; parsing it and computing its HMAC each time is a good part of what a seek
costs. So the verdict on a text is kept, keyed by the exact text sent: its parsed
claims, or its refusal (malformed: 400; not signed by a current key: 403), in a
place of its own, so that a flood of forged links can only push out other forged
links, never the good ones. Refusing a text again costs what serving it would,
and a new text costs the full parse and HMAC either way. What a signature cannot
settle once and for all (expiry, not-before, the account's state, the client's
address) is still checked on every request.

One ``Checked`` belongs to one runtime: a reload (new keys, a removed key) starts
an empty one. Each of its four tables (links and tokens, good and refused) is at most
``SIZE`` entries of at most ``LONGEST`` characters (about 4 MiB in all at worst), the
oldest going first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from proxy.errors import BadRequest, InvalidSignature
from proxy.links.query import SignedQuery, parse_query
from proxy.links.signing import Signer
from proxy.links.tokens import TokenClaims, parse_token

SIZE = 1024
LONGEST = 1024  # characters; a link or token longer than this is not kept
_V = TypeVar("_V")
_Refusal = tuple[type[BadRequest | InvalidSignature], str]


class Checked:
    def __init__(self, signer: Signer, size: int = SIZE) -> None:
        self._signer = signer
        self._size = size
        self._links: dict[str, SignedQuery] = {}
        self._tokens: dict[str, TokenClaims] = {}
        self._refused_links: dict[str, _Refusal] = {}
        self._refused_tokens: dict[str, _Refusal] = {}

    def link(self, raw_query: str) -> SignedQuery:
        """The §1 query, well formed and signed by a current key; else ``BadRequest`` (400)
        or ``InvalidSignature`` (403), in that order."""
        return self._judged(self._links, self._refused_links, raw_query, self._signed_query)

    def token(self, raw_token: str) -> TokenClaims:
        """The §6 token's claims (``parse_token``'s checks and errors)."""
        return self._judged(self._tokens, self._refused_tokens, raw_token, self._token_claims)

    def _signed_query(self, raw_query: str) -> SignedQuery:
        query = parse_query(raw_query)
        if not self._signer.verify(query.claims, query.signature):
            raise InvalidSignature()
        return query

    def _token_claims(self, raw_token: str) -> TokenClaims:
        return parse_token(raw_token, self._signer).claims

    def _judged(
        self,
        kept: dict[str, _V],
        refused: dict[str, _Refusal],
        text: str,
        judge: Callable[[str], _V],
    ) -> _V:
        """``judge(text)``, or its verdict from the last time ``text`` was judged."""
        known = kept.get(text)
        if known is not None:
            return known
        _raise_again(refused.get(text))
        try:
            value = judge(text)
        except (BadRequest, InvalidSignature) as exc:
            _keep(refused, text, (type(exc), exc.message), self._size)
            raise
        _keep(kept, text, value, self._size)
        return value


def _raise_again(refusal: _Refusal | None) -> None:
    """A refusal kept, raised anew (a fresh exception: one raised twice would grow its
    traceback)."""
    if refusal is not None:
        kind, message = refusal
        raise kind(message)


def _keep(kept: dict[str, _V], text: str, value: _V, size: int) -> None:
    if len(text) > LONGEST:
        return  # verified every time: what is kept stays small
    if len(kept) >= size:
        del kept[next(iter(kept))]  # the oldest (insertion order)
    kept[text] = value
