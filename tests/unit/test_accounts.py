"""Secret hashes and the failure window."""

from __future__ import annotations

import re
import time

import pytest

from proxy.accounts import (
    check_secret_hash,
    credential_toml,
    hash_secret,
    new_credential,
    verify_secret,
)
from proxy.ratelimit import FailureWindow


def test_hash_round_trip_is_salted_and_parameterised() -> None:
    first, second = hash_secret("s3cret"), hash_secret("s3cret")
    assert first != second
    assert first.startswith("scrypt$32768$8$1$")
    assert "s3cret" not in first
    assert verify_secret(first, "s3cret")
    assert not verify_secret(first, "s3cret ")
    assert not verify_secret(first, "")
    cheap = hash_secret("s3cret", n=1024)
    assert cheap.startswith("scrypt$1024$8$1$")
    assert verify_secret(cheap, "s3cret")  # the parameters travel with the hash


def test_unknown_keys_cost_the_same_work() -> None:
    known = hash_secret("x")

    def median(stored: str | None) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            verify_secret(stored, "wrong")
            times.append(time.perf_counter() - start)
        return sorted(times)[2]

    assert not verify_secret(None, "x")
    known_t, unknown_t = median(known), median(None)
    # Both run one full scrypt; a skipped hash would be ~1000x faster.
    assert unknown_t > known_t / 3
    assert known_t > unknown_t / 3


@pytest.mark.parametrize(
    "text",
    [
        "",
        "bcrypt$2$8$1$AAAA$BBBB",
        "scrypt$32768$8$1$c2FsdHNhbHQ",
        "scrypt$1000$8$1$c2FsdHNhbHQ$" + "A" * 43,  # N not a power of two
        "scrypt$32768$8$1$!!$" + "A" * 43,
        "scrypt$32768$8$1$c2FsdHNhbHQ$AAAA",  # digest too short
        "scrypt$1073741824$8$1$c2FsdHNhbHQ$" + "A" * 43,  # would need 1 TiB
    ],
)
def test_malformed_hashes_are_refused(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each message is its own case
        check_secret_hash(text)


def test_failure_window_slides() -> None:
    window = FailureWindow(limit=3, window=60)
    for t in (0, 10, 20):
        assert window.retry_after("k", t) == 0
        window.fail("k", t)
    assert window.retry_after("k", 21) == 39  # until the failure at t=0 leaves the window
    assert window.retry_after("other", 21) == 0
    assert window.retry_after("k", 60) == 0  # t=0 has slid out
    window.fail("k", 61)
    assert window.retry_after("k", 62) == 8  # t=10 leaves at 70


def test_failure_window_memory_is_bounded() -> None:
    window = FailureWindow(limit=2, window=60, max_tracked=100)
    for i in range(1000):
        window.fail(f"key-{i}", 0)
    assert len(window._failures) == 100
    window.fail("key-999", 1)
    window.fail("key-999", 2)
    assert window.retry_after("key-999", 3) > 0


def test_readiness_counts_providers_without_a_result_as_not_ready() -> None:
    from proxy.readiness import CheckResult, Readiness

    readiness = Readiness()
    assert readiness.problems(["a"]) == {"*": "providers not checked yet"}
    readiness.results = {"a": CheckResult(True, None), "b": CheckResult(False, "down")}
    readiness.checked_once = True
    assert readiness.problems(["a", "b", "new"]) == {"b": "down", "new": "not checked yet"}
    assert readiness.problems(["a"]) == {}


async def test_oversized_access_keys_are_refused_and_not_tracked() -> None:
    from proxy.auth import Authenticator
    from proxy.errors import Unauthorized

    auth = Authenticator(failures=5, window=60)
    try:
        with pytest.raises(Unauthorized):
            await auth.authenticate({}, "K" * 10_000, "secret", "client-1")
        assert auth.by_key._failures == {}
        assert len(auth.by_client._failures) == 1
        with pytest.raises(Unauthorized):
            await auth.authenticate({}, "AKSHORT", "wrong", "client-2")
        assert all(len(key) == 32 for key in auth.by_key._failures)  # digests, not raw keys
    finally:
        auth.close()


@pytest.mark.parametrize("account", ["cam", "cam.2", 'a "quoted" näme', "tab\\slash"])
def test_a_new_credential_is_a_block_toml_reads_back(account: str) -> None:
    import tomllib

    credential, secret = new_credential("nvr-1")
    assert re.fullmatch(r"AK[A-Z2-7]{20}", credential.access_key)
    assert verify_secret(credential.secret_hash, secret)
    block = credential_toml(account, credential)
    assert secret not in block
    assert tomllib.loads(block) == {
        "accounts": {
            account: {
                "credentials": [
                    {
                        "name": "nvr-1",
                        "access_key": credential.access_key,
                        "secret_hash": credential.secret_hash,
                    }
                ]
            }
        }
    }
