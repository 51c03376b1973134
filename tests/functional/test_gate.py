"""The gate in front of every object: 400 for malformed, 403 for bad / expired / revoked.

These run through the HTTP app with an S3 provider reached through a counting
relay, so a test can show that a refused request never reached the backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from proxy.app import create_app
from tests.conftest import MotoServer
from tests.support.proxyapp import NOW, OLD_KEY, Clock, Links, make_settings, settings_doc
from tests.support.relay import TcpRelay

BODY = b"0123456789" * 100


@dataclass
class Gate:
    client: Any
    clock: Clock
    relay: TcpRelay
    links: Links

    async def get(self, path: str, method: str = "GET") -> Any:
        return await self.client.request(method, path)


@pytest.fixture
async def gate(moto: MotoServer, tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Gate]:
    bucket = moto.new_bucket()
    s3 = moto.client()
    for key in ("cam/clip.mp4", "other/clip.mp4", "cam/sub/clip.mp4"):
        s3.put_object(Bucket=bucket, Key=key, Body=BODY)
    relay = await TcpRelay("127.0.0.1", moto.port).start()
    (tmp_path / "cam").mkdir()
    (tmp_path / "cam" / "clip.mp4").write_bytes(BODY)
    providers = {
        "s3": moto.provider(bucket, f"http://127.0.0.1:{relay.port}", retries=0),
        "disk": {"kind": "local", "root": str(tmp_path)},
        "unbound": {"kind": "local", "root": str(tmp_path)},
    }
    doc = settings_doc(
        providers,
        cam={"providers": ["s3", "disk"], "prefix": "cam/"},
        off={"providers": ["s3"], "prefix": "", "enabled": False},
        narrow={"providers": ["s3"], "prefix": "cam/sub/"},
    )
    # One readiness round at start-up, then none: its list call must not count as a request's.
    doc["server"]["check_interval"] = 3600
    clock = Clock()
    client = await aiohttp_client(create_app(make_settings(doc), clock=clock))
    for _ in range(200):
        if (await client.get("/readyz")).status == 200:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the proxy never became ready")
    relay.accepted = 0
    yield Gate(client, clock, relay, Links())
    await relay.close()


async def test_a_good_link_streams(gate: Gate) -> None:
    resp = await gate.get(gate.links.path("cam", "s3", "cam/clip.mp4"))
    assert resp.status == 200
    assert await resp.read() == BODY
    assert gate.relay.accepted >= 1


MALFORMED = [
    "",
    "a=cam&p=s3&f=cam/clip.mp4&e=1800003600",
    "{good}&a=cam",
    "{good}&extra=1",
    "{good}&s=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "a=cam&p=s3&f=cam%2F..%2Fother%2Fclip.mp4&e=1800003600&s=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "a=cam&p=s3&f=cam%5Cclip.mp4&e=1800003600&s=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "a=cam&p=s3&f=cam/clip%00.mp4&e=1800003600&s=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "a=cam&p=s3&f=cam/clip.mp4&e=soon&s=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "a=cam&p=s3&f=cam/clip.mp4&e=1800003600&s=short",
]


@pytest.mark.parametrize("template", MALFORMED)
@pytest.mark.parametrize("endpoint", ["/api/storage/signed", "/api/storage/signed/validate"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_malformed_is_400_json_and_never_reaches_the_backend(
    gate: Gate, template: str, endpoint: str, method: str
) -> None:
    good = gate.links.query("cam", "s3", "cam/clip.mp4")
    resp = await gate.get(f"{endpoint}?{template.format(good=good)}", method)
    assert resp.status == 400
    if method == "GET":
        body = await resp.json()
        assert body["error"] == "bad_request"
        assert isinstance(body["data"], str)
        assert body["data"]
    assert gate.relay.accepted == 0


@dataclass
class Refusal:
    name: str
    account: str
    provider: str
    filename: str
    expires_offset: int
    reason: str
    key: str | None = None


REFUSALS = [
    Refusal("wrong key", "cam", "s3", "cam/clip.mp4", 60, "invalid_signature", "x" * 40),
    Refusal("expired", "cam", "s3", "cam/clip.mp4", -1, "expired"),
    Refusal("expired long ago", "cam", "s3", "cam/clip.mp4", -86400, "expired"),
    Refusal("account missing", "ghost", "s3", "ghost/clip.mp4", 60, "revoked"),
    Refusal("account disabled", "off", "s3", "cam/clip.mp4", 60, "revoked"),
    Refusal("provider not bound", "cam", "unbound", "cam/clip.mp4", 60, "revoked"),
    Refusal("provider unknown", "cam", "nowhere", "cam/clip.mp4", 60, "revoked"),
    Refusal("outside prefix", "cam", "s3", "other/clip.mp4", 60, "revoked"),
    Refusal("outside narrowed prefix", "narrow", "s3", "cam/clip.mp4", 60, "revoked"),
]


@pytest.mark.parametrize("case", REFUSALS, ids=lambda c: c.name)
async def test_refused_links_are_403_saying_why(gate: Gate, case: Refusal) -> None:
    links = Links(case.key) if case.key else gate.links
    path = links.path(case.account, case.provider, case.filename, NOW + case.expires_offset)
    resp = await gate.get(path)
    assert resp.status == 403
    assert (await resp.json())["error"] == case.reason
    assert (await gate.get(path, "HEAD")).status == 403
    report = await (await gate.get(path.replace("/signed?", "/signed/validate?"))).json()
    assert report["valid"] is False
    assert report["reason"] == case.reason
    assert gate.relay.accepted == 0


async def test_a_tampered_field_is_an_invalid_signature(gate: Gate) -> None:
    path = gate.links.path("cam", "s3", "cam/clip.mp4")
    tampered = path.replace("e=1800003600", "e=1800003601")
    assert tampered != path
    resp = await gate.get(tampered)
    assert resp.status == 403
    assert (await resp.json())["error"] == "invalid_signature"


async def test_the_link_lives_until_its_expiry_second_inclusive(gate: Gate) -> None:
    expires = NOW + 10
    path = gate.links.path("cam", "disk", "cam/clip.mp4", expires)
    validate = path.replace("/signed?", "/signed/validate?")
    gate.clock.now = expires
    assert (await gate.get(path)).status == 200
    assert (await gate.get(path, "HEAD")).status == 200
    assert (await (await gate.get(validate)).json())["valid"] is True
    gate.clock.now = expires + 1
    assert (await gate.get(path)).status == 403
    assert (await gate.get(path, "HEAD")).status == 403
    report = await (await gate.get(validate)).json()
    assert report == {
        "valid": False,
        "reason": "expired",
        "account": "cam",
        "provider": "disk",
        "filename": "cam/clip.mp4",
        "expires": expires,
        "expiresAt": "2027-01-15T08:00:10Z",
        "expiresIn": 0,
    }


async def test_validate_describes_a_good_link(gate: Gate) -> None:
    path = gate.links.path("cam", "s3", "cam/clip.mp4", NOW + 3591)
    resp = await gate.get(path.replace("/signed?", "/signed/validate?"))
    assert resp.status == 200
    assert await resp.json() == {
        "valid": True,
        "account": "cam",
        "provider": "s3",
        "filename": "cam/clip.mp4",
        "expires": NOW + 3591,
        "expiresAt": "2027-01-15T08:59:51Z",
        "expiresIn": 3591,
    }
    assert gate.relay.accepted == 0


async def test_links_of_a_previous_key_still_work(gate: Gate) -> None:
    resp = await gate.get(Links(OLD_KEY).path("cam", "disk", "cam/clip.mp4"))
    assert resp.status == 200
    assert await resp.read() == BODY


async def test_preflight_allows_range_from_any_origin(gate: Gate) -> None:
    resp = await gate.client.options(
        "/api/storage/signed?a=x",
        headers={
            "Origin": "https://player.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range",
        },
    )
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in resp.headers["Access-Control-Allow-Methods"]
    assert "Range" in resp.headers["Access-Control-Allow-Headers"]


async def test_errors_are_json_with_cors_everywhere(gate: Gate) -> None:
    resp = await gate.get("/api/storage/signed?a=1")
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert resp.headers["Content-Type"].startswith("application/json")
    unknown = await gate.get("/no/such/route")
    assert unknown.status == 404
    assert (await unknown.json())["error"] == "not_found"
    wrong_method = await gate.client.post("/api/storage/signed")
    assert wrong_method.status == 405
    assert (await wrong_method.json())["error"] == "method_not_allowed"


async def test_cors_can_be_limited_to_listed_origins(tmp_path: Path, aiohttp_client: Any) -> None:
    doc = settings_doc(
        {"disk": {"kind": "local", "root": str(tmp_path)}}, cam={"providers": ["disk"]}
    )
    doc["server"]["cors_allow_origins"] = ["https://ok.example"]
    client = await aiohttp_client(create_app(make_settings(doc), clock=Clock()))
    ok = await client.get("/api/storage/signed", headers={"Origin": "https://ok.example"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://ok.example"
    assert "Origin" in ok.headers["Vary"]
    other = await client.get("/api/storage/signed", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_validate_answers_for_the_largest_expiry_the_rules_allow(gate: Gate) -> None:
    path = gate.links.path("cam", "s3", "cam/clip.mp4", 999999999999)
    resp = await gate.get(path.replace("/signed?", "/signed/validate?"))
    assert resp.status == 200
    body = await resp.json()
    assert body["valid"] is True
    assert body["expiresAt"] == "33658-09-27T01:46:39Z"
