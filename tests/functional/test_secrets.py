"""Secrets stay secret: every endpoint, every outcome, then a search of all logs and answers.

The server runs as a process with its access log on; the secrets are made here
at run time, so no fixture file holds one.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp

from proxy import sealing
from proxy.accounts import hash_secret
from proxy.links.query import parse_query
from tests.conftest import MotoServer
from tests.support import toml
from tests.support.procs import free_port, started
from tests.support.proxyapp import NOW, Links
from tests.support.serving import media_doc, proxy_process


async def test_no_secret_in_any_log_or_response(tmp_path: Path, moto: MotoServer) -> None:
    signing_key = secrets.token_urlsafe(32)
    previous_key = secrets.token_urlsafe(32)
    account_secret = secrets.token_urlsafe(24)
    secret_hash = hash_secret(account_secret)
    master = secrets.token_urlsafe(32)
    s3_secret = "testing"  # moto's; the sealed form below is what must not leak
    sealed = sealing.seal(s3_secret, "providers.s3.secret_access_key", master)
    bucket = moto.new_bucket()
    moto.client().put_object(Bucket=bucket, Key="cam/s3.mp4", Body=b"s3 bytes")
    root = tmp_path / "media"
    (root / "cam").mkdir(parents=True)
    (root / "cam" / "clip.mp4").write_bytes(b"0123456789" * 100)
    port = free_port()
    doc = {
        "server": {"host": "127.0.0.1", "port": port, "access_log": True},
        "signing": {"key": "env:TEST_SIGNING_KEY", "previous_keys": [previous_key]},
        "issuing": {"auth_failures": 2, "max_items": 2},
        "providers": {
            "disk": {"kind": "local", "root": str(root)},
            "s3": {
                "kind": "s3",
                "bucket": bucket,
                "endpoint_url": moto.endpoint,
                "access_key_id": "testing",
                "secret_access_key": sealed,
                "retries": 0,
            },
            "dead": {
                "kind": "s3",
                "bucket": bucket,
                "endpoint_url": f"http://127.0.0.1:{free_port()}",
                "access_key_id": "testing",
                "secret_access_key": sealing.seal(
                    s3_secret, "providers.dead.secret_access_key", master
                ),
                "retries": 0,
                "connect_timeout": 1,
            },
        },
        "accounts": {
            "cam": {
                "access_key": "AKCAM",
                "secret_hash": secret_hash,
                "providers": ["disk", "s3", "dead"],
            },
        },
    }
    path = tmp_path / "proxy.toml"
    path.write_text(toml.dumps(doc))
    env = {**os.environ, "TEST_SIGNING_KEY": signing_key, "PROXY_MASTER_KEY": master}
    base = f"http://127.0.0.1:{port}"
    links = Links(signing_key)
    expires = NOW * 2
    good = links.path("cam", "disk", "cam/clip.mp4", expires)
    used_signatures = {parse_query(good.split("?", 1)[1]).signature}
    creds = {
        "X-Kerberos-Storage-AccessKey": "AKCAM",
        "X-Kerberos-Storage-SecretAccessKey": account_secret,
    }
    answers: list[str] = []
    issued: list[str] = []

    async def call(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> int:
        async with session.request(method, base + url, **kw) as resp:
            body = await resp.text()
            text = f"{resp.status} {dict(resp.headers)} {body}"
            if (
                url.startswith("/api/storage")
                and not url.startswith("/api/storage/signed")
                and resp.status == 200
            ):
                issued.append(text)  # an issued URL carries its own signature, by design
            else:
                answers.append(text)
            return resp.status

    argv = [sys.executable, "-m", "proxy", "serve", "--config", str(path)]
    log = tmp_path / "proxy.log"
    with started(argv, f"{base}/healthz", log, env) as proc:
        async with aiohttp.ClientSession() as session:
            assert await call(session, "GET", good) == 200
            assert await call(session, "GET", good, headers={"Range": "bytes=0-9"}) == 206
            assert await call(session, "HEAD", good) == 200
            assert await call(session, "OPTIONS", good) == 204
            assert await call(session, "GET", good.replace("/signed?", "/signed/validate?")) == 200
            expired = links.path("cam", "disk", "cam/clip.mp4", 1_000_000_000)
            used_signatures.add(parse_query(expired.split("?", 1)[1]).signature)
            assert await call(session, "GET", expired) == 403
            tampered = good.replace("cam%2Fclip.mp4", "cam%2Fother.mp4")
            assert await call(session, "GET", tampered) == 403
            assert await call(session, "GET", good + "&x=1") == 400
            missing = links.path("cam", "disk", "cam/none.mp4", expires)
            used_signatures.add(parse_query(missing.split("?", 1)[1]).signature)
            assert await call(session, "GET", missing) == 404
            dead = links.path("cam", "dead", "cam/clip.mp4", expires)
            used_signatures.add(parse_query(dead.split("?", 1)[1]).signature)
            assert await call(session, "GET", dead) == 502
            s3 = links.path("cam", "s3", "cam/s3.mp4", expires)
            used_signatures.add(parse_query(s3.split("?", 1)[1]).signature)
            assert await call(session, "GET", s3) == 200
            file_hdr = {"X-Kerberos-Storage-FileName": "cam/clip.mp4"}
            assert await call(session, "GET", "/api/storage", headers={**creds, **file_hdr}) == 200
            bulk = json.dumps([{"filename": "cam/clip.mp4"}])
            assert await call(session, "POST", "/api/storage/bulk", data=bulk, headers=creds) == 200
            assert (
                await call(session, "POST", "/api/storage/bulk", data="[1]", headers=creds) == 400
            )
            too_many = json.dumps([{"filename": f"cam/{i}"} for i in range(3)])
            assert (
                await call(session, "POST", "/api/storage/bulk", data=too_many, headers=creds)
                == 413
            )
            wrong = {**creds, "X-Kerberos-Storage-SecretAccessKey": account_secret + "x"}
            assert await call(session, "GET", "/api/storage", headers={**wrong, **file_hdr}) == 401
            assert await call(session, "GET", "/api/storage", headers={**wrong, **file_hdr}) == 401
            # The right secret verified above is remembered and passes; a new guess is a 429.
            guess = {**creds, "X-Kerberos-Storage-SecretAccessKey": account_secret + "y"}
            assert await call(session, "GET", "/api/storage", headers={**guess, **file_hdr}) == 429
            assert await call(session, "DELETE", "/api/storage/signed") == 405
            assert await call(session, "GET", "/nowhere") == 404
            assert await call(session, "GET", "/healthz") == 200
            # A signed link sent with a raw space is refused by the HTTP parser, which would
            # log the whole request line, signature included, with a traceback.
            host, port_text = base.removeprefix("http://").split(":")
            reader, writer = await asyncio.open_connection(host, int(port_text))
            writer.write(
                f"GET {good.replace('cam%2F', 'cam/dir with space/')} HTTP/1.1\r\n\r\n".encode()
            )
            await writer.drain()
            answer = await reader.read(4096)
            writer.close()
            assert answer.split(b" ")[1] == b"400"
            answers.append(answer.decode("latin-1"))
        os.kill(proc.pid, signal.SIGHUP)  # a reload logs too
        for _ in range(100):
            if "configuration reloaded" in log.read_text():
                break
            await asyncio.sleep(0.05)
    logs = log.read_text()
    assert "configuration reloaded" in logs
    assert '"status":502' in logs  # the log was really captured

    never_anywhere = {
        "signing key": signing_key,
        "previous key": previous_key,
        "account secret": account_secret,
        "secret hash": secret_hash,
        "hash digest": secret_hash.rsplit("$", 1)[1],
        "master key": master,
        "sealed value": sealed,
    }
    haystacks = {"logs": logs, "answers": "\n".join(answers), "issued": "\n".join(issued)}
    for where, text in haystacks.items():
        for what, value in never_anywhere.items():
            assert value not in text, f"{what} found in {where}"
    for signature in used_signatures:
        assert signature not in logs, "a full signature reached the logs"
        assert signature not in haystacks["answers"], "a full signature reached a response"
    for issued_answer in issued:
        for url in _urls(issued_answer):
            assert parse_query(url.split("?", 1)[1]).signature not in logs
    assert logs.count("s=[redacted]") >= 8
    assert "request refused by the HTTP parser" in logs
    assert "Traceback" not in logs


def _urls(text: str) -> list[str]:
    found = []
    for piece in text.replace('\\"', '"').split('"'):
        if "/api/storage/signed?" in piece:
            found.append(piece)
    return found


async def test_the_access_log_names_the_account_and_credential_of_each_issuing_request(
    tmp_path: Path,
) -> None:
    root = tmp_path / "media"
    (root / "cam").mkdir(parents=True)
    (root / "cam" / "clip.mp4").write_bytes(b"clip")
    recorder, portal, retired = (secrets.token_urlsafe(24) for _ in range(3))
    doc = media_doc(root, access_log=True)
    doc["accounts"]["cam"]["credentials"] = [
        {"name": "recorder", "access_key": "AKREC", "secret_hash": hash_secret(recorder)},
        {"name": "portal", "access_key": "AKPORTAL", "secret_hash": hash_secret(portal)},
        {"name": "retired", "access_key": "AKOLD", "secret_hash": hash_secret(retired)},
    ]
    doc["accounts"]["cam"]["credentials"][2]["enabled"] = False

    def creds(access: str, secret: str) -> dict[str, str]:
        return {
            "X-Kerberos-Storage-AccessKey": access,
            "X-Kerberos-Storage-SecretAccessKey": secret,
            "X-Kerberos-Storage-FileName": "cam/clip.mp4",
        }

    async def call(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> Any:
        async with session.request(method, url, **kw) as resp:
            body = await resp.read()
            return resp.status, json.loads(body) if resp.content_type.endswith("json") else body

    bulk = json.dumps([{"filename": "cam/clip.mp4"}])
    with proxy_process(tmp_path, doc) as p:
        async with aiohttp.ClientSession(p.base) as s:
            status, body = await call(s, "GET", "/api/storage", headers=creds("AKREC", recorder))
            assert status == 200
            link = body["data"]
            many = await call(
                s, "POST", "/api/storage/bulk", data=bulk, headers=creds("AKPORTAL", portal)
            )
            assert many[0] == 200
            assert (await call(s, "GET", "/api/storage", headers=creds("AKREC", portal)))[0] == 401
            status, body = await call(s, "GET", "/api/storage", headers=creds("AKOLD", retired))
            assert (status, body["data"]) == (401, "the credential is disabled")
            assert await call(s, "GET", link.removeprefix(p.base)) == (200, b"clip")
        lines: list[dict[str, Any]] = []
        for _ in range(100):  # each line is written once its answer is out: bounded wait
            lines = [
                json.loads(line)
                for line in p.log_text().splitlines()
                if line.startswith("{") and '"/healthz"' not in line
            ]
            if len(lines) >= 5:
                break
            await asyncio.sleep(0.05)
    seen = [(line["route"], line["status"], line["account"], line["credential"]) for line in lines]
    assert seen == [
        ("/api/storage", 200, "cam", "recorder"),
        ("/api/storage/bulk", 200, "cam", "portal"),
        ("/api/storage", 401, None, None),  # nobody is named by a secret that did not verify
        ("/api/storage", 401, "cam", "retired"),  # it did: a system still calling with it
        ("/api/storage/signed", 200, "cam", None),  # a link names its account only
    ]
    logs = p.log_text()
    hashes = [c["secret_hash"] for c in doc["accounts"]["cam"]["credentials"]]
    for value in (recorder, portal, retired, *hashes):
        assert value not in logs
