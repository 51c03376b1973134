"""§6 token links through the app: serving is §2's, the token decides what may be read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from proxy.app import create_app
from proxy.links.signing import Signer
from tests.support.proxyapp import NOW, Clock, Links, make_settings, settings_doc

PLAYLIST = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nseg-001.ts\n#EXT-X-ENDLIST\n"
SEGMENT = bytes(range(256)) * 400  # 100 KiB: streamed, not read whole


@pytest.fixture
async def client(tmp_path: Path, aiohttp_client: Any) -> Any:
    root = tmp_path / "root"
    (root / "cam" / "hls").mkdir(parents=True)
    (root / "cam" / "hls" / "index.m3u8").write_bytes(PLAYLIST)
    (root / "cam" / "hls" / "seg-001.ts").write_bytes(SEGMENT)
    (root / "cam" / "hls2").mkdir()
    (root / "cam" / "hls2" / "index.m3u8").write_bytes(b"other folder")
    (root / "cam" / "dir with space").mkdir()
    (root / "cam" / "dir with space" / "ünï+&.mp4").write_bytes(b"unicode")
    (root / "other").mkdir()
    (root / "other" / "x.mp4").write_bytes(b"another account's")
    doc = settings_doc(
        {"disk": {"kind": "local", "root": str(root)}},
        cam={"providers": ["disk"]},
        off={"providers": ["disk"], "prefix": "cam/", "enabled": False},
    )
    doc["server"]["trusted_proxies"] = ["127.0.0.1/32"]
    return await aiohttp_client(create_app(make_settings(doc), clock=Clock()))


LINKS = Links()
FOLDER = LINKS.token("cam", "disk", folder="cam/hls/")


async def test_a_folder_token_serves_every_file_below_it_with_ranges(client: Any) -> None:
    resp = await client.get(LINKS.token_path(FOLDER, "cam/hls/index.m3u8"))
    assert resp.status == 200
    assert await resp.read() == PLAYLIST
    assert resp.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    # The playlist's relative URI, resolved by a player against the token link.
    segment = client.make_url(LINKS.token_path(FOLDER, "cam/hls/index.m3u8")).join(
        URL("seg-001.ts")
    )
    assert segment.path.endswith(f"/{FOLDER}/cam/hls/seg-001.ts")
    ranged = await client.get(
        LINKS.token_path(FOLDER, "cam/hls/seg-001.ts"), headers={"Range": "bytes=100-70000"}
    )
    assert ranged.status == 206
    assert ranged.headers["Content-Range"] == f"bytes 100-70000/{len(SEGMENT)}"
    assert await ranged.read() == SEGMENT[100:70001]
    head = await client.head(LINKS.token_path(FOLDER, "cam/hls/seg-001.ts"))
    assert head.status == 200
    assert head.headers["Content-Length"] == str(len(SEGMENT))
    assert head.headers["Content-Disposition"].startswith("inline;")
    cache = (await client.get(LINKS.token_path(FOLDER, "cam/hls/index.m3u8"))).headers
    assert cache["Cache-Control"] == "private, max-age=3600"


async def test_a_file_token_with_an_encoded_key_and_a_download_name(client: Any) -> None:
    key = "cam/dir with space/ünï+&.mp4"
    token = LINKS.token("cam", "disk", file=key, download="clip.mp4")
    resp = await client.get(LINKS.token_path(token, key) + "?ignored=1&s=whatever")
    assert resp.status == 200
    assert await resp.read() == b"unicode"
    assert resp.headers["Content-Disposition"] == (
        "attachment; filename=\"clip.mp4\"; filename*=UTF-8''clip.mp4"
    )
    named_by_key = LINKS.token("cam", "disk", file=key, download=True)
    resp = await client.get(LINKS.token_path(named_by_key, key))
    assert resp.headers["Content-Disposition"] == (
        "attachment; filename=\"_n_+&.mp4\"; filename*=UTF-8''%C3%BCn%C3%AF%2B%26.mp4"
    )


OTHER_KEY = Links("another-key-0123456789abcdef0123456789")
HLS = "cam/hls/index.m3u8"


def _cam(**claims: Any) -> str:
    return LINKS.token("cam", "disk", **{"folder": "cam/", **claims})


@pytest.mark.parametrize(
    ("token", "key", "status", "code"),
    [
        (FOLDER, "cam/hls2/index.m3u8", 403, "out_of_scope"),
        (LINKS.token("cam", "disk", file=HLS), "cam/hls/seg-001.ts", 403, "out_of_scope"),
        (OTHER_KEY.token("cam", "disk", folder="cam/"), HLS, 403, "invalid_signature"),
        (_cam(expires=NOW - 1), HLS, 403, "expired"),
        (_cam(not_before=NOW + 60), HLS, 403, "not_yet_valid"),
        (LINKS.token("off", "disk", folder="cam/"), HLS, 403, "revoked"),
        (_cam(folder="other/"), "other/x.mp4", 403, "revoked"),
        (_cam(client_ips=("10.0.0.0/8",)), HLS, 403, "address_not_allowed"),
        (_cam(key_id="gone"), HLS, 403, "invalid_signature"),
        (FOLDER, "cam/hls/%FF.ts", 400, "bad_request"),
        ("not-a-token", HLS, 400, "bad_request"),
        (FOLDER, "cam/hls/missing.ts", 404, "not_found"),
    ],
)
async def test_each_refusal_has_its_status_and_reason(
    client: Any, token: str, key: str, status: int, code: str
) -> None:
    path = LINKS.token_path(token, "x").removesuffix("/x") + "/" + key
    resp = await client.get(path)
    assert resp.status == status
    body = await resp.json()
    assert body["error"] == code
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


async def test_an_address_bound_token_follows_the_trusted_forwarded_address(client: Any) -> None:
    token = LINKS.token("cam", "disk", folder="cam/", client_ips=("192.0.2.0/24", "2001:db8::/32"))
    path = LINKS.token_path(token, "cam/hls/index.m3u8")
    for forwarded, status in (("192.0.2.7", 200), ("2001:db8::1", 200), ("198.51.100.1", 403)):
        resp = await client.get(path, headers={"X-Forwarded-For": forwarded})
        assert resp.status == status, forwarded


async def test_validate_describes_a_token(client: Any) -> None:
    token = LINKS.token("cam", "disk", folder="cam/hls/", not_before=NOW - 10)
    resp = await client.get(f"/api/storage/t/{token}/")
    assert resp.status == 200
    assert await resp.json() == {
        "valid": True,
        "account": "cam",
        "provider": "disk",
        "scope": {"prefix": "cam/hls/"},
        "expires": NOW + 3600,
        "expiresAt": "2027-01-15T09:00:00Z",
        "expiresIn": 3600,
        "notBefore": NOW - 10,
    }
    early = LINKS.token("cam", "disk", file="cam/hls/index.m3u8", not_before=NOW + 5)
    report = await (await client.get(f"/api/storage/t/{early}/")).json()
    assert report["valid"] is False
    assert report["reason"] == "not_yet_valid"
    assert report["scope"] == {"file": "cam/hls/index.m3u8"}
    forged = Links("another-key-0123456789abcdef0123456789").token("cam", "disk", folder="cam/")
    assert await (await client.get(f"/api/storage/t/{forged}/")).json() == {
        "valid": False,
        "reason": "invalid_signature",
    }
    assert (await client.get("/api/storage/t/garbage/")).status == 400


async def test_a_section_1_signature_is_no_token_signature(client: Any) -> None:
    good = LINKS.token("cam", "disk", file="cam/hls/index.m3u8")
    payload = good.split(".")[0]
    s1 = Signer(b"test-signing-key-0123456789abcdef0123456789").sign_message(
        b"vault-signed-v1\n" + payload.encode()
    )
    resp = await client.get(LINKS.token_path(f"{payload}.{s1}", "cam/hls/index.m3u8"))
    assert resp.status == 403
