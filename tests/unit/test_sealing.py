"""Sealed config values: round trip, and every way a wrong one must fail without leaking."""

from __future__ import annotations

import secrets

import pytest

from proxy import config, sealing
from proxy.errors import ConfigError

MASTER = secrets.token_urlsafe(32)
FIELD = "providers.media.secret_access_key"


def test_round_trip_and_fresh_randomness() -> None:
    plain = "wJalrXUtnFEMI/K7MDENG+bPxRfiCY ünïcode"
    first, second = sealing.seal(plain, FIELD, MASTER), sealing.seal(plain, FIELD, MASTER)
    assert first.startswith("enc:v1:")
    assert first != second  # a random salt and nonce each time
    assert plain not in first
    assert sealing.unseal(first, FIELD, MASTER) == plain
    assert sealing.unseal(second, FIELD, MASTER) == plain


def test_list_items_are_bound_to_their_list() -> None:
    token = sealing.seal("k" * 40, "signing.previous_keys", MASTER)
    assert sealing.unseal(token, "signing.previous_keys[3]", MASTER) == "k" * 40


def flip(token: str, at: int) -> str:
    chars = list(token)
    chars[at] = "A" if chars[at] != "A" else "B"
    return "".join(chars)


@pytest.mark.parametrize(
    ("mutate", "field", "master", "message"),
    [
        (lambda t: t, FIELD, secrets.token_urlsafe(32), "wrong PROXY_MASTER_KEY"),
        (lambda t: t, "providers.other.secret_access_key", MASTER, "sealed for another field"),
        (lambda t: flip(t, -5), FIELD, MASTER, "tampered"),
        (lambda t: flip(t, 10), FIELD, MASTER, "tampered"),
        (lambda t: t[:30], FIELD, MASTER, "truncated"),
        (lambda t: t + "!!", FIELD, MASTER, "base64url"),
        (lambda t: t, FIELD, "short", "at least 32 bytes"),
    ],
)
def test_wrong_or_tampered_values_fail_cleanly(
    mutate, field: str, master: str, message: str
) -> None:
    token = mutate(sealing.seal("the-secret-value", FIELD, MASTER))
    with pytest.raises(sealing.SealError) as info:
        sealing.unseal(token, field, master)
    assert message in str(info.value)
    assert "the-secret-value" not in str(info.value)
    assert master not in str(info.value)
    assert token not in str(info.value)


def doc(tmp_path, secret_value: str, field: str = FIELD) -> dict:
    return {
        "signing": {"key": "k" * 32},
        "providers": {
            "media": {
                "kind": "s3",
                "bucket": "b",
                "access_key_id": "AK",
                "secret_access_key": sealing.seal(secret_value, field, MASTER),
            },
        },
    }


def test_config_opens_sealed_values(tmp_path) -> None:
    settings = config.parse(doc(tmp_path, "s3-secret"), "f.toml", {"PROXY_MASTER_KEY": MASTER})
    provider = settings.providers["media"]
    assert isinstance(provider, config.S3Provider)
    assert provider.secret_access_key == "s3-secret"


@pytest.mark.parametrize(
    ("environ", "field", "message"),
    [
        ({}, FIELD, "a sealed value needs PROXY_MASTER_KEY"),
        ({"PROXY_MASTER_KEY": secrets.token_urlsafe(32)}, FIELD, "wrong PROXY_MASTER_KEY"),
        ({"PROXY_MASTER_KEY": MASTER}, "signing.key", "sealed for another field"),
    ],
)
def test_config_stops_on_a_value_it_cannot_open(
    tmp_path, environ, field: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        config.parse(doc(tmp_path, "s3-secret", field), "f.toml", environ)
    text = str(info.value)
    assert "providers.media.secret_access_key" in text
    assert message in text
    assert "s3-secret" not in text
    assert MASTER not in text
