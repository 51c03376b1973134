"""A bulk body trickled in a byte a second: ``server.body_timeout`` ends it with a 408."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from pathlib import Path

import pytest

from proxy.accounts import hash_secret
from tests.support.rawhttp import HEAD_END, http, parse_answer
from tests.support.serving import media_doc, proxy_process

SECRET = secrets.token_urlsafe(24)
BODY = b'[{"filename": "cam/a.mp4"}]'


async def test_a_slow_bulk_body_is_408_and_the_connection_closes(tmp_path: Path) -> None:
    (tmp_path / "media").mkdir()
    doc = media_doc(tmp_path / "media", body_timeout="2s")
    doc["accounts"]["cam"] |= {"access_key": "AKCAM", "secret_hash": hash_secret(SECRET)}
    creds = [
        ("X-Kerberos-Storage-AccessKey", "AKCAM"),
        ("X-Kerberos-Storage-SecretAccessKey", SECRET),
    ]
    with proxy_process(tmp_path, doc) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        head = (
            "POST /api/storage/bulk HTTP/1.1\r\nHost: x\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in creds)
            + f"Content-Length: {len(BODY)}\r\n\r\n"
        )
        writer.write(head.encode())
        started = time.monotonic()

        async def trickle() -> None:
            for byte in BODY:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(1)

        sender = asyncio.ensure_future(trickle())
        try:
            raw = await asyncio.wait_for(reader.readuntil(HEAD_END), 10)
            elapsed = time.monotonic() - started
            rest = await asyncio.wait_for(reader.read(), 5)  # the server ends its side at once
            # and soon stops reading too: the trickle runs into a reset.
            with pytest.raises(ConnectionError):
                await asyncio.wait_for(sender, 5)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await sender
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        answer = parse_answer(raw + rest)
        assert answer.status == 408
        assert answer.json() == {
            "data": "the request body took longer than 2s",
            "error": "request_timeout",
        }
        assert answer.headers["connection"].lower() == "close"
        assert 1.5 <= elapsed < 6, elapsed
        # The same body sent at once is fine.
        fast = await http(proxy.port, "POST", "/api/storage/bulk", creds, BODY)
        assert fast.status == 200
        assert "Traceback" not in proxy.log_text()
