"""Soak: mixed GET / HEAD / validate / issue load for a long while; RSS must not creep.

    python -m benchmarks.soak --seconds 600

Starts its own proxy on 127.0.0.1 (local-disk provider, one account with a
secret), runs ``--concurrency`` clients for ``--seconds``, samples the server's
RSS every few seconds, and stops everything by PID. Prints one JSON summary and
writes it to benchmarks/results/soak.json. Exit status 1 if any request failed
or RSS grew by 10 % or more between the end of the warm-up and the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from proxy.accounts import hash_secret
from proxy.links.query import build_url
from proxy.links.signing import LinkClaims, Signer

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def soak(seconds: float, concurrency: int, warmup: float) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    (work / "media" / "cam").mkdir(parents=True)
    sizes = {"small.bin": 16 * 1024, "clip.mp4": 2 * 1024 * 1024}
    for name, size in sizes.items():
        (work / "media" / "cam" / name).write_bytes(os.urandom(size))
    key = secrets.token_urlsafe(32)
    secret = secrets.token_urlsafe(24)
    port = free_port()
    config = work / "proxy.toml"
    config.write_text(
        f"""[server]
host = "127.0.0.1"
port = {port}
access_log = false
[signing]
key = "{key}"
[providers.disk]
kind = "local"
root = "{work / "media"}"
[accounts.cam]
access_key = "AKSOAK"
secret_hash = "{hash_secret(secret)}"
providers = ["disk"]
"""
    )
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "proxy", "serve", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    signer = Signer(key.encode())

    def link(name: str) -> str:
        claims = LinkClaims("cam", "disk", f"cam/{name}", int(time.time()) + 3600)
        return build_url(base, claims, signer.sign(claims))

    counts: dict[str, int] = {}
    errors: list[str] = []
    samples: list[tuple[float, int]] = []
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                try:
                    async with session.get(f"{base}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
            creds = {
                "X-Kerberos-Storage-AccessKey": "AKSOAK",
                "X-Kerberos-Storage-SecretAccessKey": secret,
            }
            start = time.monotonic()
            end = start + warmup + seconds

            async def one(rng: random.Random) -> None:
                kind = rng.choices(
                    ["get", "range", "head", "validate", "issue", "bulk"], [3, 3, 2, 2, 1, 1]
                )[0]
                name = rng.choice(list(sizes))
                url = link(name)
                expect = 200
                if kind == "get":
                    request = session.get(url)
                elif kind == "range":
                    request = session.get(url, headers={"Range": "bytes=100-1123"})
                    expect = 206
                elif kind == "head":
                    request = session.head(url)
                elif kind == "validate":
                    request = session.get(url.replace("/signed?", "/signed/validate?"))
                elif kind == "issue":
                    request = session.get(
                        f"{base}/api/storage",
                        headers={**creds, "X-Kerberos-Storage-FileName": f"cam/{name}"},
                    )
                else:
                    body = json.dumps([{"filename": f"cam/{n}"} for n in sizes])
                    request = session.post(f"{base}/api/storage/bulk", data=body, headers=creds)
                async with request as resp:
                    got = 0
                    async for chunk in resp.content.iter_any():
                        got += len(chunk)
                    if resp.status != expect:
                        errors.append(f"{kind} -> {resp.status}")
                    elif kind == "get" and got != sizes[name]:
                        errors.append(f"get {name}: {got} of {sizes[name]} bytes")
                    elif kind == "range" and got != 1024:
                        errors.append(f"range: {got} bytes")
                counts[kind] = counts.get(kind, 0) + 1

            async def client(seed: int) -> None:
                rng = random.Random(seed)
                while time.monotonic() < end:
                    try:
                        await one(rng)
                    except aiohttp.ClientError as exc:
                        errors.append(type(exc).__name__)

            async def sampler() -> None:
                while time.monotonic() < end:
                    samples.append((time.monotonic() - start, rss_kib(proc.pid)))
                    t, rss = samples[-1]
                    done = sum(counts.values())
                    print(
                        f"t={t:6.0f}s rss={rss} KiB requests={done} errors={len(errors)}",
                        flush=True,
                    )
                    await asyncio.sleep(5)

            await asyncio.gather(sampler(), *(client(i) for i in range(concurrency)))
            samples.append((time.monotonic() - start, rss_kib(proc.pid)))
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(30)
    after_warmup = [rss for t, rss in samples if t >= warmup] or [samples[-1][1]]
    baseline, final = after_warmup[0], samples[-1][1]
    growth = (final - baseline) / baseline
    return {
        "seconds": seconds,
        "warmup_seconds": warmup,
        "concurrency": concurrency,
        "requests": counts,
        "total_requests": sum(counts.values()),
        "errors": len(errors),
        "error_examples": errors[:5],
        "rss_kib_after_warmup": baseline,
        "rss_kib_end": final,
        "rss_kib_peak": max(rss for _, rss in samples),
        "rss_growth_percent": round(100 * growth, 2),
        "ok": not errors and growth < 0.10,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--warmup", type=float, default=30)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", default=str(RESULTS / "soak.json"))
    args = parser.parse_args()
    result = asyncio.run(soak(args.seconds, args.concurrency, args.warmup))
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
