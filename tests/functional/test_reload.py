"""SIGHUP reloads the configuration in a running server without dropping a stream."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.support import toml
from tests.support.procs import free_port, started
from tests.support.proxyapp import KEY, NOW, Links

SIZE = 32 * 1024 * 1024


def config(root: Path, port: int, *, a_enabled: bool) -> dict[str, Any]:
    return {
        "server": {"host": "127.0.0.1", "port": port},
        "signing": {"key": KEY},
        "providers": {"disk": {"kind": "local", "root": str(root)}},
        "accounts": {
            "a": {"providers": ["disk"], "enabled": a_enabled},
            "b": {"providers": ["disk"]},
        },
    }


async def test_sighup_revokes_an_account_while_another_stream_completes(tmp_path: Path) -> None:
    root = tmp_path / "media"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    (root / "a" / "clip.mp4").write_bytes(b"account a's clip")
    big = os.urandom(SIZE)
    (root / "b" / "big.bin").write_bytes(big)
    port = free_port()
    path = tmp_path / "proxy.toml"
    path.write_text(toml.dumps(config(root, port, a_enabled=True)))
    base = f"http://127.0.0.1:{port}"
    links = Links()
    expires = NOW * 2  # far in the future for the real clock
    a_link = base + links.path("a", "disk", "a/clip.mp4", expires)
    b_link = base + links.path("b", "disk", "b/big.bin", expires)
    argv = [sys.executable, "-m", "proxy", "serve", "--config", str(path)]
    log = tmp_path / "proxy.log"
    with started(argv, f"{base}/healthz", log) as proc:
        async with aiohttp.ClientSession() as session:
            assert (await session.get(a_link)).status == 200
            async with session.get(b_link) as download:
                assert download.status == 200
                digest = hashlib.sha256(await download.content.readexactly(1 << 20))
                got = 1 << 20

                path.write_text(toml.dumps(config(root, port, a_enabled=False)))
                os.kill(proc.pid, signal.SIGHUP)
                status = 200
                for _ in range(200):  # bounded: 10 s
                    async with session.get(a_link) as resp:
                        status = resp.status
                        body = await resp.json() if status == 403 else None
                    if status == 403:
                        break
                    await asyncio.sleep(0.05)
                assert status == 403
                assert body == {
                    "data": "the link has been revoked: the account is disabled",
                    "error": "revoked",
                }

                # The stream that started before the reload still ends whole.
                async for chunk in download.content.iter_chunked(1 << 20):
                    digest.update(chunk)
                    got += len(chunk)
            assert got == SIZE
            assert digest.hexdigest() == hashlib.sha256(big).hexdigest()
            # The server kept running and serves the other account.
            async with session.get(b_link, headers={"Range": "bytes=0-9"}) as again:
                assert again.status == 206
    assert "configuration reloaded" in log.read_text()


async def test_sighup_with_a_broken_file_keeps_serving(tmp_path: Path) -> None:
    root = tmp_path / "media"
    (root / "a").mkdir(parents=True)
    (root / "a" / "clip.mp4").write_bytes(b"clip")
    port = free_port()
    path = tmp_path / "proxy.toml"
    path.write_text(toml.dumps(config(root, port, a_enabled=True)))
    base = f"http://127.0.0.1:{port}"
    link = base + Links().path("a", "disk", "a/clip.mp4", NOW * 2)
    argv = [sys.executable, "-m", "proxy", "serve", "--config", str(path)]
    log = tmp_path / "proxy.log"
    with started(argv, f"{base}/healthz", log) as proc:
        path.write_text("[signing]\nkey = 'tiny-key-value'\n")
        os.kill(proc.pid, signal.SIGHUP)
        for _ in range(100):
            if "reload refused" in log.read_text():
                break
            await asyncio.sleep(0.05)
        async with aiohttp.ClientSession() as session, session.get(link) as resp:
            assert resp.status == 200
        assert proc.poll() is None
    assert "reload refused, keeping the running configuration" in log.read_text()
    assert "tiny-key-value" not in log.read_text()


async def test_a_backend_stays_open_while_any_older_request_uses_it(moto: Any) -> None:
    from proxy.runtime import Live, build_runtime
    from tests.support.proxyapp import make_settings, settings_doc

    bucket = moto.new_bucket()
    moto.client().put_object(Bucket=bucket, Key="cam/x.bin", Body=b"x")
    s3 = {
        "kind": "s3",
        "bucket": bucket,
        "endpoint_url": moto.endpoint,
        "access_key_id": "testing",
        "secret_access_key": "testing",
    }
    first = make_settings(settings_doc({"x": s3}, cam={"providers": ["x"]}))
    changed = make_settings(settings_doc({"x": {**s3, "retries": 0}}, cam={"providers": ["x"]}))
    live = Live()
    await live.start(first)
    async with live.use() as old:  # a stream that began before both reloads
        x0 = old.storages["x"]
        await live.replace(await build_runtime(first, reuse=live.current))
        assert live.current.storages["x"] is x0  # unchanged: carried over
        await live.replace(await build_runtime(changed, reuse=live.current))
        assert live.current.storages["x"] is not x0
        assert (await x0.stat("cam/x.bin")).size == 1  # still open for the old request
    assert x0._client is None  # closed once its last user finished
    assert (await live.current.storages["x"].stat("cam/x.bin")).size == 1
    await live.close()
