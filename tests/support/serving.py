"""A real ``python -m proxy serve`` process for the tests that attack it, stopped by PID."""

from __future__ import annotations

import contextlib
import resource
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import toml
from tests.support.procs import ROOT, free_port, stop, wait_http
from tests.support.proxyapp import KEY


@dataclass
class ProxyProcess:
    proc: subprocess.Popen[bytes]
    host: str
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kib(self) -> int:
        """Resident memory now (VmRSS)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS in /proc status")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def media_doc(root: Path, **server: Any) -> dict[str, Any]:
    """A config with one local provider over ``root`` and an account ``cam`` (prefix cam/)."""
    return {
        "server": {"host": "127.0.0.1", **server},
        "signing": {"key": KEY},
        "providers": {"disk": {"kind": "local", "root": str(root)}},
        "accounts": {"cam": {"providers": ["disk"]}},
    }


@contextlib.contextmanager
def proxy_process(
    tmp_path: Path,
    doc: dict[str, Any],
    *args: str,
    env: dict[str, str] | None = None,
    nofile: int | None = None,
) -> Iterator[ProxyProcess]:
    """Serve ``doc`` (its port is chosen here) until the block ends; ``nofile`` caps the
    process's open files (soft and hard)."""
    port = free_port()
    doc = {**doc, "server": {**doc.get("server", {}), "port": port}}
    host = doc["server"].get("host", "127.0.0.1")
    path = tmp_path / f"proxy-{port}.toml"
    path.write_text(toml.dumps(doc))
    log = tmp_path / f"proxy-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "proxy", "serve", "--config", str(path), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
            preexec_fn=None if nofile is None else lambda: _limit_files(nofile),
        )
    try:
        wait_http(f"http://{host}:{port}/healthz", proc)
        yield ProxyProcess(proc, host, port, log)
    finally:
        stop(proc)


def _limit_files(n: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
