"""Three replicas behind a round-robin balancer agree: links issued by one work on all,
a key rotation rolled out one replica at a time fails no request, and disabling an
account by reload revokes its links everywhere."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from proxy.accounts import hash_secret
from proxy.links.query import parse_query
from proxy.links.signing import Signer
from tests.support import toml
from tests.support.balancer import Balancer
from tests.support.procs import ROOT, free_port, stop, wait_http

OLD_KEY = secrets.token_urlsafe(32)
NEW_KEY = secrets.token_urlsafe(32)
SECRET = secrets.token_urlsafe(16)
HASH = hash_secret(SECRET)
BODY = b"recording " * 5000


@dataclass
class Replica:
    port: int
    config: Path
    log: Path
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reloads(self) -> int:
        return self.log.read_text().count("configuration reloaded")


def config_doc(
    root: Path, port: int, public: str, key: str, previous: list[str], enabled: bool
) -> dict[str, Any]:
    return {
        "server": {"host": "127.0.0.1", "port": port, "public_url": public, "access_log": False},
        "signing": {"key": key, "previous_keys": previous},
        "providers": {"disk": {"kind": "local", "root": str(root)}},
        "accounts": {
            "cam": {
                "access_key": "AKCAM",
                "secret_hash": HASH,
                "providers": ["disk"],
                "enabled": enabled,
            }
        },
    }


@pytest.fixture
async def cluster(tmp_path: Path) -> Any:
    root = tmp_path / "media"
    (root / "cam").mkdir(parents=True)
    (root / "cam" / "clip.mp4").write_bytes(BODY)
    balancer_port = free_port()
    public = f"http://127.0.0.1:{balancer_port}"
    replicas = []
    for i in range(3):
        port = free_port()
        path = tmp_path / f"replica{i}.toml"
        path.write_text(toml.dumps(config_doc(root, port, public, OLD_KEY, [], True)))
        log = tmp_path / f"replica{i}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "proxy", "serve", "--config", str(path)],
                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
            )  # fmt: skip
        replicas.append(Replica(port, path, log, proc))
    balancer = None
    try:
        for replica in replicas:
            await asyncio.to_thread(wait_http, f"{replica.url}/healthz", replica.proc)
        balancer = await Balancer([r.url for r in replicas]).start(balancer_port)
        yield root, public, replicas, balancer
    finally:
        if balancer is not None:
            await balancer.close()
        for replica in replicas:
            await asyncio.to_thread(stop, replica.proc)


CREDS = {"X-Kerberos-Storage-AccessKey": "AKCAM", "X-Kerberos-Storage-SecretAccessKey": SECRET}


async def issue(session: aiohttp.ClientSession, base: str) -> str:
    headers = {**CREDS, "X-Kerberos-Storage-FileName": "cam/clip.mp4"}
    async with session.get(f"{base}/api/storage", headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["data"])


def via(url: str, base: str) -> str:
    """The same link, sent to ``base`` instead of the public address."""
    parts = urlsplit(url)
    return f"{base}{parts.path}?{parts.query}"


async def fetch(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as resp:
        body = await resp.read()
        if resp.status == 200:
            assert body == BODY
        return resp.status


async def reconfigure(replica: Replica, doc: dict[str, Any]) -> None:
    before = replica.reloads()
    replica.config.write_text(toml.dumps(doc))
    os.kill(replica.proc.pid, signal.SIGHUP)
    for _ in range(200):  # bounded: 10 s
        if replica.reloads() > before:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"replica on {replica.port} did not reload")


async def test_links_issued_by_one_replica_work_on_every_other(cluster: Any) -> None:
    _, public, replicas, balancer = cluster
    async with aiohttp.ClientSession() as session:
        url = await issue(session, replicas[0].url)
        assert url.startswith(public)
        for replica in replicas:
            assert await fetch(session, via(url, replica.url)) == 200
            validate = via(url, replica.url).replace("/signed?", "/signed/validate?")
            async with session.get(validate) as resp:
                assert (await resp.json())["valid"] is True
        for _ in range(6):
            assert await fetch(session, url) == 200  # through the balancer
    assert all(balancer.hits[r.url] >= 2 for r in replicas)


async def test_a_rolling_key_rotation_fails_no_request(cluster: Any) -> None:
    root, public, replicas, balancer = cluster
    failures: list[str] = []
    requests = 0
    rolling = True

    async with aiohttp.ClientSession() as session:
        old_link = await issue(session, balancer.url)

        async def traffic() -> None:
            nonlocal requests
            while rolling:
                # Four requests a round over three replicas: the replica that signs and the
                # ones that serve and validate keep changing.
                link = await issue(session, balancer.url)
                for url in (link, old_link):
                    status = await fetch(session, url)
                    requests += 1
                    if status != 200:
                        failures.append(f"{status} for {parse_query(urlsplit(url).query).claims}")
                validate = link.replace("/signed?", "/signed/validate?")
                async with session.get(validate) as resp:
                    report = await resp.json()
                    if not report["valid"]:
                        failures.append(f"validate: {report['reason']}")
                await asyncio.sleep(0)

        runner = asyncio.ensure_future(traffic())
        try:
            # Phase 1: every replica learns the new key, still signing with the old one.
            for replica in replicas:
                await reconfigure(
                    replica, config_doc(root, replica.port, public, OLD_KEY, [NEW_KEY], True)
                )
                await asyncio.sleep(0.3)
            # Phase 2: one by one, sign with the new key and keep accepting the old.
            for replica in replicas:
                await reconfigure(
                    replica, config_doc(root, replica.port, public, NEW_KEY, [OLD_KEY], True)
                )
                await asyncio.sleep(0.3)
        finally:
            rolling = False
            await runner
        assert requests > 20
        assert failures == []

        new_link = await issue(session, balancer.url)
        parsed = parse_query(urlsplit(new_link).query)
        assert Signer(NEW_KEY.encode()).verify(parsed.claims, parsed.signature)
        assert not Signer(OLD_KEY.encode()).verify(parsed.claims, parsed.signature)
        for replica in replicas:
            assert await fetch(session, via(old_link, replica.url)) == 200
            assert await fetch(session, via(new_link, replica.url)) == 200


async def test_disabling_an_account_revokes_its_links_on_every_replica(cluster: Any) -> None:
    root, public, replicas, _ = cluster
    async with aiohttp.ClientSession() as session:
        url = await issue(session, replicas[1].url)
        for replica in replicas:
            await reconfigure(replica, config_doc(root, replica.port, public, OLD_KEY, [], False))
        for replica in replicas:
            async with session.get(via(url, replica.url)) as resp:
                assert resp.status == 403
                assert await resp.json() == {
                    "data": "the link has been revoked: the account is disabled",
                    "error": "revoked",
                }
