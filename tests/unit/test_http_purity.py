"""proxy.http is the pure core: importing all of it loads no web framework, config, backend or
cryptography."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import proxy.http

FORBIDDEN = ("aiohttp", "proxy.config", "proxy.storage", "proxy.runtime", "cryptography")


def test_proxy_http_imports_nothing_impure() -> None:
    modules = [f"proxy.http.{info.name}" for info in pkgutil.iter_modules(proxy.http.__path__)]
    assert "proxy.http.decision" in modules
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = json.loads(done.stdout)
    impure = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert impure == []
