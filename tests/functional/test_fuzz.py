"""Raw HTTP, hand-made and mutated: never a 5xx, and a refused request never reaches the backend.

Requests go over plain sockets, byte for byte, to a real server whose S3 backend
(moto) is reached through a counting relay.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest

from proxy.app import create_app
from tests.conftest import MotoServer
from tests.support.proxyapp import NOW, Clock, Links, make_settings, settings_doc
from tests.support.relay import TcpRelay

# Statuses that mean "refused before any backend was asked".
REFUSED = {400, 401, 403, 405, 413, 414, 431}


@pytest.fixture
async def target(moto: MotoServer, aiohttp_client: Any) -> Any:
    bucket = moto.new_bucket()
    moto.client().put_object(Bucket=bucket, Key="cam/clip.mp4", Body=b"0123456789" * 100)
    relay = await TcpRelay("127.0.0.1", moto.port).start()
    provider = moto.provider(bucket, f"http://127.0.0.1:{relay.port}", retries=0)
    doc = settings_doc({"s3": provider}, cam={"providers": ["s3"]})
    doc["server"]["check_interval"] = 3600  # keep the readiness check off the relay's count
    client = await aiohttp_client(create_app(make_settings(doc), clock=Clock()))
    await asyncio.sleep(0.2)  # let the start-up readiness check finish
    client.relay = relay
    yield client
    await relay.close()


async def send_raw(client: Any, payload: bytes) -> int | None:
    """The status of the answer, or None when the server closed without one."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(payload)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
    except (ConnectionError, TimeoutError):
        return None
    finally:
        writer.close()
    parts = line.split()
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None


def request(target: str, *headers: str, method: str = "GET") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


GOOD = Links().path("cam", "s3", "cam/clip.mp4", NOW + 3600)
GOOD_QUERY = GOOD.split("?", 1)[1]
SIG = GOOD_QUERY.rsplit("s=", 1)[1]

HOSTILE: list[tuple[str, bytes]] = [
    ("garbage", b"GARBAGE\r\n\r\n"),
    ("no version", b"GET /api/storage/signed\r\n\r\n"),
    ("bad version", request(GOOD).replace(b"HTTP/1.1", b"HTTP/9.9")),
    ("long method", request(GOOD, method="G" * 5000)),
    ("lowercase method", request(GOOD, method="get")),
    ("NUL in line", b"GET /api/storage/signed?a=\x00 HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("huge header", request(GOOD, "X-Junk: " + "x" * 100_000)),
    ("many headers", request(GOOD, *[f"X-{i}: {i}" for i in range(500)])),
    ("huge query", request("/api/storage/signed?" + "a=1&" * 20_000)),
    ("duplicate a", request(GOOD + "&a=cam")),
    ("duplicate s", request(GOOD + "&s=" + SIG)),
    ("unknown param", request(GOOD + "&download=1")),
    ("overlong f", request(GOOD.replace("cam%2Fclip.mp4", "cam%2F" + "x" * 5000))),
    ("encoded traversal", request(GOOD.replace("cam%2Fclip.mp4", "cam%2F%2e%2e%2fother%2Fx"))),
    ("plain traversal", request(GOOD.replace("cam%2Fclip.mp4", "cam/../other/x"))),
    ("NUL in f", request(GOOD.replace("cam%2Fclip.mp4", "cam%2Fclip%00.mp4"))),
    ("backslash in f", request(GOOD.replace("cam%2Fclip.mp4", "cam%5C..%5Cclip.mp4"))),
    ("invalid UTF-8", request(GOOD.replace("cam%2Fclip.mp4", "cam%2F%FF%FE.mp4"))),
    ("overlong UTF-8 slash", request(GOOD.replace("cam%2Fclip.mp4", "cam%C0%AFclip.mp4"))),
    ("half percent", request(GOOD.replace("cam%2Fclip.mp4", "cam%2Fclip%2.mp4"))),
    (
        "mixed encodings",
        request(GOOD.replace("cam%2Fclip.mp4", "cam/clip%2Emp4").replace("s=", "s=A")),
    ),
    ("semicolon separator", request(GOOD.replace("&", ";"))),
    ("empty values", request("/api/storage/signed?a=&p=&f=&e=&s=")),
    ("e with sign", request(GOOD.replace("e=", "e=+"))),
    ("e far future", request(GOOD.replace(f"e={NOW + 3600}", "e=999999999999"))),
    ("s wrong length", request(GOOD[:-1])),
    ("s tampered", request(GOOD[:-1] + ("A" if GOOD[-1] != "A" else "B"))),
    ("absolute form", request("http://evil.example" + GOOD)),
    ("encoded path", request(GOOD.replace("/api/storage/signed", "/api%2Fstorage%2Fsigned"))),
    ("dot path", request(GOOD.replace("/api/storage/signed", "/api/storage/./signed/.."))),
    ("POST", request(GOOD, "Content-Length: 3", method="POST") + b"abc"),
    ("TE and CL", request(GOOD, "Transfer-Encoding: chunked", "Content-Length: 5") + b"0\r\n\r\n"),
    ("bad chunked", request(GOOD, "Transfer-Encoding: chunked") + b"zz\r\nxx\r\n"),
    ("obs-fold", request(GOOD, "X-A: 1", " folded")),
    (
        "issue bad creds",
        request(
            "/api/storage",
            "X-Kerberos-Storage-AccessKey: \x01",
            "X-Kerberos-Storage-FileName: cam/x",
        ),
    ),
    ("bulk no creds", request("/api/storage/bulk", "Content-Length: 2", method="POST") + b"[]"),
]


@pytest.mark.parametrize(("name", "payload"), HOSTILE, ids=[name for name, _ in HOSTILE])
async def test_hostile_requests_are_refused_without_a_5xx(
    target: Any, name: str, payload: bytes
) -> None:
    before = target.relay.accepted
    status = await send_raw(target, payload)
    assert status is None or status < 500, f"{name}: {status}"
    if status is None or status in REFUSED:
        assert target.relay.accepted == before, f"{name}: the backend was contacted"


async def test_repeated_range_headers_get_the_whole_object(target: Any) -> None:
    status = await send_raw(target, request(GOOD, "Range: bytes=0-1", "Range: bytes=2-3"))
    assert status == 200


async def test_mutated_requests_never_get_a_5xx(target: Any) -> None:
    rng = random.Random(20261123)  # fixed: a failure reproduces
    base = request(GOOD, "Range: bytes=0-99", 'If-None-Match: "x"')
    statuses: dict[int | None, int] = {}
    for _ in range(400):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(data))
            action = rng.random()
            if action < 0.5:
                data[at] = rng.randrange(256)
            elif action < 0.75:
                del data[at]
            else:
                data[at:at] = bytes([rng.randrange(256)]) * rng.randint(1, 50)
        before = target.relay.accepted
        status = await send_raw(target, bytes(data))
        statuses[status] = statuses.get(status, 0) + 1
        assert status is None or status < 500, bytes(data)[:200]
        if status in REFUSED:
            assert target.relay.accepted == before, bytes(data)[:200]
    assert sum(v for k, v in statuses.items() if k in REFUSED) > 100  # the fuzz did reach the gate


async def test_parser_refusals_are_json_and_never_echo_the_line(target: Any) -> None:
    reader, writer = await asyncio.open_connection(target.server.host, target.server.port)
    writer.write(f"GET {GOOD.replace('cam%2F', 'cam/with space/')} HTTP/1.1\r\n\r\n".encode())
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400"
    assert b"application/json" in head.lower()
    assert json.loads(body) == {
        "data": "malformed HTTP request (BadStatusLine)",
        "error": "bad_request",
    }
    assert SIG.encode() not in answer
