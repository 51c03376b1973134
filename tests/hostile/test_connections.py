"""What one anonymous client can hold: heads that never end, trickles, floods of connections.

Each test runs a real server process and attacks it over real sockets, then checks the
process's memory and that a normal client is still served promptly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from pathlib import Path

import aiohttp
import pytest

from benchmarks.heads import hold_head
from tests.support.proxyapp import NOW, Links
from tests.support.serving import ProxyProcess, media_doc, proxy_process

LINK_EXPIRES = NOW * 2


def _media(tmp_path: Path, size: int = 1024) -> Path:
    root = tmp_path / "media"
    (root / "cam").mkdir(parents=True)
    (root / "cam" / "clip.bin").write_bytes(os.urandom(size))
    return root


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field}")


async def _normal_get(p: ProxyProcess) -> float:
    """A signed GET on a fresh connection; the seconds it took (it must be a 200)."""
    url = p.base + Links().path("cam", "disk", "cam/clip.bin", LINK_EXPIRES)
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url, headers={"Connection": "close"}) as resp,
    ):
        assert resp.status == 200
        assert len(await resp.read()) == 1024
    return time.monotonic() - started


async def _read_answer(reader: asyncio.StreamReader, seconds: float) -> bytes:
    with contextlib.suppress(TimeoutError, ConnectionError):
        return await asyncio.wait_for(reader.read(4096), seconds)
    return b""


async def _endless_head(port: int, total: int) -> bytes:
    """Send a request head of ``total`` bytes that never ends; return the answer, if any."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: attacker\r\n")
    line = b"X-Pad: " + b"a" * 8000 + b"\r\n"
    sent = 0
    with contextlib.suppress(ConnectionError):
        while sent < total:
            writer.write(line)
            sent += len(line)
            await writer.drain()
    answer = await _read_answer(reader, 3)
    writer.close()
    return answer


@pytest.mark.slow
async def test_200_endless_heads_cost_little_memory_and_others_are_served(tmp_path: Path) -> None:
    doc = media_doc(_media(tmp_path), access_log=False)
    with proxy_process(tmp_path, doc) as p:
        await _normal_get(p)  # warm: the first request builds caches
        idle = _status_kib(p.pid, "VmRSS")
        Path(f"/proc/{p.pid}/clear_refs").write_text("5")  # restart VmHWM from now
        attack = asyncio.gather(*(_endless_head(p.port, 2 << 20) for _ in range(200)))
        await asyncio.sleep(0.2)
        took = [await _normal_get(p) for _ in range(5)]
        answers = await attack
        peak = _status_kib(p.pid, "VmHWM")
        # A client that stops sending soon after the bound reads its answer. (One that goes
        # on for 2 MiB may see the reset that ends the lingering close first.)
        oversized = await _endless_head(p.port, 64 * 1024)
    assert max(took) < 1.0, took
    assert (peak - idle) / 1024 < 64, f"RSS rose {(peak - idle) / 1024:.1f} MiB"
    refused = [oversized, *(a for a in answers if a)]
    for answer in refused:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 431 ")
        assert json.loads(body)["error"] == "head_too_large"


async def _slowloris(port: int, until: float) -> int:
    """Keep a connection trickling a head; reconnect whenever it is closed. Connections made.

    The attacker's address is 127.0.0.2 (loopback takes all of 127/8), the normal client's
    127.0.0.1."""
    made = 0
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=("127.0.0.2", 0)
            )
        except OSError:
            await asyncio.sleep(0.1)
            continue
        made += 1
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\n")
            while time.monotonic() < until and not reader.at_eof():
                writer.write(b"X")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader.read(1), 0.5)
        except ConnectionError:
            pass
        finally:
            writer.close()
    return made


@pytest.mark.slow
async def test_1000_slowloris_connections_do_not_stop_normal_clients(tmp_path: Path) -> None:
    # 512 descriptors: without a cap the process would run out of them (accept fails).
    doc = media_doc(_media(tmp_path), access_log=False)
    with proxy_process(tmp_path, doc, nofile=512) as p:
        until = time.monotonic() + 6
        attack = asyncio.gather(*(_slowloris(p.port, until) for _ in range(1000)))
        await asyncio.sleep(2)  # every attacker connected (or tried to)
        took = []
        while time.monotonic() < until - 0.5:
            took.append(await _normal_get(p))
        made = sum(await attack)
        log = p.log_text()
    assert made >= 1000
    assert took
    # Every normal request is answered; the bound is loose because the 1,000 attackers share
    # this test's own event loop (and the machine) with the normal client.
    assert max(took) < 3.0, took
    assert "max_connections 2048 lowered to 149" in log
    assert "Traceback" not in log


@pytest.mark.slow
async def test_a_head_that_trickles_is_answered_408_and_closed(tmp_path: Path) -> None:
    doc = media_doc(_media(tmp_path), access_log=False, header_timeout="1s")
    with proxy_process(tmp_path, doc) as p:
        reader, writer = await asyncio.open_connection("127.0.0.1", p.port)
        silent_reader, silent_writer = await asyncio.open_connection("127.0.0.1", p.port)
        started = time.monotonic()
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        answer = b""
        while time.monotonic() - started < 5 and not reader.at_eof():
            with contextlib.suppress(ConnectionError):
                writer.write(b"X-Slow: 1\r\n")
            got = await _read_answer(reader, 0.3)
            answer += got
        elapsed = time.monotonic() - started
        silent = await _read_answer(silent_reader, 5)
        silent_elapsed = time.monotonic() - started
        writer.close()
        silent_writer.close()
        async with aiohttp.ClientSession() as session, session.get(p.base + "/metrics") as resp:
            metrics = await resp.text()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer
    assert json.loads(body)["error"] == "request_timeout"
    assert elapsed < 3
    # A connection that never sends a byte is closed without an answer.
    assert silent == b""
    assert silent_elapsed < 4
    assert 'proxy_connections_refused_total{reason="head_timeout"} 2.0' in metrics


@pytest.mark.slow
async def test_at_the_cap_idle_connections_make_room_and_busy_ones_are_kept(
    tmp_path: Path,
) -> None:
    root = _media(tmp_path)
    (root / "cam" / "big.bin").write_bytes(os.urandom(64 << 20))
    doc = media_doc(root, access_log=False, max_connections=16)
    big = Links().path("cam", "disk", "cam/big.bin", LINK_EXPIRES)
    with proxy_process(tmp_path, doc) as p:
        # 16 downloads that read nothing: every connection is busy answering.
        busy = []
        for _ in range(16):
            reader, writer = await asyncio.open_connection("127.0.0.1", p.port)
            writer.write(f"GET {big} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            await writer.drain()
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200 ")
            busy.append((reader, writer))
        reader, writer = await asyncio.open_connection("127.0.0.1", p.port)
        refused = await _read_answer(reader, 3)
        writer.close()
        head, _, body = refused.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 "), refused
        assert json.loads(body)["error"] == "unavailable"
        # Free the slots; then idle connections are the ones that make room.
        for _, w in busy:
            w.transport.abort()
        await asyncio.sleep(0.5)
        idle = [await asyncio.open_connection("127.0.0.1", p.port) for _ in range(16)]
        await asyncio.sleep(0.2)
        assert await _normal_get(p) < 1.0
        oldest_reader = idle[0][0]
        assert await _read_answer(oldest_reader, 2) == b""
        assert oldest_reader.at_eof(), "the oldest idle connection was not closed"
        for _, w in idle:
            w.close()


@pytest.mark.slow
async def test_sigterm_cuts_a_stalled_stream_after_the_grace_and_no_later(tmp_path: Path) -> None:
    root = _media(tmp_path)
    (root / "cam" / "big.bin").write_bytes(os.urandom(64 << 20))
    doc = media_doc(root, access_log=False, shutdown_grace="3s")
    big = Links().path("cam", "disk", "cam/big.bin", LINK_EXPIRES)
    with proxy_process(tmp_path, doc) as p:
        reader, writer = await asyncio.open_connection("127.0.0.1", p.port)
        writer.write(f"GET {big} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200 ")
        _, keepalive_writer = await asyncio.open_connection("127.0.0.1", p.port)
        started = time.monotonic()
        os.kill(p.pid, signal.SIGTERM)
        await asyncio.to_thread(p.proc.wait, 10)
        elapsed = time.monotonic() - started
        writer.close()
        keepalive_writer.close()
        log = p.log_text()
    # aiohttp alone waited the grace, cancelled, then waited the grace again (6 s here).
    assert 2.9 < elapsed < 4.0, elapsed
    assert p.proc.returncode == 0
    assert "cut 1 request(s) still running after the grace" in log


@pytest.mark.slow
async def test_memory_held_by_unfinished_heads_returns_when_they_close(tmp_path: Path) -> None:
    doc = media_doc(_media(tmp_path), access_log=False)  # heads are held 3 s: within the deadline
    with proxy_process(tmp_path, doc) as p:
        await _normal_get(p)
        idle = _status_kib(p.pid, "VmRSS")
        release = asyncio.Event()
        holders = [asyncio.ensure_future(hold_head(p.port, 30_000, release)) for _ in range(800)]
        await asyncio.sleep(3)
        held = _status_kib(p.pid, "VmRSS")
        release.set()
        await asyncio.gather(*holders)
        after = held
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline and after - idle > 16 * 1024:
            await asyncio.sleep(0.5)
            after = _status_kib(p.pid, "VmRSS")
        assert await _normal_get(p) < 1.0
    assert held - idle > 32 * 1024, "the attack held too little to tell"
    assert (after - idle) / 1024 < 16, f"{(after - idle) / 1024:.1f} MiB still held"
