"""Nobody can lock others out of the issuing endpoints: floods behind an ingress, forged headers.

A real ``python -m proxy serve`` sits behind ``Ingress`` (tests/support/rawhttp.py), which
connects from 127.0.0.2 (``server.trusted_proxies``) and appends each client's real address
to ``X-Forwarded-For``. Clients are distinct loopback addresses:

- 127.0.0.10: tenant A's system; 127.0.0.11: tenant B's system;
- 127.0.0.66: the attacker, who knows both access keys and also writes its own
  ``X-Forwarded-For`` naming A's address (the ingress appends the real one after it).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from proxy.accounts import hash_secret
from tests.support.rawhttp import Answer, Ingress, http
from tests.support.serving import ProxyProcess, media_doc, proxy_process

LIMIT = 4
SECRET_A = secrets.token_urlsafe(24)
SECRET_B = secrets.token_urlsafe(24)
HASH_A, HASH_B = hash_secret(SECRET_A), hash_secret(SECRET_B)
TENANT_A, TENANT_B, STRANGER, ATTACKER = "127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.66"


def doc(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "media").mkdir()
    d = media_doc(tmp_path / "media", trusted_proxies=["127.0.0.2/32"])
    d["issuing"] = {"auth_failures": LIMIT, "auth_window": "5m"}
    d["accounts"] = {
        "cam": {"providers": ["disk"], "access_key": "AKTENANTA", "secret_hash": HASH_A},
        "b": {"providers": ["disk"], "access_key": "AKTENANTB", "secret_hash": HASH_B},
    }
    return d


async def issue(
    port: int,
    source: str,
    key: str | None,
    secret: str | None,
    *extra: tuple[str, str],
    filename: str = "cam/a.mp4",
) -> Answer:
    headers: list[tuple[str, str | bytes]] = [("X-Kerberos-Storage-FileName", filename)]
    if key is not None:
        headers.append(("X-Kerberos-Storage-AccessKey", key))
    if secret is not None:
        headers.append(("X-Kerberos-Storage-SecretAccessKey", secret))
    headers += extra
    return await http(port, "GET", "/api/storage", headers, source=source)


def remotes(p: ProxyProcess) -> list[str]:
    lines = [json.loads(line) for line in p.log_text().splitlines() if line.startswith("{")]
    return [line["remote"] for line in lines if line.get("route") == "/api/storage"]


@pytest.fixture
def proxy(tmp_path: Path) -> Any:
    with proxy_process(tmp_path, doc(tmp_path)) as p:
        yield p


async def test_floods_behind_the_ingress_lock_out_only_the_flooder(proxy: ProxyProcess) -> None:
    async with Ingress(proxy.port) as ingress:
        port = ingress.port
        a = ("AKTENANTA", SECRET_A)
        b = ("AKTENANTB", SECRET_B)
        assert (await issue(port, TENANT_B, *b, filename="b/x.mp4")).status == 200
        forged = ("X-Forwarded-For", TENANT_A)  # the attacker's claim; the ingress adds the truth

        # Wrong secrets against B's key: the attacker's address and B's key are now locked.
        for i in range(LIMIT):
            answer = await issue(port, ATTACKER, "AKTENANTB", f"guess-{i}", forged)
            assert answer.status == 401, answer
        # Everything else it sends is refused before any hashing: more guesses for B and A,
        # no credentials at all, even A's right secret.
        floods = [("AKTENANTB", "guess"), ("AKTENANTA", "guess"), (None, None), a] * 3
        for key, secret in floods:
            answer = await issue(port, ATTACKER, key, secret, forged)
            assert answer.status == 429, (key, answer)
            assert answer.json()["error"] == "too_many_requests"

        # A, from the address the attacker named, and B right after its own success: 200.
        assert (await issue(port, TENANT_A, *a)).status == 200
        assert (await issue(port, TENANT_B, *b, filename="b/y.mp4")).status == 200
        # B's key really is locked for strangers that guess; B's remembered secret is not.
        assert (await issue(port, STRANGER, "AKTENANTB", "guess")).status == 429
        assert (await issue(port, STRANGER, *b, filename="b/z.mp4")).status == 200
        # Anonymous floods from A's address lock A's address, and nobody else.
        for _ in range(LIMIT):
            assert (await issue(port, TENANT_A, None, None)).status == 401
        assert (await issue(port, TENANT_A, *a)).status == 200  # remembered: no lock applies
        assert (await issue(port, TENANT_A, "AKTENANTA", "typo")).status == 429
        assert (await issue(port, TENANT_B, *b, filename="b/w.mp4")).status == 200

    seen = remotes(proxy)
    assert seen[0] == TENANT_B
    assert seen[1 : 1 + LIMIT + len(floods)] == [ATTACKER] * (LIMIT + len(floods))
    assert "127.0.0.2" not in seen  # the ingress is never taken for a client


async def test_a_forged_header_from_an_untrusted_peer_is_not_believed(
    proxy: ProxyProcess,
) -> None:
    async with Ingress(proxy.port) as ingress:
        # The attacker's address gets locked through the ingress...
        for _ in range(LIMIT):
            assert (await issue(ingress.port, ATTACKER, None, None)).status == 401
        assert (await issue(ingress.port, ATTACKER, None, None)).status == 429
        # ...but a direct client claiming to be it is judged by its own address,
        spoof = ("X-Forwarded-For", ATTACKER)
        for _ in range(LIMIT):
            assert (await issue(proxy.port, "127.0.0.1", None, None, spoof)).status == 401
        # and a direct client naming tenant A cannot lock A's address either.
        assert (await issue(proxy.port, "127.0.0.1", None, None, spoof)).status == 429
        framed = ("X-Forwarded-For", TENANT_A)
        assert (await issue(proxy.port, "127.0.0.1", None, None, framed)).status == 429
        assert (await issue(ingress.port, TENANT_A, "AKTENANTA", SECRET_A)).status == 200

    seen = remotes(proxy)
    assert seen == [ATTACKER] * (LIMIT + 1) + ["127.0.0.1"] * (LIMIT + 2) + [TENANT_A]
