"""``serve --workers 2`` when workers die: a killed worker is replaced, a crash loop backs off,
workers that can never start make the supervisor give up, SIGTERM still drains them all.

Real processes on a real port. Workers are found in /proc as the supervisor's children;
everything a test starts carries its ``tmp_path`` in its argv (the config file), so each
test ends by checking, and if need be SIGKILLing by PID, exactly its own processes.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.support import toml
from tests.support.procs import ROOT, free_port, stop
from tests.support.proxyapp import NOW, Links
from tests.support.serving import ProxyProcess, media_doc, proxy_process

LINK = Links().path("cam", "disk", "cam/clip.bin", NOW * 2)
RESTART = re.compile(r"worker (\d+) \((.*?)\) replaced by worker (\d+)")
DELAY = re.compile(r"restarting it in ([\d.]+)s")


def _media(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    (root / "cam").mkdir(parents=True)
    (root / "cam" / "clip.bin").write_bytes(b"x" * 1024)
    return root


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) from /proc, or None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def _children(pid: int) -> set[int]:
    """The live (not zombie) children of ``pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[1] == pid and stat[0] not in "ZX":
                found.add(int(entry.name))
    return found


def _mine(tmp_path: Path) -> set[int]:
    """Live processes whose argv names a file under ``tmp_path``: this test's, and only it's."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes()
            stat = _stat(int(entry.name))
            if str(tmp_path).encode() in argv and stat is not None and stat[0] not in "ZX":
                found.add(int(entry.name))
    return found


@contextlib.contextmanager
def _leaves_nothing(tmp_path: Path) -> Iterator[None]:
    """On the way out, SIGKILL by PID whatever of this test still runs (a failed test's)."""
    try:
        yield
    finally:
        for pid in _mine(tmp_path):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _until(what: str, check: Callable[[], Any], seconds: float, step: float = 0.05) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(step)
    raise AssertionError(f"not within {seconds}s: {what}")


def _status(p: ProxyProcess, path: str) -> int:
    try:
        with urllib.request.urlopen(p.base + path, timeout=3) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _listening(p: ProxyProcess) -> set[int]:
    return {int(pid) for pid in re.findall(r"listening on \S+ \(pid (\d+)\)", p.log_text())}


def _serving_workers(p: ProxyProcess, count: int, seconds: float = 20) -> set[int]:
    """Wait until the supervisor has ``count`` children and each has logged that it listens."""

    def ready() -> set[int] | None:
        workers = _children(p.pid)
        return workers if len(workers) == count and workers <= _listening(p) else None

    return set(_until(f"{count} listening workers", ready, seconds))


def _reaped(pid: int, started: int) -> bool:
    """The process is gone (or the pid is someone else's now).

    Not merely a zombie: the leader of a threaded process is one while its other threads
    still hold the sockets open. Its parent is told, and reaps it, only once all are gone.
    """
    stat = _stat(pid)
    return stat is None or stat[2] != started


def _kill_worker(p: ProxyProcess, pid: int) -> None:
    """SIGKILL a worker; wait until it is reaped (its sockets closed: no connection aims at it)."""
    stat = _stat(pid)
    assert stat is not None
    os.kill(pid, signal.SIGKILL)
    _until(f"worker {pid} reaped", lambda: _reaped(pid, stat[2]), 5, 0.005)


def _replacement(p: ProxyProcess, victim: int, seconds: float = 10) -> int:
    """Keep asking /healthz (each answer must be a 200) until ``victim``'s successor listens."""

    def replaced() -> int | None:
        assert _status(p, "/healthz") == 200
        for old, _fate, new in RESTART.findall(p.log_text()):
            if int(old) == victim and int(new) in _listening(p) & _children(p.pid):
                return int(new)
        return None

    return int(_until(f"a worker in place of {victim}", replaced, seconds, 0.02))


def _reloads(p: ProxyProcess) -> int:
    return p.log_text().count("configuration reloaded")


def test_a_killed_worker_is_replaced_while_the_port_keeps_answering(tmp_path: Path) -> None:
    """Old behaviour: the dead worker is never replaced, so ``_replacement`` times out."""
    root = _media(tmp_path)
    with _leaves_nothing(tmp_path), proxy_process(tmp_path, media_doc(root), "--workers", "2") as p:
        first = _serving_workers(p, 2)
        victim, survivor = sorted(first)
        assert _status(p, "/healthz") == 200
        _kill_worker(p, victim)
        new = _replacement(p, victim)
        assert new not in first
        assert _children(p.pid) == {survivor, new}
        assert os.getpgid(new) == new  # a process group of its own, as the first workers
        fates = [fate for old, fate, _ in RESTART.findall(p.log_text()) if int(old) == victim]
        assert fates == ["killed by SIGKILL"]
        assert f"worker {victim} killed by SIGKILL after" in p.log_text()
        # SIGHUP reaches both live workers: the survivor and the one started later.
        os.kill(p.pid, signal.SIGHUP)
        _until("two reloads", lambda: _reloads(p) == 2, 10)
        time.sleep(0.3)
        assert _reloads(p) == 2
        os.kill(p.pid, signal.SIGTERM)
        assert p.proc.wait(timeout=15) == 0
        assert not _mine(tmp_path)  # both workers ended with the supervisor
        assert not any(_stat(pid) for pid in (survivor, new))


def test_a_restarted_worker_serves_the_configuration_reloaded_before_it(tmp_path: Path) -> None:
    """Revoking by reload holds on workers forked later: they start from the reloaded file.

    Old behaviour: no worker is ever restarted. Forking from the settings the supervisor
    started with would serve the revoked link again (a 200 here).
    """
    root = _media(tmp_path)
    doc = media_doc(root)
    with _leaves_nothing(tmp_path), proxy_process(tmp_path, doc, "--workers", "2") as p:
        first = _serving_workers(p, 2)
        assert _status(p, LINK) == 200
        disabled = {**doc, "server": {**doc["server"], "port": p.port}}
        disabled["accounts"] = {"cam": {**doc["accounts"]["cam"], "enabled": False}}
        (tmp_path / f"proxy-{p.port}.toml").write_text(toml.dumps(disabled))
        os.kill(p.pid, signal.SIGHUP)
        _until("two reloads", lambda: _reloads(p) == 2, 10)
        assert _status(p, LINK) == 403
        for victim in sorted(first):
            _kill_worker(p, victim)
            _replacement(p, victim)
        assert not _children(p.pid) & first  # every worker now was forked after the reload
        assert {_status(p, LINK) for _ in range(20)} == {403}


def _serve_argv(tmp_path: Path, port: int) -> list[str]:
    doc = media_doc(_media(tmp_path))
    path = tmp_path / "proxy.toml"
    path.write_text(toml.dumps({**doc, "server": {**doc["server"], "port": port}}))
    return [sys.executable, "-m", "proxy", "serve", "--config", str(path), "--workers", "2"]


def test_workers_that_can_never_listen_make_the_supervisor_give_up(tmp_path: Path) -> None:
    """Every worker's listen fails: each slot is retried with back-off, then the supervisor
    exits 2 within a bounded time, leaving no process behind.

    Old behaviour: no retry at all (no "replaced by" line); a restart without a give-up rule
    would never exit (the wait times out).
    """
    port = free_port()
    log = tmp_path / "serve.log"
    with (
        _leaves_nothing(tmp_path),
        socket.socket() as holder,  # no SO_REUSEPORT: no worker can join this port
    ):
        holder.bind(("127.0.0.1", port))
        holder.listen()
        argv = _serve_argv(tmp_path, port)
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            started = time.monotonic()
            code = proc.wait(timeout=30)
            took = time.monotonic() - started
        finally:
            stop(proc)
        text = log.read_text()
        assert code == 2, text
        assert took < 20
        assert text.count(f"cannot listen on 127.0.0.1:{port}") >= 6  # 2 slots x 3 tries
        assert len(RESTART.findall(text)) >= 4  # each slot forked again, twice at least
        delays = DELAY.findall(text)
        assert delays.count("0.1") == 2
        assert delays.count("0.2") == 2
        assert "every worker failed to start 3 times in a row: giving up" in text
        assert not _mine(tmp_path)


def test_a_crash_looping_worker_backs_off_until_no_worker_is_left(tmp_path: Path) -> None:
    """A worker that cannot start again is retried 0.1, 0.2, 0.4 ... s apart while the other
    worker serves; once that one dies too, the supervisor gives up and exits non-zero.

    Old behaviour: the killed worker is never retried (no delays logged), and the supervisor
    exits as soon as both are dead, without trying to restart either.
    """
    root = _media(tmp_path)
    with _leaves_nothing(tmp_path), proxy_process(tmp_path, media_doc(root), "--workers", "2") as p:
        victim, survivor = sorted(_serving_workers(p, 2))
        # From now on nothing the supervisor forks can open a file or a socket: every new
        # worker fails at once. The live workers keep their own limits.
        resource.prlimit(p.pid, resource.RLIMIT_NOFILE, (0, 0))
        _kill_worker(p, victim)

        def five_delays() -> list[str] | None:
            assert _status(p, "/healthz") == 200  # the survivor keeps serving
            delays = DELAY.findall(p.log_text())
            return delays if len(delays) >= 5 else None

        delays = _until("five restarts of one slot", five_delays, 20, 0.05)
        assert delays[:5] == ["0.1", "0.2", "0.4", "0.8", "1.6"]
        assert p.proc.poll() is None  # one worker still serves: no reason to give up
        assert _children(p.pid) >= {survivor}
        assert "giving up" not in p.log_text()
        _kill_worker(p, survivor)
        code = p.proc.wait(timeout=30)
        assert code != 0
        assert "giving up" in p.log_text()
        assert not _mine(tmp_path)
