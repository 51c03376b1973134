"""HLS and DASH players read a package end to end through a URL factory (§6 token links).

What plays: one H.264 (High) + AAC-LC source, 320x180, 25 fps, 8 s, a keyframe every 2 s,
packaged four ways (tests/support/packages.py): HLS with MPEG-TS segments (next to the playlist,
and again in a sibling folder reached with ``../``), HLS with fMP4 in one file read by byte
ranges, and DASH (SegmentTemplate, segments in sibling folders reached with ``../``).

Codecs: Debian's Chromium (bookworm, 156) is built with the proprietary codecs. MSE accepts
``video/mp4; codecs="avc1.64000c,mp4a.40.2"`` (and ``video/mp2t``) and really decodes it, so
hls.js (which transmuxes MPEG-TS to fMP4 itself) and dash.js both play H.264/AAC here, checked
by playing to ``ended``; no VP9/Opus fallback was needed.

Each test runs against three origins, the same files behind each:

- ``static``: aiohttp ``web.static`` on a free loopback port (FileResponse answers Range), with
  the CORS headers and preflight answer of §2. It proves the rig itself;
- ``proxy``: a real ``python -m proxy serve`` over a local provider, manifests reached by a §6
  token link whose token covers the package's folder (``d``), so the player's own resolution of
  relative URIs must keep the token;
- ``proxy-s3``: the same, with the files in an S3 bucket (moto's server) behind the proxy.

The page (tests/e2e/players/) is served from a third port, so every media request is
cross-origin. Every process started here (the proxy, ffmpeg, ffprobe, Chromium) is stopped by
its own PID; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

import pytest
from aiohttp import web
from playwright.async_api import async_playwright

from proxy.links.signing import Signer
from proxy.links.tokens import TokenClaims, make_token
from tests.conftest import MotoServer
from tests.e2e.conftest import run
from tests.e2e.test_clients import CHROMIUM_ARGS
from tests.support.packages import MAKERS, Package, make_all
from tests.support.procs import ROOT, free_port
from tests.support.proxyapp import KEY
from tests.support.serving import ProxyProcess, media_doc, proxy_process

PLAYERS_DIR = Path(__file__).parent / "players"
NODE_MODULES = ROOT / "tests" / "tools" / "node_modules"
LIBS = {
    "hls.min.js": NODE_MODULES / "hls.js" / "dist" / "hls.min.js",
    "dash.all.min.js": NODE_MODULES / "dashjs" / "dist" / "modern" / "umd" / "dash.all.min.js",
}
PAGES = {"hls": "hls.html", "dash": "dash.html"}  # Package.kind -> page
EXPOSED = "Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified"
PLAY_TIMEOUT_MS = 60_000  # seek to the middle, then play to the end: 4 s of media


# --- packages and origins ------------------------------------------------------------------


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Package]:
    """Every package of MAKERS, made once per session under one root (``cam/{name}/``)."""
    return make_all(tmp_path_factory.mktemp("packages"))


@dataclass
class Served:
    """One request as the origin saw it."""

    method: str
    key: str
    range: str | None
    status: int


@dataclass
class Origin:
    """Where a package's manifest is, and which URLs are its media.

    ``prefix`` starts every media URL (the manifest and whatever the player resolves from it);
    ``manifest_url(package)`` is the URL to give a player; ``key_of(url)`` the object key a
    media URL names (None for another URL); ``served()`` the requests the origin saw.
    """

    name: str
    prefix: str
    manifest_url: Callable[[Package], str]
    key_of: Callable[[str], str | None]
    served: Callable[[], list[Served]]


def _cors(response: web.StreamResponse) -> None:
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = EXPOSED


@contextlib.asynccontextmanager
async def static_origin(root: Path) -> AsyncIterator[Origin]:
    """aiohttp ``web.static`` over ``root`` with §2's CORS, on this loop and a free port."""
    log: list[Served] = []

    @web.middleware
    async def preflight(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method != "OPTIONS":
            return await handler(request)  # type: ignore[no-any-return]
        response = web.Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = request.headers.get(
            "Access-Control-Request-Headers", "Range"
        )
        response.headers["Access-Control-Max-Age"] = "600"
        return response

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        # Here, not in a middleware: a FileResponse sets its status (206) as it is sent.
        _cors(response)
        key = request.path.removeprefix("/")  # aiohttp's path is decoded already
        log.append(Served(request.method, key, request.headers.get("Range"), response.status))

    app = web.Application(middlewares=[preflight])
    app.on_response_prepare.append(on_prepare)
    app.router.add_static("/", root)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    prefix = f"http://127.0.0.1:{port}/"

    def key_of(url: str) -> str | None:
        return unquote(url[len(prefix) :].split("?")[0]) if url.startswith(prefix) else None

    try:
        yield Origin(
            "static",
            prefix,
            lambda p: prefix + quote(p.key),
            key_of,
            lambda: list(log),
        )
    finally:
        await runner.cleanup()


@dataclass
class TokenProxy:
    process: ProxyProcess
    mint: Callable[[str], str]  # folder -> token
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, folder: str) -> str:
        if folder not in self.tokens:
            self.tokens[folder] = self.mint(folder)
        return self.tokens[folder]


def _token_proxy(
    root: Path, provider: str, table: dict[str, Any], tmp_path: Path
) -> Iterator[TokenProxy]:
    """A proxy process serving the packages through ``provider`` (account ``cam``)."""
    signer = Signer(KEY.encode())
    expires = int(time.time()) + 3600

    def mint(folder: str) -> str:
        claims = TokenClaims(account="cam", provider=provider, expires=expires, folder=folder)
        token = make_token(claims, signer)
        # Checked here by §6's own recipe, so a 403 later is the route's, not the minting's.
        payload, signature = token.split(".")
        claims_json = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert claims_json == {"a": "cam", "p": provider, "d": folder, "e": expires}, claims_json
        mac = hmac.new(KEY.encode(), b"vault-token-v1\n" + payload.encode(), hashlib.sha256)
        assert base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode() == signature
        return token

    doc = media_doc(root, check_interval=3600)
    doc["providers"] = {provider: table}
    doc["accounts"] = {"cam": {"providers": [provider]}}
    with proxy_process(tmp_path, doc) as process:
        yield TokenProxy(process, mint)


@pytest.fixture(scope="session")
def token_proxy(
    packages: dict[str, Package], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TokenProxy]:
    """The packages on local disk: provider ``disk``."""
    root = next(iter(packages.values())).root
    table = {"kind": "local", "root": str(root)}
    yield from _token_proxy(root, "disk", table, tmp_path_factory.mktemp("token-proxy"))


@pytest.fixture(scope="session")
def token_proxy_s3(
    packages: dict[str, Package], moto: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TokenProxy]:
    """The same packages in an S3 bucket (moto's server): provider ``s3``."""
    root = next(iter(packages.values())).root
    bucket = moto.new_bucket()
    s3 = moto.client()
    for path in root.rglob("*"):
        if path.is_file():
            s3.put_object(
                Bucket=bucket, Key=path.relative_to(root).as_posix(), Body=path.read_bytes()
            )
    table = moto.provider(bucket)
    yield from _token_proxy(root, "s3", table, tmp_path_factory.mktemp("token-proxy-s3"))


def proxy_origin(proxy: TokenProxy) -> Origin:
    """Manifests as §6 token links: ``{base}/api/storage/t/{token(d=folder)}/{key}``."""
    prefix = f"{proxy.process.base}/api/storage/t/"
    seen = len(_access_lines(proxy.process))

    def manifest_url(package: Package) -> str:
        return f"{prefix}{proxy.token(package.folder)}/{quote(package.key)}"

    def key_of(url: str) -> str | None:
        if not url.startswith(prefix):
            return None
        _token, _, key = url[len(prefix) :].split("?")[0].partition("/")
        return unquote(key)

    def served() -> list[Served]:
        out = []
        for line in _access_lines(proxy.process)[seen:]:
            entry = json.loads(line)
            path = str(entry.get("path", ""))
            if path.startswith("/api/storage/t/"):
                key = unquote(path.split("?")[0].split("/", 5)[-1])
                out.append(Served(entry["method"], key, None, int(entry["status"])))
        return out

    return Origin("proxy", prefix, manifest_url, key_of, served)


def _access_lines(process: ProxyProcess) -> list[str]:
    return [line for line in process.log_text().splitlines() if line.startswith("{")]


@pytest.fixture(params=["static", "proxy", "proxy-s3"])
async def origin(
    request: pytest.FixtureRequest, packages: dict[str, Package]
) -> AsyncIterator[Origin]:
    if request.param == "proxy":
        yield proxy_origin(request.getfixturevalue("token_proxy"))
        return
    if request.param == "proxy-s3":
        yield proxy_origin(request.getfixturevalue("token_proxy_s3"))
        return
    async with static_origin(next(iter(packages.values())).root) as served:
        yield served


# --- ffprobe and ffmpeg --------------------------------------------------------------------


async def served_when(
    origin: Origin, ok: Callable[[list[Served]], bool], timeout: float = 3.0
) -> list[Served]:
    """The origin's requests once ``ok`` holds (a proxy logs a request as it ends), or at the
    deadline."""
    deadline = time.monotonic() + timeout
    while True:
        served = origin.served()
        if ok(served) or time.monotonic() > deadline:
            return served
        await asyncio.sleep(0.05)


def assert_served_ok(served: list[Served], package: Package) -> None:
    assert any(s.key == package.key for s in served), served
    bad = [s for s in served if not 200 <= s.status < 300]
    assert not bad, bad
    assert all(s.status == 206 for s in served if s.range), served  # static: Range is logged


@pytest.mark.parametrize("name", list(MAKERS))
async def test_ffprobe_reads_the_duration(
    origin: Origin, packages: dict[str, Package], name: str
) -> None:
    package = packages[name]
    url = origin.manifest_url(package)
    rc, out, err = await run(
        "ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
        "default=noprint_wrappers=1:nokey=1", url,
        timeout=60,
    )  # fmt: skip
    assert rc == 0, err.decode()[-1000:]
    assert abs(float(out) - package.duration) <= 0.1, (out, package.duration)
    served = await served_when(origin, lambda served: any(s.key == package.key for s in served))
    assert_served_ok(served, package)


@pytest.mark.parametrize("name", list(MAKERS))
async def test_ffmpeg_decodes_every_frame(
    origin: Origin, packages: dict[str, Package], name: str
) -> None:
    package = packages[name]
    url = origin.manifest_url(package)
    rc, out, err = await run(
        "ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-v", "error", "-xerror",
        "-i", url, "-map", "0:v:0", "-map", "0:a:0", "-fps_mode", "passthrough",
        "-f", "null", "-", "-progress", "pipe:1",
        timeout=120,
    )  # fmt: skip
    assert rc == 0, err.decode()[-1000:]
    assert not err.strip(), err.decode()[-1000:]
    frames = [int(m) for m in re.findall(rb"^frame=(\d+)$", out, re.MULTILINE)]
    assert frames, out.decode()[-1000:]
    assert frames[-1] == package.frames, (frames[-1], package.frames)
    assert out.rstrip().endswith(b"progress=end")
    want = set(package.files())
    served = await served_when(origin, lambda served: want <= {s.key for s in served})
    assert want <= {s.key for s in served}, sorted(want - {s.key for s in served})
    assert_served_ok(served, package)


# --- hls.js and dash.js in Chromium --------------------------------------------------------


@contextlib.asynccontextmanager
async def page_origin() -> AsyncIterator[str]:
    """The player pages and the two libraries, on a third origin."""
    app = web.Application()
    app.router.add_static("/players/", PLAYERS_DIR)

    async def lib(request: web.Request) -> web.FileResponse:
        return web.FileResponse(LIBS[request.match_info["name"]])

    for name, path in LIBS.items():
        assert path.exists(), f"{path} is missing: scripts/test installs it (npm ci in tests/tools)"
        app.router.add_get(f"/lib/{{name:{re.escape(name)}}}", lib)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@dataclass
class Exchange:
    url: str
    key: str
    request_range: str | None
    status: int
    headers: dict[str, str]
    body: bytes | None


def waiter(page: Any, console: list[str]) -> Callable[..., Awaitable[None]]:
    """``wait(expression, timeout_ms)``: until ``expression`` holds in the player page or the
    player fails (``window.serious()``); bounded, and a failure shows the player's state."""

    async def wait(expression: str, timeout: float = 30_000) -> None:
        state = "({events, errors, t: v.currentTime, d: v.duration, rs: v.readyState})"
        try:
            await page.wait_for_function(
                f"({expression}) || window.serious().length", timeout=timeout
            )
        except Exception as exc:
            raise AssertionError(
                f"{expression}: {exc}\n{await page.evaluate(state)}\n{console[-20:]}"
            ) from exc
        errors = await page.evaluate("window.serious()")
        assert not errors, (expression, errors, await page.evaluate(state), console[-20:])

    return wait


async def exchanges_of(responses: list[Any], key_of: Callable[[str], str]) -> list[Exchange]:
    """What the page's media requests asked for and got, bodies included where they came."""
    exchanges = []
    for response in responses:
        request_headers = await response.request.all_headers()
        try:
            body: bytes | None = await response.body()
        except Exception:  # a load the player cancelled: no body to compare
            body = None
        exchanges.append(
            Exchange(
                response.url,
                key_of(response.url),
                request_headers.get("range"),
                response.status,
                await response.all_headers(),
                body,
            )
        )
    return exchanges


def check_exchange(package: Package, x: Exchange) -> None:
    """2xx; with Range a 206 whose Content-Range, length and bytes are the file's."""
    assert 200 <= x.status < 300, (x.url, x.status)
    assert x.headers.get("access-control-allow-origin") in ("*",), x.headers
    data = (package.root / x.key).read_bytes()
    size = len(data)
    if x.request_range is None:
        assert x.status == 200, (x.url, x.status)
        start, end = 0, size - 1
    else:
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", x.request_range)
        assert m, x.request_range
        start = int(m.group(1))
        end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
        assert x.status == 206, (x.url, x.request_range, x.status)
        assert x.headers.get("content-range") == f"bytes {start}-{end}/{size}", (
            x.request_range,
            x.headers,
        )
    if "content-length" in x.headers:
        assert int(x.headers["content-length"]) == end - start + 1, x.headers
    if x.body is not None:
        assert x.body == data[start : end + 1], (x.url, x.request_range, len(x.body))


def _descendants() -> dict[int, str]:
    """This process's descendants now: PID -> command name (from /proc)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            pid = int(stat.parent.name)
            names[pid] = text[text.index("(") + 1 : text.rindex(")")]
            parents[pid] = int(text[text.rindex(")") + 2 :].split()[1])
    found: dict[int, str] = {}
    frontier = [os.getpid()]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = names[pid]
                frontier.append(pid)
    return found


async def assert_no_browser_left(before: set[int]) -> None:
    """Every process Playwright started (its driver, Chromium) is gone; one left is killed by
    its PID and fails the test."""
    left: dict[int, str] = {}
    for _ in range(50):  # up to 5 s for the processes to be reaped
        left = {p: n for p, n in _descendants().items() if p not in before}
        left = {p: n for p, n in left.items() if "chrom" in n or "node" in n}
        if not left:
            return
        await asyncio.sleep(0.1)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"processes left after the browser closed (killed now): {left}")


PLAYED = {"hls-ts": "hls.js", "hls-ts-up": "hls.js", "hls-fmp4": "hls.js", "dash": "dash.js"}


@pytest.mark.parametrize("name", list(PLAYED), ids=[f"{p}-{n}" for n, p in PLAYED.items()])
async def test_player_plays_seeks_and_ends(
    origin: Origin, packages: dict[str, Package], name: str
) -> None:
    package = packages[name]
    src = origin.manifest_url(package)
    responses: list[Any] = []
    failed: list[tuple[str, str | None]] = []
    console: list[str] = []
    before = set(_descendants())
    async with page_origin() as pages, async_playwright() as pw:
        page_url = f"{pages}/players/{PAGES[package.kind]}?{urlencode({'src': src})}"
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            page.on("response", lambda r: responses.append(r) if origin.key_of(r.url) else None)
            page.on(
                "requestfailed",
                lambda r: failed.append((r.url, r.failure)) if origin.key_of(r.url) else None,
            )
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))

            wait = waiter(page, console)
            await page.goto(page_url)
            await wait("window.events.includes('loadedmetadata')")
            duration = await page.evaluate("v.duration")
            assert abs(duration - package.duration) <= 0.25, (duration, package.duration)
            await page.evaluate("v.play()")
            await wait("v.currentTime > 0.2")
            # Into the middle, play a while, then on to the end.
            middle = package.duration / 2
            await page.evaluate(f"v.currentTime = {middle}")
            await wait("window.events.includes('seeked')")
            await wait(f"v.currentTime > {middle + 0.5}")
            await wait("window.events.includes('ended')", PLAY_TIMEOUT_MS)
            result = await page.evaluate(
                "({events, errors, serious: window.serious(), t: v.currentTime, d: v.duration,"
                " frames: v.getVideoPlaybackQuality().totalVideoFrames})"
            )
            exchanges = await exchanges_of(responses, lambda url: origin.key_of(url) or "")
        finally:
            await browser.close()
    await assert_no_browser_left(before)

    assert not result["serious"], (result, console[-20:])
    assert "error" not in result["events"], result
    assert result["t"] >= package.duration - 0.3, result
    assert result["frames"] > 0, result
    assert exchanges, "the player fetched nothing"
    for exchange in exchanges:
        check_exchange(package, exchange)
    # Only a load the player itself cancelled (a seek) may fail, and only then lack a body.
    assert not [f for f in failed if f[1] != "net::ERR_ABORTED"], failed
    assert sum(x.body is None for x in exchanges) <= len(failed), exchanges
    keys = {x.key for x in exchanges}
    assert package.key in keys, keys
    assert all(k.startswith(package.folder) for k in keys), keys
    ranged = [x for x in exchanges if x.request_range]
    if package.name == "hls-fmp4":
        # Byte ranges of one file: the init section and the last fragment among them.
        assert keys == {package.key, package.folder + "clip.mp4"}, keys
        size = (package.root / package.folder / "clip.mp4").stat().st_size
        ends = {x.headers["content-range"].split("/")[0].split("-")[1] for x in ranged}
        assert str(size - 1) in ends, ends
        assert any(x.headers["content-range"].startswith("bytes 0-") for x in ranged)
    else:
        last = {f for f in package.files() if re.search(r"(seg_003\.ts|seg-00[45]\.m4s)$", f)}
        assert last, package.files()
        assert last <= keys, sorted(last - keys)
    print(  # shown with -s: what the player did
        f"{origin.name}/{package.name}: {len(exchanges)} media responses, "
        f"{len(ranged)} ranged, duration {result['d']}, frames shown {result['frames']}, "
        f"non-fatal player errors {[e.get('player') for e in result['errors']]}, "
        f"cancelled loads {len(failed)}, "
        f"methods seen by the origin {sorted({s.method for s in origin.served()})}"
    )
