"""Side-by-side load tests: the proxy against the origin it fronts and against nginx.

    python -m benchmarks            # the full run (5 rounds); about 10 minutes on 2 cores
    python -m benchmarks --quick    # a few seconds per section; checks what it measures

Everything runs on 127.0.0.1 and is stopped by PID: one nginx (the fast origin with
sendfile, an nginx proxy_pass in front of it, and nginx secure_link for the validation
peer) and the proxy (a local-disk provider over the same files, and an S3 provider whose
endpoint is that nginx origin, which serves /bucket/key like an S3 GET/HEAD). Load comes
from wrk (request rates, latencies) and curl (downloads). Each round runs every variant of
a section, in an order rotated per round; the table shows medians and ratios. Results go
to benchmarks/results/ as JSON and a PNG chart.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# Made per run: no key, even a benchmark's, lives in the repository.
KEY = secrets.token_urlsafe(32)
NGINX_SECRET = secrets.token_urlsafe(16)


def log(text: str) -> None:
    print(text, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not open")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(15)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int, field: str = "VmHWM") -> int:
    """VmHWM (peak resident memory since the last reset) or VmRSS (now) of ``pid``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def reset_peak_rss(pid: int) -> None:
    """Start VmHWM afresh (Linux: "5" in clear_refs), so a section sees its own peak."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


@dataclass
class Stack:
    """The servers under test, started once for the whole run."""

    work: Path
    sizes: dict[str, int]
    origin: int = 0
    proxy_pass: int = 0
    secure_link: int = 0
    proxy: int = 0
    proxy2: int = 0
    bare: int = 0  # the naive peers (benchmarks.naive)
    naive: int = 0
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self) -> None:
        self.origin, self.proxy_pass, self.secure_link = free_port(), free_port(), free_port()
        self.proxy, self.proxy2 = free_port(), free_port()
        self.bare, self.naive = free_port(), free_port()
        (self.work / "tmp").mkdir()
        user = "user root;" if os.geteuid() == 0 else ""
        conf = self.work / "nginx.conf"
        conf.write_text(f"""
{user}
worker_processes 1;
daemon off;
pid {self.work}/nginx.pid;
error_log {self.work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  types {{ video/mp4 mp4; }}
  client_body_temp_path {self.work}/tmp/body;
  proxy_temp_path {self.work}/tmp/proxy;
  fastcgi_temp_path {self.work}/tmp/fastcgi;
  uwsgi_temp_path {self.work}/tmp/uwsgi;
  scgi_temp_path {self.work}/tmp/scgi;
  server {{ listen 127.0.0.1:{self.origin}; root {self.work}/www; }}
  server {{
    listen 127.0.0.1:{self.proxy_pass};
    location / {{
      proxy_pass http://127.0.0.1:{self.origin};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
  server {{
    listen 127.0.0.1:{self.secure_link};
    location / {{
      secure_link $arg_md5,$arg_expires;
      secure_link_md5 "$secure_link_expires$uri {NGINX_SECRET}";
      if ($secure_link = "") {{ return 403; }}
      if ($secure_link = "0") {{ return 410; }}
      default_type application/json;
      return 200 '{{"valid": true}}';
    }}
  }}
}}
""")
        self.procs["nginx"] = subprocess.Popen(
            ["nginx", "-c", str(conf), "-p", str(self.work)], stdout=subprocess.DEVNULL
        )
        for port in (self.origin, self.proxy_pass, self.secure_link):
            wait_port(port)
        for name, port, workers in (("proxy", self.proxy, 1), ("proxy2", self.proxy2, 2)):
            config = self.work / f"{name}.toml"
            config.write_text(f"""
[server]
host = "127.0.0.1"
port = {port}
access_log = false
max_streams = 100000
[signing]
key = "{KEY}"
[providers.disk]
kind = "local"
root = "{self.work}/www/media"
[providers.s3]
kind = "s3"
bucket = "media"
endpoint_url = "http://127.0.0.1:{self.origin}"
access_key_id = "bench"
secret_access_key = "{secrets.token_urlsafe(16)}"
max_connections = 256
[accounts.cam]
providers = ["disk", "s3"]
""")
            self.procs[name] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "proxy",
                    "serve",
                    "--config",
                    str(config),
                    "--workers",
                    str(workers),
                ],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=open(self.work / f"{name}.log", "wb"),  # noqa: SIM115 - closed at exit
            )
            wait_port(port)

        origin = f"http://127.0.0.1:{self.origin}"
        for name, argv in (
            ("bare", ["bare", "--port", str(self.bare)]),
            ("naive", ["proxy", "--port", str(self.naive), "--origin", origin]),
        ):
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.naive", *argv],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=open(self.work / f"{name}.log", "wb"),  # noqa: SIM115 - closed at exit
            )
        for port in (self.bare, self.naive):
            wait_port(port)

    def naive_url(self, name: str) -> str:
        """The naive aiohttp proxy's URL of a file of the origin."""
        return f"http://127.0.0.1:{self.naive}/media/cam/{name}"

    def bare_url(self) -> str:
        return f"http://127.0.0.1:{self.bare}/api/storage/signed/validate"

    def token_link(self, provider: str, name: str) -> str:
        """A §6 token link for a folder, to the same file as ``link``."""
        from proxy.links.signing import Signer
        from proxy.links.tokens import TokenClaims, make_token, token_url

        claims = TokenClaims("cam", provider, int(time.time()) + 86400, folder="cam/")
        token = make_token(claims, Signer(KEY.encode()))
        return token_url(f"http://127.0.0.1:{self.proxy}", token, f"cam/{name}")

    def stop(self) -> None:
        for proc in self.procs.values():
            stop(proc)

    def link(self, provider: str, name: str, *, port: int | None = None, bad: bool = False) -> str:
        from proxy.links.query import build_url
        from proxy.links.signing import LinkClaims, Signer

        claims = LinkClaims("cam", provider, f"cam/{name}", int(time.time()) + 86400)
        signature = Signer(KEY.encode()).sign(claims)
        if bad:
            signature = signature[:-1] + ("A" if signature[-1] != "A" else "B")
        return build_url(f"http://127.0.0.1:{port or self.proxy}", claims, signature)

    def secure_link_url(self, name: str) -> str:
        import base64
        import hashlib

        expires = int(time.time()) + 86400
        uri = f"/media/cam/{name}"
        digest = hashlib.md5(f"{expires}{uri} {NGINX_SECRET}".encode()).digest()
        md5 = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        return f"http://127.0.0.1:{self.secure_link}{uri}?md5={md5}&expires={expires}"

    def direct(self, name: str, port: int | None = None) -> str:
        return f"http://127.0.0.1:{port or self.origin}/media/cam/{name}"

    def server_pid(self, variant: str) -> int | None:
        if variant.startswith("proxy"):
            return self.procs["proxy"].pid
        return None


_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def wrk(
    url: str, connections: int, seconds: float, headers: list[str] | None = None
) -> dict[str, float]:
    argv = [
        "wrk",
        "-t",
        str(min(2, connections)),
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--latency",
    ]
    for header in headers or []:
        argv += ["-H", header]
    out = subprocess.run(
        [*argv, url], capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = {}
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)\b", out)
        lat[pct] = float(m.group(1)) * _UNIT[m.group(2)] if m else float("nan")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {
        "rps": rate,
        "p50_ms": lat["50"] * 1000,
        "p99_ms": lat["99"] * 1000,
        "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "requests": float(total.group(1)) if total else 0.0,
    }


def ab_head(url: str, connections: int, seconds: float) -> dict[str, float]:
    """HEAD requests, as a link checker sends them, with ApacheBench (``-i``; wrk cannot: it
    waits for the body a HEAD answer announces), keep-alive, for ``seconds``."""
    argv = ["ab", "-q", "-i", "-k", "-c", str(connections), "-t", str(seconds), "-n", "10000000"]
    out = subprocess.run(
        [*argv, url], capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    rate = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    failed = re.search(r"Failed requests:\s+(\d+)", out)
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    if (failed and int(failed.group(1))) or (non2xx and int(non2xx.group(1))):
        raise AssertionError(f"HEAD {url}: failed or non-2xx answers\n{out[-1500:]}")
    return {
        "rps": rate,
        "failed": float(failed.group(1)) if failed else 0.0,
        "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
    }


def curl_check(
    url: str,
    expect_status: int,
    expect_bytes: int | None,
    headers: list[str] | None = None,
    *,
    head: bool = False,
) -> dict[str, str]:
    """One request, checked: status, body length, and Content-Range when asked for a range."""
    argv = ["curl", "-sS", "-o", os.devnull, "-D", "-", "-w", "%{http_code} %{size_download}"]
    if head:
        argv.append("--head")
    for header in headers or []:
        argv += ["-H", header]
    out = subprocess.run(
        [*argv, url], capture_output=True, text=True, timeout=300, check=True
    ).stdout
    head, tail = out.rsplit("\n", 1)
    status, size = tail.split()
    got = {
        k.lower(): v.strip()
        for k, _, v in (line.partition(":") for line in head.splitlines()[1:] if ":" in line)
    }
    if int(status) != expect_status:
        raise AssertionError(f"{url}: status {status}, wanted {expect_status}")
    if expect_bytes is not None and int(size) != expect_bytes:
        raise AssertionError(f"{url}: {size} bytes, wanted {expect_bytes}")
    return got


def curl_speed(
    url: str,
    headers: list[str] | None = None,
    limit: str | None = None,
    max_time: float | None = None,
) -> tuple[float, int]:
    argv = ["curl", "-sS", "-o", os.devnull, "-w", "%{speed_download} %{size_download}"]
    if limit:
        argv += ["--limit-rate", limit]
    if max_time:
        argv += ["--max-time", str(max_time)]
    for header in headers or []:
        argv += ["-H", header]
    result = subprocess.run([*argv, url], capture_output=True, text=True, timeout=600, check=False)
    speed, size = result.stdout.split()
    return float(speed), int(size)


@dataclass
class Section:
    name: str
    variants: dict[str, Any]  # variant -> callable returning metrics
    results: dict[str, list[dict[str, float]]] = field(default_factory=dict)

    def run_round(self, index: int) -> None:
        names = list(self.variants)
        shift = index % len(names)
        for variant in names[shift:] + names[:shift]:
            metrics = self.variants[variant]()
            self.results.setdefault(variant, []).append(metrics)
            shown = ", ".join(f"{k}={v:,.2f}" for k, v in metrics.items())
            log(f"  round {index + 1} {self.name}/{variant}: {shown}")


def build(stack: Stack, quick: bool) -> list[Section]:
    d = 2 if quick else 8  # wrk seconds per measurement
    big = "big.bin"
    s = stack

    def proxy_cpu(fn: Any) -> Any:
        def run() -> dict[str, float]:
            pid = s.procs["proxy"].pid
            before = cpu_seconds(pid)
            metrics = dict(fn())
            metrics["proxy_cpu_s"] = cpu_seconds(pid) - before
            return metrics

        return run

    def stream(url: str) -> Any:
        def run() -> dict[str, float]:
            speed, size = curl_speed(url)
            if size != s.sizes[big]:
                raise AssertionError(f"{url}: {size} of {s.sizes[big]} bytes")
            return {"GBps": speed / 1e9}

        return run

    ranged = ["Range: bytes=1048576-1049599"]
    validate = Section(
        "validate",
        {
            "proxy": lambda: wrk(
                s.link("disk", "small.bin").replace("/signed?", "/signed/validate?"), 32, d
            ),
            "proxy-403": lambda: wrk(s.link("disk", "small.bin", bad=True), 32, d),
            "nginx-secure_link": lambda: wrk(s.secure_link_url("small.bin"), 32, d),
            "aiohttp-bare": lambda: wrk(s.bare_url(), 32, d),
        },
    )
    workers = Section(
        "workers",
        {
            "1 worker": lambda: wrk(
                s.link("disk", "small.bin").replace("/signed?", "/signed/validate?"), 64, d
            ),
            "2 workers": lambda: wrk(
                s.link("disk", "small.bin", port=s.proxy2).replace("/signed?", "/signed/validate?"),
                64,
                d,
            ),
        },
    )
    streams = Section(
        "stream",
        {
            "direct": stream(s.direct(big)),
            "nginx-proxy_pass": stream(s.direct(big, s.proxy_pass)),
            "proxy-s3": proxy_cpu(stream(s.link("s3", big))),
            "proxy-local": proxy_cpu(stream(s.link("disk", big))),
            "naive-aiohttp": stream(s.naive_url(big)),
        },
    )
    seek = Section(
        "seek",
        {
            "direct c1": lambda: wrk(s.direct(big), 1, d, ranged),
            "proxy-s3 c1": lambda: wrk(s.link("s3", big), 1, d, ranged),
            "proxy-local c1": lambda: wrk(s.link("disk", big), 1, d, ranged),
            "direct c64": lambda: wrk(s.direct(big), 64, d, ranged),
            "proxy-s3 c64": lambda: wrk(s.link("s3", big), 64, d, ranged),
            "proxy-local c64": lambda: wrk(s.link("disk", big), 64, d, ranged),
            "naive-aiohttp c1": lambda: wrk(s.naive_url(big), 1, d, ranged),
            "naive-aiohttp c64": lambda: wrk(s.naive_url(big), 64, d, ranged),
            "proxy-local token c64": lambda: wrk(s.token_link("disk", big), 64, d, ranged),
            "proxy-s3 HEAD c64": lambda: ab_head(s.link("s3", big), 64, d),
            "proxy-local HEAD c64": lambda: ab_head(s.link("disk", big), 64, d),
        },
    )

    def concurrency() -> dict[str, float]:
        from concurrent.futures import ThreadPoolExecutor

        pid = s.procs["proxy"].pid
        url = s.link("s3", big)
        seconds = 3 if quick else 15
        time.sleep(0.5)  # connections of the section before close
        reset_peak_rss(pid)
        idle = rss_kib(pid, "VmRSS")
        with ThreadPoolExecutor(32) as pool:
            fast = [pool.submit(curl_speed, url) for _ in range(16)]
            slow = [pool.submit(curl_speed, url, None, "256K", seconds) for _ in range(16)]
            speeds = [f.result()[0] for f in fast]
            [f.result() for f in slow]
        peak = rss_kib(pid)
        return {
            "fast_total_GBps": sum(speeds) / 1e9,
            "proxy_idle_rss_MiB": idle / 1024,
            "proxy_peak_rss_MiB": peak / 1024,
            "per_stream_MiB": (peak - idle) / 1024 / 32,
        }

    return [
        validate,
        workers,
        streams,
        seek,
        Section("concurrency", {"proxy-s3 32 (16 slow)": concurrency}),
    ]


def check(stack: Stack) -> None:
    """What is measured is right: statuses, byte counts, ranges, refusals."""
    s = stack
    big, size = "big.bin", stack.sizes["big.bin"]
    for url in (s.direct(big), s.direct(big, s.proxy_pass), s.link("s3", big), s.link("disk", big)):
        curl_check(url, 200, size)
    for url in (s.direct(big), s.link("s3", big), s.link("disk", big)):
        got = curl_check(url, 206, 1024, ["Range: bytes=1048576-1049599"])
        if got.get("content-range") != f"bytes 1048576-1049599/{size}":
            raise AssertionError(f"{url}: Content-Range {got.get('content-range')}")
    got = curl_check(s.naive_url(big), 206, 1024, ["Range: bytes=1048576-1049599"])
    if got.get("content-range") != f"bytes 1048576-1049599/{size}":
        raise AssertionError(f"naive proxy: Content-Range {got.get('content-range')}")
    curl_check(s.naive_url(big), 200, size)
    got = curl_check(s.token_link("disk", big), 206, 1024, ["Range: bytes=1048576-1049599"])
    if got.get("content-range") != f"bytes 1048576-1049599/{size}":
        raise AssertionError(f"token link: Content-Range {got.get('content-range')}")
    for url in (s.link("s3", big), s.link("disk", big)):
        got = curl_check(url, 200, 0, head=True)
        if got.get("content-length") != str(size):
            raise AssertionError(f"HEAD {url}: Content-Length {got.get('content-length')}")
    bare = curl_check(s.bare_url(), 200, None)
    if not bare.get("content-type", "").startswith("application/json"):
        raise AssertionError(f"bare aiohttp: {bare}")
    curl_check(s.link("disk", "small.bin").replace("/signed?", "/signed/validate?"), 200, None)
    curl_check(s.link("disk", "small.bin", bad=True), 403, None)
    curl_check(s.secure_link_url("small.bin"), 200, None)
    curl_check(s.secure_link_url("small.bin").replace("md5=", "md5=x"), 403, None)
    log("checks: statuses, byte counts, Content-Range and refusals are right for every variant")


# The goals: (summary key, peer) -> lowest ratio, or (key, "") -> highest value.
GOALS: dict[tuple[str, str], tuple[str, float]] = {
    ("stream/proxy-s3/GBps", "direct"): (">=", 0.80),
    ("stream/proxy-s3/GBps", "nginx-proxy_pass"): (">=", 1.5),
    ("stream/proxy-local/GBps", "direct"): (">=", 0.95),
    ("seek/proxy-s3 c64/rps", "direct c64"): (">=", 0.25),
    ("seek/proxy-local c64/rps", "direct c64"): (">=", 0.25),
    ("seek/proxy-s3 c1/added_p50_ms", ""): ("<=", 0.10),
    ("seek/proxy-local c1/added_p50_ms", ""): ("<=", 0.10),
    ("validate/proxy/rps", "nginx-secure_link"): (">=", 0.35),
    # Issue 17: at least as fast as what a user could write in an afternoon.
    ("validate/proxy/rps", "aiohttp-bare"): (">=", 1.0),
    ("validate/proxy-403/rps", "proxy"): (">=", 0.95),
    ("seek/proxy-s3 c64/rps", "naive-aiohttp c64"): (">=", 1.0),
    ("seek/proxy-local c64/rps", "naive-aiohttp c64"): (">=", 1.0),
    ("seek/proxy-s3 c1/p50_over_naive_ms", ""): ("<=", 0.05),
    ("seek/proxy-local c1/p50_over_naive_ms", ""): ("<=", 0.05),
    ("seek/proxy-s3 HEAD c64/rps", "proxy-s3 c64"): (">=", 0.95),
    ("seek/proxy-local HEAD c64/rps", "proxy-local c64"): (">=", 0.95),
    ("seek/proxy-local token c64/rps", "proxy-local c64"): (">=", 0.95),
    ("workers/2 workers/rps", "1 worker"): (">=", 1.7),
    ("concurrency/proxy-s3 32 (16 slow)/per_stream_MiB", ""): ("<=", 1.0),
}


def verdict(key: str, peer: str, value: float) -> str:
    goal = GOALS.get((key, peer))
    if goal is None:
        return ""
    op, bound = goal
    met = value >= bound if op == ">=" else value <= bound
    return f"{op} {bound:g}{'x' if peer else ''}: {'met' if met else 'NOT met'}"


def table(raw: dict[str, dict[str, list[dict[str, float]]]]) -> tuple[str, dict[str, Any]]:
    """The Markdown table and the summary, from every round's raw numbers."""
    rows = ["| section | variant | median | ratio | goal |", "|---|---|---|---|---|"]
    summary: dict[str, Any] = {}

    def median(section: str, variant: str, metric: str) -> float:
        return statistics.median(r[metric] for r in raw[section][variant])

    def row(section: str, variant: str, metric: str, bases: tuple[str, ...] = ()) -> None:
        key = f"{section}/{variant}/{metric}"
        value = median(section, variant, metric)
        ratios = {base: value / median(section, base, metric) for base in bases}
        summary[key] = {"median": value, "ratios": ratios}
        shown = ", ".join(f"{r:.2f}x {base}" for base, r in ratios.items())
        goals = [verdict(key, base, r) for base, r in ratios.items()] + [verdict(key, "", value)]
        goal = "; ".join(g for g in goals if g)
        rows.append(f"| {section} | {variant} | {value:,.3f} {metric} | {shown} | {goal} |")

    naive = "aiohttp-bare" in raw["validate"]  # runs before issue 17 lack the naive peers
    bare = ("aiohttp-bare",) if naive else ()
    row("validate", "proxy", "rps", ("nginx-secure_link", *bare))
    row("validate", "proxy-403", "rps", ("nginx-secure_link", "proxy"))
    row("validate", "nginx-secure_link", "rps")
    if naive:
        row("validate", "aiohttp-bare", "rps")
    row("validate", "proxy", "p50_ms")
    row("validate", "proxy", "p99_ms")
    row("workers", "2 workers", "rps", ("1 worker",))
    peers = ("direct", "nginx-proxy_pass", *(("naive-aiohttp",) if naive else ()))
    for variant in ("proxy-s3", "proxy-local"):
        row("stream", variant, "GBps", peers)
        row("stream", variant, "proxy_cpu_s")
    row("stream", "direct", "GBps")
    row("stream", "nginx-proxy_pass", "GBps")
    if naive:
        row("stream", "naive-aiohttp", "GBps", ("direct",))
    for c in ("c1", "c64"):
        seek_peers = (f"direct {c}", *((f"naive-aiohttp {c}",) if naive else ()))
        row("seek", f"proxy-s3 {c}", "rps", seek_peers)
        row("seek", f"proxy-local {c}", "rps", seek_peers)
        row("seek", f"direct {c}", "rps")
        if naive:
            row("seek", f"naive-aiohttp {c}", "rps", (f"direct {c}",))
    if naive:
        row("seek", "proxy-local token c64", "rps", ("proxy-local c64",))
        row("seek", "proxy-s3 HEAD c64", "rps", ("proxy-s3 c64",))
        row("seek", "proxy-local HEAD c64", "rps", ("proxy-local c64",))
        for variant in ("proxy-s3 c1", "proxy-local c1"):
            key = f"seek/{variant}/p50_over_naive_ms"
            added = median("seek", variant, "p50_ms") - median("seek", "naive-aiohttp c1", "p50_ms")
            summary[key] = {"median": added, "ratios": {}}
            goal = verdict(key, "", added)
            rows.append(
                f"| seek | {variant} | {added:+.3f} ms p50 over naive-aiohttp c1 | | {goal} |"
            )
    for variant in ("proxy-s3 c1", "proxy-local c1"):
        key = f"seek/{variant}/added_p50_ms"
        added = median("seek", variant, "p50_ms") - median("seek", "direct c1", "p50_ms")
        summary[key] = {"median": added, "ratios": {}}
        goal = verdict(key, "", added)
        rows.append(f"| seek | {variant} | +{added:.3f} ms p50 over direct c1 | | {goal} |")
    for metric in ("fast_total_GBps", "proxy_idle_rss_MiB", "proxy_peak_rss_MiB", "per_stream_MiB"):
        if metric in raw["concurrency"]["proxy-s3 32 (16 slow)"][0]:  # older runs lack some
            row("concurrency", "proxy-s3 32 (16 slow)", metric)
    return "\n".join(rows), summary


def chart(summary: dict[str, Any], path: Path) -> None:
    """One bar per ratio with a goal, the goal marked on it; green when met."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = []
    for (key, peer), (op, bound) in GOALS.items():
        if peer and key in summary and peer in summary[key]["ratios"]:
            value = summary[key]["ratios"][peer]
            met = value >= bound if op == ">=" else value <= bound
            label = f"{key.rsplit('/', 1)[0]} vs {peer}"
            bars.append((label, value, bound, "#228833" if met else "#cc3311"))
    if not bars:
        raise ValueError("nothing to chart: the summary has none of the goals' ratios")
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(bars) + 1.5))
    labels = [b[0] for b in bars]
    ax.barh(labels, [b[1] for b in bars], color=[b[3] for b in bars])
    ax.scatter([b[2] for b in bars], labels, marker="|", s=400, color="black", label="goal")
    for y, (_, value, _, _) in enumerate(bars):
        ax.annotate(f"{value:.2f}x", (value, y), xytext=(4, 0), textcoords="offset points",
                    va="center")  # fmt: skip
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("ratio to the peer (median of rounds, log scale); | = the goal")
    ax.set_title("proxy vs its peers on 127.0.0.1 (green: goal met)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one short round; checks, not speed")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--report", metavar="JSON", help="only redraw the table and chart of a run")
    args = parser.parse_args()
    if args.report:
        doc = json.loads(Path(args.report).read_text())
        write(doc, Path(args.report).parent, Path(args.report).stem)
        return 0
    for tool in ("nginx", "wrk", "curl", "ab"):
        if not shutil.which(tool):
            log(f"{tool} is missing: scripts/bench installs it (nginx wrk curl apache2-utils)")
            return 2
    rounds = 1 if args.quick else args.rounds
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    os.chmod(work, 0o755)
    media = work / "www" / "media" / "cam"
    media.mkdir(parents=True)
    sizes = {"small.bin": 1024, "big.bin": (32 if args.quick else 256) << 20}
    for name, size in sizes.items():
        with open(media / name, "wb") as fh:
            for _ in range(0, size, 1 << 20):
                fh.write(os.urandom(min(1 << 20, size)))
    stack = Stack(work, sizes)
    started = time.monotonic()
    try:
        log(f"starting nginx and the proxy in {work}")
        stack.start()
        check(stack)
        sections = build(stack, args.quick)
        for index in range(rounds):
            log(f"round {index + 1} of {rounds}")
            for section in sections:
                section.run_round(index)
    finally:
        stack.stop()
        shutil.rmtree(work, ignore_errors=True)
    machine = f"{os.cpu_count()} cores, {os.uname().machine}, Python {sys.version.split()[0]}"
    doc = {
        "machine": machine,
        "rounds": rounds,
        "seconds": round(time.monotonic() - started, 1),
        "raw": {s.name: s.results for s in sections},
    }
    write(doc, Path(args.out), "quick" if args.quick else "latest")
    return 0


def write(doc: dict[str, Any], out: Path, name: str) -> None:
    text, summary = table(doc["raw"])
    doc["summary"] = summary
    log("\n" + text)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    header = f"Machine: {doc['machine']}; {doc['rounds']} round(s), medians; {doc['seconds']} s."
    (out / f"{name}.md").write_text(f"{header}\n\n{text}\n")
    chart(summary, out / f"{name}.png")
    log(f"wrote {out / name}.json, .md and .png")


if __name__ == "__main__":
    sys.exit(main())
