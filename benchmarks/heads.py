"""What idle attackers cost: N connections that each hold an unfinished request head.

    python -m benchmarks.heads [--connections 2000] [--head-bytes 32000]

Starts one proxy process (local-disk provider, access log off, a 60 s head deadline so
nothing is cut while it measures), opens the connections from 127.0.0.2-201 (so the cap's
per-address fairness does not evict them), lets each send ``--head-bytes`` of header lines
without ending the head, and prints the process's resident memory idle, while they are held,
and a few seconds after they closed. Every process it starts is stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from tests.support.serving import media_doc, proxy_process


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def hold_head(
    port: int, head_bytes: int, release: asyncio.Event, source: str = "127.0.0.1"
) -> None:
    """Hold an unfinished head of about ``head_bytes`` open, from ``source``, until ``release``."""
    _, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    line = b"X-Pad: " + b"a" * 1000 + b"\r\n"
    for _ in range(head_bytes // len(line)):
        writer.write(line)
    await writer.drain()
    await release.wait()
    writer.close()


def _source(index: int) -> str:
    return f"127.0.0.{2 + index % 200}"


async def measure(connections: int, head_bytes: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "media"
        (root / "cam").mkdir(parents=True)
        doc = media_doc(root, access_log=False, header_timeout="60s")
        with proxy_process(Path(tmp), doc) as p:
            await asyncio.sleep(0.5)
            idle = rss_mib(p.pid)
            release = asyncio.Event()
            holders = [
                asyncio.ensure_future(hold_head(p.port, head_bytes, release, _source(i)))
                for i in range(connections)
            ]
            await asyncio.sleep(4)
            held = rss_mib(p.pid)
            release.set()
            await asyncio.gather(*holders)
            await asyncio.sleep(7)  # memory is handed back at most every 5 s
            after = rss_mib(p.pid)
    return {"idle_MiB": idle, "held_MiB": held, "after_close_MiB": after}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.heads", description=__doc__)
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--head-bytes", type=int, default=32000)
    args = parser.parse_args()
    result = asyncio.run(measure(args.connections, args.head_bytes))
    print(
        f"{args.connections} connections x {args.head_bytes} head bytes: "
        + ", ".join(f"{k} {v:.1f}" for k, v in result.items())
    )


if __name__ == "__main__":
    main()
