"""Mangled links never put their signature in a log, and a good link's log line stays useful.

Real signatures (of real, unexpired links) are sent every way a client, a copy-paste or a
broken player might mangle them, over raw sockets to a real server process; then the
whole log, decoded again and again, must not hold one of them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from aiohttp import web

from proxy.app import create_app
from proxy.links.signing import LinkClaims, Signer
from tests.support.proxyapp import KEY, make_settings, settings_doc
from tests.support.rawhttp import http
from tests.support.serving import media_doc, proxy_process

KERBEROS = "1686135453_6-967003_frontdoor_200-200-400-400_24_769.mp4"
EXPIRES = 4_102_444_800
SIGNER = Signer(KEY.encode())
REDACTED = "[redacted]"


def signed(filename: str) -> tuple[str, str]:
    """(query without s, signature) of a real link to ``filename``."""
    claims = LinkClaims("cam", "disk", filename, EXPIRES)
    return f"a=cam&p=disk&f={quote(filename, safe='')}&e={EXPIRES}", SIGNER.sign(claims)


def every_char_encoded(text: str) -> str:
    return "".join(f"%{ord(c):02X}" for c in text)


def decodings(text: str) -> list[str]:
    out = [text]
    for _ in range(8):
        out.append(unquote(out[-1]))
    return out


async def test_no_mangling_puts_a_signature_in_the_access_log(tmp_path: Path) -> None:
    (tmp_path / "media" / "cam").mkdir(parents=True)
    (tmp_path / "media" / "cam" / KERBEROS).write_bytes(b"video")
    good_query, good_sig = signed(f"cam/{KERBEROS}")
    targets: list[bytes] = []
    sigs = [good_sig]

    def mangle(target: str) -> None:
        targets.append(target.encode())

    # Each mangling gets a signature of its own, so a leak names its case.
    cases = iter(f"cam/clip-{i}.mp4" for i in range(100))
    q, s = signed(next(cases))
    sigs.append(s)
    mangle("/api/storage/signed" + quote(f"?{q}&s={s}", safe=""))  # the whole link encoded
    q, s = signed(next(cases))
    sigs.append(s)
    mangle("/api/storage/signed" + quote(quote(f"?{q}&s={s}", safe=""), safe=""))  # twice
    q, s = signed(next(cases))
    sigs.append(s)
    mangle(f"/api/storage/signed?{q.replace('&', ';')};s={s}")  # ; separators
    q, s = signed(next(cases))
    sigs.append(s)
    mangle(f"/api/storage/signed?a=cam&p=disk&f=cam%2Fx.mp4%26s%3D{s}&e={EXPIRES}")  # in f
    q, s = signed(next(cases))
    sigs.append(s)
    mangle(f"/api/storage/signed/{s}")  # a path segment
    q, s = signed(next(cases))
    sigs.append(s)
    mangle(f"/api/storage/signed/{s}/validate?{q}")
    q, s = signed(next(cases))
    sigs.append(s)
    mangle(f"/api/storage/signed/{every_char_encoded(s)}")
    q, s = signed(next(cases))
    sigs.append(s)
    mangle(f"/api/storage/signed?{q}&s={every_char_encoded(s)}")
    q, s = signed(next(cases))
    sigs.append(s)
    mangle(f"/api/storage/signed?{s}&{q}")  # a pasted signature as a parameter name
    q, s = signed(next(cases))
    sigs.append(s)
    mangle(f"/api/storage/t/eyJhIjoiY2FtIn0.{s}/cam/x.mp4")  # shaped like a token link
    q, s = signed(next(cases))
    sigs.append(s)
    mangle(f"/{quote(f'https://media.example/api/storage/signed?{q}&s={s}', safe='')}")

    doc = media_doc(tmp_path / "media")
    with proxy_process(tmp_path, doc) as proxy:
        good = await http(proxy.port, "GET", f"/api/storage/signed?{good_query}&s={good_sig}")
        assert good.status == 200
        assert good.body == b"video"
        for target in targets:
            answer = await http(proxy.port, "GET", target)
            assert answer.status < 500, target
        log = proxy.log_text()

    for text in decodings(log):
        for sig in sigs:
            assert sig not in text, (sigs.index(sig), text)
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    paths = [line["path"] for line in lines if line["route"] != "/healthz"]
    assert len(paths) == 1 + len(targets)
    assert paths[0] == f"/api/storage/signed?{good_query}&s={REDACTED}"  # a, p, f, e readable
    assert all(REDACTED in path for path in paths)


async def test_the_unhandled_error_line_holds_no_signature(
    tmp_path: Path, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(settings_doc({"disk": {"kind": "local", "root": str(tmp_path)}}))
    app = create_app(settings)

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    app.router.add_get("/broken/{tail:.*}", broken)
    client = await aiohttp_client(app)
    _, sig = signed("cam/a.mp4")
    with caplog.at_level(logging.ERROR, logger="proxy"):
        resp = await client.get(f"/broken/{sig}?f=cam%2Fa.mp4%26s%3D{sig}")
    assert resp.status == 500
    records = [r for r in caplog.records if "unhandled error" in r.getMessage()]
    assert len(records) == 1
    message = records[0].getMessage()
    assert message == f"unhandled error: GET /broken/{REDACTED}?f=cam/a.mp4%26s%3D{REDACTED}"
    assert sig not in caplog.text
