"""Small things a server on the open internet must get right, tried on a real process.

The Server field names no versions, whoever builds the answer; a client that leaves before
its answer's headers costs a count and an access-log line, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
from pathlib import Path

import aiohttp
import pytest

from proxy.accounts import hash_secret
from tests.support.proxyapp import NOW, Links
from tests.support.rawhttp import Answer, http, parse_answer
from tests.support.serving import ProxyProcess, media_doc, proxy_process

LINK_EXPIRES = NOW * 2
SECRET = secrets.token_urlsafe(24)


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    (root / "cam").mkdir(parents=True)
    (root / "cam" / "clip.bin").write_bytes(os.urandom(1000))
    return root


def _announces_nothing(answer: Answer, raw_head: str) -> None:
    assert answer.headers["server"] == "proxy"
    for word in ("aiohttp", "python"):
        assert word not in raw_head.lower()


async def _raw(port: int, data: bytes) -> tuple[Answer, str]:
    """The answer to ``data``, and its head as text (every field line, repeated ones too)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 15)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return parse_answer(raw), raw.partition(b"\r\n\r\n")[0].decode("latin-1")


@pytest.mark.slow
async def test_every_answer_says_server_proxy_and_no_version(tmp_path: Path) -> None:
    links = Links()
    good = links.path("cam", "disk", "cam/clip.bin", LINK_EXPIRES)
    with proxy_process(tmp_path, media_doc(_root(tmp_path), access_log=False)) as p:
        cases = {
            "a link's body (200)": f"GET {good} HTTP/1.1",
            "health (200)": "GET /healthz HTTP/1.1",
            "unknown route (404)": "GET /nope HTTP/1.1",
            "wrong method (405)": "DELETE /healthz HTTP/1.1",
            "bad signature (403)": f"GET {good[:-2]}AA HTTP/1.1",
            "not modified (304)": f"GET {good} HTTP/1.1\r\nIf-None-Match: *",
            "malformed request line (400)": "GET / HTTP/1.1 trailing",
            "header line too long (400)": "GET /healthz HTTP/1.1\r\nX-Pad: " + "a" * 20_000,
        }
        statuses = {}
        for name, head in cases.items():
            request = f"{head}\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
            answer, raw_head = await _raw(p.port, request)
            statuses[name] = answer.status
            assert raw_head.lower().count("\r\nserver:") == 1, (name, raw_head)
            _announces_nothing(answer, raw_head)
    assert statuses == {
        "a link's body (200)": 200,
        "health (200)": 200,
        "unknown route (404)": 404,
        "wrong method (405)": 405,
        "bad signature (403)": 403,
        "not modified (304)": 304,
        "malformed request line (400)": 400,
        "header line too long (400)": 400,
    }


async def _leave_before_the_answer(port: int, request: bytes) -> None:
    """Send a whole request head (and maybe part of a body), then close at once."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    writer.transport.abort()


async def _metric(p: ProxyProcess, line_start: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(p.base + "/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.slow
async def test_clients_leaving_before_the_headers_leave_no_traceback(tmp_path: Path) -> None:
    root = _root(tmp_path)
    # Larger than any socket buffer, so that a client gone is noticed even if the headers
    # went out first: every one of them is an aborted stream either way.
    (root / "cam" / "big.bin").write_bytes(os.urandom(16 << 20))
    doc = media_doc(root)
    doc["accounts"]["cam"].update(access_key="AKCAM", secret_hash=hash_secret(SECRET))
    big = Links().path("cam", "disk", "cam/big.bin", LINK_EXPIRES)
    aborts = 'proxy_stream_aborts_total{reason="client_gone"}'
    with proxy_process(tmp_path, doc) as p:
        # The secret's first check (scrypt) is paid here, not by a client that leaves.
        issued = await http(
            p.port,
            "GET",
            "/api/storage",
            [
                ("X-Kerberos-Storage-AccessKey", "AKCAM"),
                ("X-Kerberos-Storage-SecretAccessKey", SECRET),
                ("X-Kerberos-Storage-FileName", "cam/clip.bin"),
            ],
        )
        assert issued.status == 200
        get = f"GET {big} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        await asyncio.gather(*(_leave_before_the_answer(p.port, get) for _ in range(20)))
        # A bulk request whose body never arrives whole: the handler's read fails.
        bulk = (
            "POST /api/storage/bulk HTTP/1.1\r\nHost: x\r\nX-Kerberos-Storage-AccessKey: AKCAM\r\n"
            f"X-Kerberos-Storage-SecretAccessKey: {SECRET}\r\n"
            'Content-Length: 500\r\n\r\n[{"filename": "cam/'
        ).encode()
        for _ in range(5):
            await _leave_before_the_answer(p.port, bulk)
        counted = 0.0
        for _ in range(100):
            counted = await _metric(p, aborts)
            if counted >= 20:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # any late log line would be written by now
        alive = await http(p.port, "GET", Links().path("cam", "disk", "cam/clip.bin", NOW * 2))
        log = p.log_text()
    assert counted == 20
    assert alive.status == 200
    assert "Traceback" not in log
    assert "Error handling request" not in log
    access = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    gone = [(line["route"], line["status"]) for line in access if line["status"] == 499]
    assert gone.count(("/api/storage/bulk", 499)) == 5
    # Each GET is one line: 499 when it left before the headers, 200 when just after them.
    gets = [line["status"] for line in access if "big.bin" in line["path"]]
    assert len(gets) == 20
    assert set(gets) <= {200, 499}
