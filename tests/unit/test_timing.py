"""Timing says nothing: near and far misses of a signature, known and unknown access keys.

Statistical, with generous bounds so they cannot flake on a busy machine: the
measurements are interleaved and compared by their medians.
"""

from __future__ import annotations

import statistics
import time

import pytest

from proxy.accounts import Account, Credential, by_access_key, hash_secret
from proxy.auth import Authenticator
from proxy.errors import Unauthorized
from proxy.links.signing import LinkClaims, Signer

KEY = b"timing-test-key-0123456789abcdef0123456789ab"
CLAIMS = LinkClaims("cam", "s3", "cam/clip.mp4", 1_800_000_000)


def flip(c: str) -> str:
    return "A" if c != "A" else "B"


def per_call_ns(fn, n: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - start) / n


def test_signature_checks_take_as_long_near_or_far_from_the_right_one() -> None:
    signer = Signer(KEY, previous_keys=[b"p" * 40])
    good = signer.sign(CLAIMS)
    near = good[:-1] + flip(good[-1])  # wrong only in the last character
    far = flip(good[0]) + good[1:]  # wrong from the first character
    assert not signer.verify(CLAIMS, near)
    assert not signer.verify(CLAIMS, far)
    near_t, far_t = [], []
    for _ in range(40):
        near_t.append(per_call_ns(lambda: signer.verify(CLAIMS, near), 300))
        far_t.append(per_call_ns(lambda: signer.verify(CLAIMS, far), 300))
    ratio = statistics.median(near_t) / statistics.median(far_t)
    assert 0.8 < ratio < 1.25, ratio


async def test_unknown_access_keys_cost_what_known_ones_cost() -> None:
    secret_hash = hash_secret("the-right-secret")
    known_key = Credential("default", "AKKNOWN", secret_hash)
    accounts = by_access_key({"cam": Account("cam", ("s3",), "cam/", credentials=(known_key,))})
    auth = Authenticator(failures=1_000_000, window=60)
    try:

        async def attempt(key: str, secret: str) -> float:
            start = time.perf_counter()
            with pytest.raises(Unauthorized):
                await auth.authenticate(accounts, key, secret, "127.0.0.1")
            return time.perf_counter() - start

        known, unknown = [], []
        for i in range(6):
            known.append(await attempt("AKKNOWN", f"near-miss-{i}"))
            unknown.append(await attempt(f"AKNOBODY{i}", f"far-miss-{i}"))
        ratio = statistics.median(known) / statistics.median(unknown)
        # Both run one full scrypt; skipping it for unknown keys would be ~1000x faster.
        assert 0.6 < ratio < 1.6, ratio
    finally:
        auth.close()
