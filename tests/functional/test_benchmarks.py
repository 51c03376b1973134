"""The benchmark harnesses still run (briefly): they must not rot between real runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.procs import ROOT


def test_soak_runs_a_mixed_load_without_errors(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", "--seconds", "3", "--warmup", "1",
         "--concurrency", "4", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    summary = json.loads(out.read_text())
    assert summary["errors"] == 0, summary["error_examples"]
    assert summary["total_requests"] > 100
    assert set(summary["requests"]) == {"get", "range", "head", "validate", "issue", "bulk"}
    assert result.returncode in (0, 1)  # 1 only if RSS moved 10 % in three seconds of warm-up
