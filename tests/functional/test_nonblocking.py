"""Never block the loop: file system calls of the local provider run in the executor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from blockbuster import blockbuster_ctx

from proxy.app import create_app
from tests.support.proxyapp import Clock, Links, make_settings, settings_doc


async def test_serving_from_disk_never_blocks_the_loop(tmp_path: Path, aiohttp_client: Any) -> None:
    (tmp_path / "cam").mkdir()
    data = bytes(range(256)) * 4096
    (tmp_path / "cam" / "clip.mp4").write_bytes(data)
    doc = settings_doc(
        {"disk": {"kind": "local", "root": str(tmp_path)}}, cam={"providers": ["disk"]}
    )
    client = await aiohttp_client(create_app(make_settings(doc), clock=Clock()))
    path = Links().path("cam", "disk", "cam/clip.mp4")
    # Only calls made from proxy code count; the test client may block as it likes.
    with blockbuster_ctx(["proxy"]):
        full = await client.get(path)
        assert await full.read() == data
        part = await client.get(path, headers={"Range": "bytes=10-19"})
        assert await part.read() == data[10:20]
        head = await client.head(path)
        assert head.status == 200
