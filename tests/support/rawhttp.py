"""Raw HTTP/1.1 over asyncio sockets, for bytes aiohttp's client would never send, and a tiny
ingress that appends ``X-Forwarded-For`` the way a reverse proxy does.

Linux loopback answers for all of 127.0.0.0/8, so a test can be many clients (and the
ingress a distinct peer) by binding each connection's source address.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

HEAD_END = b"\r\n\r\n"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names; the last of repeated fields
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request_bytes(
    method: str,
    target: str | bytes,
    headers: Sequence[tuple[str, str | bytes]] = (),
    body: bytes = b"",
) -> bytes:
    """One request with ``Connection: close``; values may be bytes of any kind."""
    raw_target = target if isinstance(target, bytes) else target.encode()
    lines = [method.encode() + b" " + raw_target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    for name, value in headers:
        lines.append(
            name.encode() + b": " + (value if isinstance(value, bytes) else value.encode())
        )
    if body or method == "POST":
        lines.append(b"Content-Length: " + str(len(body)).encode())
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + HEAD_END + body


def parse_answer(raw: bytes) -> Answer:
    head, _, body = raw.partition(HEAD_END)
    status_line, *fields = head.decode("latin-1").split("\r\n")
    headers = {}
    for field in fields:
        name, _, value = field.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(status_line.split()[1]), headers, body)


async def exchange(
    port: int, data: bytes, *, source: str = "127.0.0.1", timeout: float = 15.0
) -> Answer:
    """Send ``data`` from ``source`` and read the answer until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        writer.write(data)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return parse_answer(raw)


async def http(
    port: int,
    method: str,
    target: str | bytes,
    headers: Sequence[tuple[str, str | bytes]] = (),
    body: bytes = b"",
    *,
    source: str = "127.0.0.1",
) -> Answer:
    return await exchange(port, request_bytes(method, target, headers, body), source=source)


class Ingress:
    """Accepts clients on 127.0.0.1, appends ``X-Forwarded-For: <client address>`` after the
    head's other fields (as nginx's ``$proxy_add_x_forwarded_for`` would: a client's own
    header stays to the left), and connects onward from ``source``. One request per
    connection: the clients here send ``Connection: close``."""

    def __init__(self, target_port: int, source: str = "127.0.0.2") -> None:
        self.target_port = target_port
        self.source = source
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Ingress:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        writers = [client_w]
        try:
            head = await client_r.readuntil(HEAD_END)
            peer = client_w.get_extra_info("peername")[0]
            head = head[: -len(HEAD_END)] + f"\r\nX-Forwarded-For: {peer}".encode() + HEAD_END
            up_r, up_w = await asyncio.open_connection(
                "127.0.0.1", self.target_port, local_addr=(self.source, 0)
            )
            writers.append(up_w)
            up_w.write(head)
            await asyncio.gather(_pump(client_r, up_w), _pump(up_r, client_w))
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            for w in writers:
                w.close()
                with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                    await w.wait_closed()
            self._tasks.discard(task)


async def _pump(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
    with contextlib.suppress(OSError):
        if w.can_write_eof():
            w.write_eof()
