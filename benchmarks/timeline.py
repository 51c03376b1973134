"""What a camera timeline (§7) costs on the S3 path: a folder of N recordings.

    python -m benchmarks.timeline [--recordings 200] [--runs 3] [--seconds 5] [--out DIR]

Starts moto's S3 server (it answers ListObjectsV2, which a static origin cannot) and puts N
fragmented MP4 recordings (ffmpeg, 6 s, three 2 s fragments each, named the Kerberos way 10 s
apart) in one folder. Then, for each of ``--runs`` fresh proxy processes (one worker, access
log off):

- cold: the first playlist request, its time to first byte and to the last byte, the
  process's resident memory before and after, and the backend calls it made (list pages and
  ranged index reads, from the proxy's own ``/metrics``);
- warm, listed again: 10 requests with other tokens for the same window (no kept answer:
  the folder is listed again, the indexes come from the cache);
- warm, kept: 20 requests one after another, then ``--seconds`` of 8 concurrent clients
  (playlists per second; answered from the last second's answer, each request's token
  checked).

The same folder is then served from local disk the same way, which shows what the proxy
itself costs without moto. Beside it, in the same run, the floor: the same listing and one
ranged read asked of moto directly (boto3, one client), so the S3 figures can be read against
what the backend itself costs. Medians over the runs. Every process it starts is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

from proxy.links.signing import Signer
from proxy.links.tokens import TokenClaims, make_token
from proxy.timeline.naming import Window
from tests.support.procs import free_port, moto_argv, started
from tests.support.proxyapp import KEY
from tests.support.recordings import T0, encode, kerberos_name
from tests.support.serving import ProxyProcess, media_doc, proxy_process

FOLDER = "cam/timeline/"
SECONDS = 6  # per recording: three fragments
WARM_REQUESTS = 20
RELISTED_REQUESTS = 10
CONCURRENCY = 8


def _metric(text: str, name: str, **labels: str) -> float:
    """The sum of ``name`` over the samples whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[float, float, int]:
    """(seconds to the first body byte, seconds to the last, body bytes) of one GET."""
    began = time.perf_counter()
    async with session.get(url) as resp:
        assert resp.status == 200, (resp.status, await resp.text())
        first = await resp.content.readany()
        ttfb = time.perf_counter() - began
        size = len(first)
        async for chunk in resp.content.iter_any():
            size += len(chunk)
    return ttfb, time.perf_counter() - began, size


async def _calls(session: aiohttp.ClientSession, base: str) -> dict[str, float]:
    async with session.get(f"{base}/metrics") as resp:
        text = await resp.text()
    name = "proxy_backend_request_seconds_count"
    return {
        "list_calls": _metric(text, name, operation="list"),
        "read_calls": _metric(text, name, operation="index"),
    }


async def _one_process(
    p: ProxyProcess, url: str, others: list[str], seconds: float
) -> dict[str, float]:
    async with aiohttp.ClientSession() as session:
        before = await _calls(session, p.base)
        rss_idle = p.rss_kib() / 1024
        ttfb, total, size = await _get(session, url)
        cold = await _calls(session, p.base)
        rss_cold = p.rss_kib() / 1024
        # Other tokens for the same window: no kept answer, so each lists the folder again
        # (the indexes come from the cache). One after another, not after an idle second:
        # this VM wakes slowly from idle, which a pause would measure instead.
        relisted = [await _get(session, other) for other in others]
        after_relisted = await _calls(session, p.base)
        warm = [await _get(session, url) for _ in range(WARM_REQUESTS)]
        after_warm = await _calls(session, p.base)
        done = 0
        deadline = time.monotonic() + seconds

        async def client() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                await _get(session, url)
                done += 1

        began = time.monotonic()
        await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
        elapsed = time.monotonic() - began
        rss_warm = p.rss_kib() / 1024
    return {
        "cold_ttfb_ms": ttfb * 1000,
        "cold_total_ms": total * 1000,
        "playlist_bytes": size,
        "cold_list_calls": cold["list_calls"] - before["list_calls"],
        "cold_read_calls": cold["read_calls"] - before["read_calls"],
        "relisted_total_ms": statistics.median(w[1] for w in relisted) * 1000,
        "relisted_list_calls_per_request": (after_relisted["list_calls"] - cold["list_calls"])
        / RELISTED_REQUESTS,
        "warm_ttfb_ms": statistics.median(w[0] for w in warm) * 1000,
        "warm_total_ms": statistics.median(w[1] for w in warm) * 1000,
        "warm_list_calls": after_warm["list_calls"] - after_relisted["list_calls"],
        "warm_read_calls": after_warm["read_calls"] - cold["read_calls"],
        "warm_playlists_per_s": done / elapsed,
        "rss_idle_MiB": rss_idle,
        "rss_after_cold_MiB": rss_cold,
        "rss_after_warm_MiB": rss_warm,
    }


def _s3(endpoint: str) -> Any:
    """A boto3 client of moto's server (its test credentials)."""
    from tests.conftest import MotoServer

    return MotoServer(endpoint, 0).client()


def _direct_ms(moto_endpoint: str, bucket: str, key: str) -> tuple[float, float]:
    """(the folder's listing, the median of 20 ranged 512-byte GETs), asked of moto directly
    with boto3, in milliseconds: what the backend itself costs."""
    s3 = _s3(moto_endpoint)
    s3.list_objects_v2(Bucket=bucket, Prefix=FOLDER, Delimiter="/")  # a warm connection
    began = time.perf_counter()
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=FOLDER, Delimiter="/"
    )
    count = sum(len(page.get("Contents", [])) for page in pages)
    assert count > 0
    listing = (time.perf_counter() - began) * 1000
    reads = []
    for _ in range(20):
        began = time.perf_counter()
        s3.get_object(Bucket=bucket, Key=key, Range="bytes=0-511")["Body"].read()
        reads.append((time.perf_counter() - began) * 1000)
    return listing, statistics.median(reads)


def _urls(p: ProxyProcess, token: str, others: list[str]) -> tuple[str, list[str]]:
    def url(t: str) -> str:
        return f"{p.base}/api/storage/timeline/{t}.m3u8"

    return url(token), [url(t) for t in others]


def run(recordings: int, runs: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sample = work / "sample.mp4"
        encode(sample, SECONDS)
        data = sample.read_bytes()
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        with started(moto_argv(port), f"{endpoint}/moto-api/", work / "moto.log"):
            s3 = _s3(endpoint)
            s3.create_bucket(Bucket="timeline")
            names = [kerberos_name(T0 + 10 * i, "frontdoor", SECONDS) for i in range(recordings)]
            with ThreadPoolExecutor(8) as pool:
                list(
                    pool.map(
                        lambda n: s3.put_object(Bucket="timeline", Key=FOLDER + n, Body=data),
                        names,
                    )
                )
            doc = media_doc(work, access_log=False, check_interval=3600)
            doc["providers"] = {
                "s3": {
                    "kind": "s3",
                    "bucket": "timeline",
                    "endpoint_url": endpoint,
                    "access_key_id": "testing",
                    "secret_access_key": "testing",
                }
            }
            doc["accounts"] = {"cam": {"providers": ["s3"]}}
            claims = TokenClaims(
                "cam",
                "s3",
                int(time.time()) + 3600,
                folder=FOLDER,
                timeline=Window(T0, T0 + 10 * recordings),
            )
            signer = Signer(KEY.encode())
            token = make_token(claims, signer)
            others = [
                make_token(replace(claims, expires=claims.expires + n), signer)
                for n in range(1, RELISTED_REQUESTS + 1)
            ]
            # The same folder on local disk: what the proxy itself costs, without moto.
            disk = work / "media" / FOLDER
            disk.mkdir(parents=True)
            for name in names:
                (disk / name).write_bytes(data)
            disk_doc = media_doc(work / "media", access_log=False, check_interval=3600)
            on_disk_claims = replace(claims, provider="disk")
            disk_token = make_token(on_disk_claims, signer)
            disk_others = [
                make_token(replace(on_disk_claims, expires=claims.expires + n), signer)
                for n in range(1, RELISTED_REQUESTS + 1)
            ]
            results, on_disk, direct = [], [], []
            for _ in range(runs):
                with proxy_process(work, doc) as p:
                    url, more = _urls(p, token, others)
                    results.append(asyncio.run(_one_process(p, url, more, seconds)))
                with proxy_process(work, disk_doc) as p:
                    url, more = _urls(p, disk_token, disk_others)
                    on_disk.append(asyncio.run(_one_process(p, url, more, seconds)))
                direct.append(_direct_ms(endpoint, "timeline", FOLDER + names[0]))
    summary = {key: statistics.median(r[key] for r in results) for key in results[0]}
    summary["direct_listing_ms"] = statistics.median(d[0] for d in direct)
    summary["direct_read_ms"] = statistics.median(d[1] for d in direct)
    disk_summary = {key: statistics.median(r[key] for r in on_disk) for key in on_disk[0]}
    return {
        "recordings": recordings,
        "runs": runs,
        "summary": summary,
        "disk": disk_summary,
        "raw": results,
        "raw_disk": on_disk,
    }


def markdown(doc: dict[str, Any]) -> str:
    s, d = doc["summary"], doc["disk"]
    n = doc["recordings"]
    return "\n".join(
        [
            f"| timeline of {n} recordings, S3 path (moto), median of {doc['runs']} | value |",
            "|---|---|",
            f"| cold: time to first playlist byte | {s['cold_ttfb_ms']:.0f} ms |",
            f"| cold: whole playlist ({s['playlist_bytes'] / 1024:.0f} KiB) "
            f"| {s['cold_total_ms']:.0f} ms |",
            f"| cold: backend calls | {s['cold_list_calls']:.0f} list calls (the last one "
            f"ends the listing), {s['cold_read_calls']:.0f} ranged reads |",
            f"| moto itself (boto3): the listing; one ranged 512-byte GET "
            f"| {s['direct_listing_ms']:.0f} ms; {s['direct_read_ms']:.1f} ms |",
            f"| warm, listed again (indexes cached): whole playlist | "
            f"{s['relisted_total_ms']:.1f} ms, {s['relisted_list_calls_per_request']:.0f} list "
            f"calls each, {s['warm_read_calls']:.0f} reads in all |",
            f"| warm, within the second an answer is kept: first byte; whole playlist | "
            f"{s['warm_ttfb_ms']:.1f} ms; {s['warm_total_ms']:.1f} ms |",
            f"| warm: playlists/s, {CONCURRENCY} clients | {s['warm_playlists_per_s']:.0f} |",
            f"| memory (RSS): idle, after cold, after warm | {s['rss_idle_MiB']:.1f}, "
            f"{s['rss_after_cold_MiB']:.1f}, {s['rss_after_warm_MiB']:.1f} MiB |",
            f"| the same folder on local disk: cold; listed again; kept; playlists/s, "
            f"{CONCURRENCY} clients | {d['cold_total_ms']:.0f} ms ({d['cold_read_calls']:.0f} "
            f"reads); {d['relisted_total_ms']:.1f} ms; {d['warm_total_ms']:.1f} ms; "
            f"{d['warm_playlists_per_s']:.0f} |",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recordings", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    doc = run(args.recordings, args.runs, args.seconds)
    text = markdown(doc)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "timeline.json").write_text(json.dumps(doc, indent=2))
        (args.out / "timeline.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
