"""Bytes that are not text, numbers Python will not parse: a 400 JSON answer, never a 500.

Each case goes over a raw socket to a real server process (aiohttp's client would not
send a header byte that is not UTF-8). Failed credential headers count against the
client's address; the log never holds a traceback.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from proxy.accounts import hash_secret
from tests.support.rawhttp import Answer, http
from tests.support.serving import ProxyProcess, media_doc, proxy_process

LIMIT = 3
SECRET = secrets.token_urlsafe(24)
HASH = hash_secret(SECRET)
CREDS: list[tuple[str, str | bytes]] = [
    ("X-Kerberos-Storage-AccessKey", "AKCAM"),
    ("X-Kerberos-Storage-SecretAccessKey", SECRET),
]


@pytest.fixture
def proxy(tmp_path: Path) -> Any:
    (tmp_path / "media").mkdir()
    doc = media_doc(tmp_path / "media")
    doc["issuing"] = {"auth_failures": LIMIT}
    doc["accounts"]["cam"] |= {"access_key": "AKCAM", "secret_hash": HASH}
    with proxy_process(tmp_path, doc) as p:
        yield p


def assert_bad_request(answer: Answer) -> None:
    assert answer.status == 400, answer
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["error"] == "bad_request"
    assert isinstance(answer.json()["data"], str)


def assert_quiet_log(p: ProxyProcess) -> None:
    log = p.log_text()
    assert "Traceback" not in log
    assert "unhandled error" not in log
    statuses = [json.loads(line)["status"] for line in log.splitlines() if line.startswith("{")]
    assert statuses
    assert all(s < 500 for s in statuses)


@pytest.mark.parametrize(
    "header",
    [
        ("X-Kerberos-Storage-AccessKey", b"AK\xffCAM"),
        ("X-Kerberos-Storage-AccessKey", b"\xc3\x28"),  # a broken two-byte sequence
        ("X-Kerberos-Storage-SecretAccessKey", b"s\xe2\x82cret"),
        ("X-Kerberos-Storage-SecretAccessKey", b"\xed\xa0\x80"),  # an encoded surrogate
        ("X-Kerberos-Storage-AccessKey", b"AK\tCAM"),  # a control character the parser lets by
    ],
    ids=["key-ff", "key-c328", "secret-truncated", "secret-surrogate", "key-control"],
)
async def test_credential_headers_that_are_not_text_are_400_and_counted(
    proxy: ProxyProcess, header: tuple[str, bytes]
) -> None:
    name, _ = header
    others = [h for h in CREDS if h[0] != name]
    answers = []
    for i in range(LIMIT):  # both endpoints, LIMIT failures in all
        method, path, body = (
            ("GET", "/api/storage", b"") if i % 2 else ("POST", "/api/storage/bulk", b"[]")
        )
        headers = [*others, header, ("X-Kerberos-Storage-FileName", "cam/a.mp4")]
        answers.append(await http(proxy.port, method, path, headers, body))
    for answer in answers:
        assert_bad_request(answer)
    # Counted as the address's failures: now even the right credentials wait.
    locked = await http(
        proxy.port, "GET", "/api/storage", [*CREDS, ("X-Kerberos-Storage-FileName", "cam/a.mp4")]
    )
    assert locked.status == 429
    # Another address is untouched, and so is the account's key.
    fine = await http(
        proxy.port,
        "GET",
        "/api/storage",
        [*CREDS, ("X-Kerberos-Storage-FileName", "cam/a.mp4")],
        source="127.0.0.20",
    )
    assert fine.status == 200
    assert_quiet_log(proxy)


async def test_link_headers_and_bulk_bodies_that_are_not_text_are_400(proxy: ProxyProcess) -> None:
    bad_headers = [
        ("X-Kerberos-Storage-FileName", b"cam/\xff.mp4"),
        ("X-Kerberos-Storage-FileName", b"cam/\xed\xb2\x80.mp4"),
        ("X-Kerberos-Storage-FileName", b"cam/a\x7f.mp4"),
        ("X-Kerberos-Storage-Provider", b"d\xffisk"),
        ("X-Kerberos-Storage-UriExpiryTime", b"1\xffh"),
        ("X-Kerberos-Storage-UriExpiryTime", b"\xb5s"),
    ]
    for header in bad_headers:
        headers = [*CREDS, ("X-Kerberos-Storage-FileName", "cam/a.mp4"), header]
        if header[0] == "X-Kerberos-Storage-FileName":
            headers = [*CREDS, header]
        assert_bad_request(await http(proxy.port, "GET", "/api/storage", headers))

    huge = "9" * 5000
    bodies = [
        f'[{{"filename": "cam/a.mp4", "uriExpiryTime": {huge}}}]'.encode(),
        f'[{{"filename": "cam/a.mp4", "uriExpiryTime": -{huge}}}]'.encode(),
        b'[{"filename": "cam/\\ud800.mp4"}]',  # a lone surrogate, as a JSON escape
        b'[{"filename": "cam/\\udfff"}]',
        b'[{"filename": "cam/a.mp4", "uriExpiryTime": "\\ud800"}]',
        b'[{"filename": "cam/a.mp4", "uriExpiryTime": 1e999}]',
        b'[{"filename": "cam/\xff.mp4"}]',  # not UTF-8 at all
        b'[{"filename": "cam/a.mp4"}]\xff',
    ]
    for body in bodies:
        answer = await http(proxy.port, "POST", "/api/storage/bulk", CREDS, body)
        assert_bad_request(answer)
    # A surrogate provider is simply not bound (401), and the answer is still clean JSON.
    answer = await http(
        proxy.port,
        "POST",
        "/api/storage/bulk",
        CREDS,
        b'[{"filename": "cam/a", "provider": "\\ud800"}]',
    )
    assert answer.status == 401
    assert answer.json()["error"] == "unauthorized"
    # None of it counted against the address: these logins were good.
    ok = await http(
        proxy.port, "GET", "/api/storage", [*CREDS, ("X-Kerberos-Storage-FileName", "cam/ü.mp4")]
    )
    assert ok.status == 200
    assert_quiet_log(proxy)
