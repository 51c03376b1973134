"""The local provider never serves anything outside its root, nor outside the account's prefix,
whatever the links or symlinks say."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from proxy.app import create_app
from tests.support.proxyapp import Clock, Links, make_settings, settings_doc


@pytest.fixture
async def client(tmp_path: Path, aiohttp_client: Any) -> Any:
    root = tmp_path / "root"
    (root / "cam" / "dir").mkdir(parents=True)
    (root / "cam" / "real.mp4").write_bytes(b"inside")
    (root / "shared.mp4").write_bytes(b"inside but outside the prefix")
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"outside the root")
    os.symlink(secret, root / "cam" / "escape.txt")
    os.symlink(tmp_path, root / "cam" / "up")
    os.symlink(root / "cam" / "real.mp4", root / "cam" / "alias.mp4")
    os.symlink(root / "shared.mp4", root / "cam" / "to-shared.mp4")
    os.mkfifo(root / "cam" / "fifo")
    doc = settings_doc({"disk": {"kind": "local", "root": str(root)}}, cam={"providers": ["disk"]})
    return await aiohttp_client(create_app(make_settings(doc), clock=Clock()))


@pytest.mark.parametrize(
    "key",
    ["cam/escape.txt", "cam/up/secret.txt", "cam/dir", "cam/fifo", "cam/missing.mp4"],
)
async def test_outside_or_not_a_file_is_404(client: Any, key: str) -> None:
    resp = await client.get(Links().path("cam", "disk", key))
    assert resp.status == 404
    assert b"outside the root" not in await resp.read()


async def test_symlinks_that_stay_inside_the_prefix_are_followed(client: Any) -> None:
    resp = await client.get(Links().path("cam", "disk", "cam/alias.mp4"))
    assert resp.status == 200
    assert await resp.read() == b"inside"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_a_symlink_inside_the_root_but_outside_the_prefix_is_404(
    client: Any, method: str
) -> None:
    # The prefix holds for the file a link really reaches, not only for the link's name.
    shared = await client.request(method, Links().path("cam", "disk", "cam/to-shared.mp4"))
    assert shared.status == 404
    assert b"outside the prefix" not in await shared.read()
