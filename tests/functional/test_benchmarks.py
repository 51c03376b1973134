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


def test_the_side_by_side_harness_checks_what_it_measures(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "checks: statuses, byte counts, Content-Range and refusals are right" in result.stdout
    doc = json.loads((tmp_path / "quick.json").read_text())
    for key in (
        "validate/proxy/rps",
        "workers/2 workers/rps",
        "stream/proxy-s3/GBps",
        "stream/proxy-local/GBps",
        "seek/proxy-s3 c64/rps",
        "concurrency/proxy-s3 32 (16 slow)/proxy_peak_rss_MiB",
        # The naive peers (issue 17), and what is measured against them.
        "validate/aiohttp-bare/rps",
        "stream/naive-aiohttp/GBps",
        "seek/naive-aiohttp c64/rps",
        "seek/proxy-local token c64/rps",
        "seek/proxy-s3 HEAD c64/rps",
        "seek/proxy-local HEAD c64/rps",
    ):
        assert doc["summary"][key]["median"] > 0, key
    assert (tmp_path / "quick.png").stat().st_size > 1000
    assert "| section | variant |" in (tmp_path / "quick.md").read_text()


def test_the_timeline_benchmark_measures_a_playlist_on_s3_and_disk(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.timeline", "--recordings", "3", "--runs", "1",
         "--seconds", "0.5", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    doc = json.loads((tmp_path / "timeline.json").read_text())
    for part in ("summary", "disk"):
        s = doc[part]
        assert s["cold_read_calls"] >= 3 * 5, s  # each recording indexed from its boxes
        assert s["warm_read_calls"] == 0, s  # then from the cache
        assert s["relisted_list_calls_per_request"] >= 1, s  # listed again after a second
        assert s["warm_list_calls"] <= 4, s  # within it, answered from the kept answer
        assert s["warm_playlists_per_s"] > 0, s
    assert doc["summary"]["cold_list_calls"] >= 1
    assert "| cold: time to first playlist byte |" in (tmp_path / "timeline.md").read_text()
