"""The serving side on a float clock: a link still works during its own expiry second."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from proxy.app import create_app
from tests.support.proxyapp import NOW, Clock, Links, make_settings, settings_doc

BODY = b"0123456789" * 10


async def test_get_head_and_validate_pass_at_e_plus_half_a_second(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    (tmp_path / "cam").mkdir()
    (tmp_path / "cam" / "clip.mp4").write_bytes(BODY)
    doc = settings_doc(
        {"disk": {"kind": "local", "root": str(tmp_path)}}, cam={"providers": ["disk"]}
    )
    doc["server"]["check_interval"] = 3600
    expires = NOW + 10
    clock = Clock(expires + 0.5)
    client = await aiohttp_client(create_app(make_settings(doc), clock=clock))
    path = Links().path("cam", "disk", "cam/clip.mp4", expires)
    validate = path.replace("/signed?", "/signed/validate?")

    got = await client.get(path)
    assert got.status == 200
    assert await got.read() == BODY
    assert got.headers["Cache-Control"] == "private, max-age=0"
    assert (await client.head(path)).status == 200
    report = await (await client.get(validate)).json()
    assert (report["valid"], report["expiresIn"]) == (True, 0)

    clock.now = expires + 1
    refused = await client.get(path)
    assert refused.status == 403
    assert (await refused.json())["error"] == "expired"
    assert (await (await client.get(validate)).json())["reason"] == "expired"
