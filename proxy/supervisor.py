"""``serve --workers N``: N processes on one SO_REUSEPORT port, kept at N, and their signals.

The kernel spreads connections over the workers. The parent takes its signals
synchronously: SIGCHLD, SIGHUP, SIGTERM and SIGINT stay blocked and are read one
at a time with ``sigtimedwait``, so nothing interrupts a fork or its bookkeeping,
and the wait sleeps until a signal or the next restart is due. A pid is forgotten
the moment ``waitpid`` reaps it; until then the kernel cannot reuse it, so every
pid the parent signals is still one of its workers.

- SIGHUP (reload) goes to every live worker. The parent re-reads the file too, so
  a worker forked later starts with the configuration the others run.
- SIGTERM or SIGINT: every live worker gets SIGTERM once and nothing is restarted.
  A worker still running ``shutdown_grace`` + 5 s later gets SIGKILL. The exit
  status is the worst of theirs (0 when every one drained).
- Any other exit of a worker is replaced by a new fork, after 0.1 s doubling with
  each exit in a row of a worker that lived less than 30 s, at most 10 s.
- A worker that exits with status 2 (it could not listen) or within 1 s of its
  fork failed to start. When each slot's last 3 workers failed to start (and none
  is up now), nothing will serve: the parent stops the rest and exits with the
  last failure's status.

Workers sit in their own process group, so a terminal's Ctrl-C reaches them only
through the parent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from typing import NoReturn

from proxy import config, server
from proxy.config import Settings
from proxy.errors import ConfigError

log = logging.getLogger("proxy")

FIRST_DELAY = 0.1  # seconds before the first restart of a slot
MAX_DELAY = 10.0
STABLE_SECONDS = 30.0  # a worker that lived this long resets its slot's back-off
START_SECONDS = 1.0  # a worker that exits sooner than this failed to start
CANNOT_LISTEN = 2  # a worker's status when server.run could not listen: a failed start too
GIVE_UP_STARTS = 3  # failed starts in a row, in every slot at once, before giving up
KILL_AFTER_GRACE = 5.0  # past shutdown_grace, what a stopping worker gets before SIGKILL
_IDLE_WAKE = 5.0  # the longest one wait sleeps with nothing due (a backstop, not a poll)

_STOP = (signal.SIGTERM, signal.SIGINT)
_TAKEN = (signal.SIGCHLD, signal.SIGHUP, *_STOP)


@dataclass(slots=True)
class _Slot:
    """One of the N places a worker runs in, and how its recent workers fared."""

    pid: int | None = None  # the live (or not yet reaped) worker
    started: float = 0.0
    due: float | None = None  # when the next worker is forked
    replaces: str = ""  # the last worker's fate, for the line that names its successor
    short_exits: int = 0  # exits in a row of workers that lived < STABLE_SECONDS
    failed_starts: int = 0  # in a row: exits with CANNOT_LISTEN or within START_SECONDS

    def up(self, now: float) -> bool:
        return self.pid is not None and now - self.started >= START_SECONDS


def run(settings: Settings, host: str, port: int, workers: int, reload_from: str | None) -> int:
    """Keep ``workers`` servers running until SIGTERM or SIGINT, or until none can start."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _TAKEN)
    try:
        return _Supervisor(settings, host, port, workers, reload_from, previous).run()
    finally:
        while signal.sigtimedwait(_TAKEN, 0) is not None:
            pass  # the decision is made: a late signal must not kill the exit
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _Supervisor:
    def __init__(
        self,
        settings: Settings,
        host: str,
        port: int,
        workers: int,
        reload_from: str | None,
        mask: set[int | signal.Signals],
    ) -> None:
        self.settings = settings
        self.host = host
        self.port = port
        self.reload_from = reload_from
        self.mask = mask  # what a worker unblocks to
        self.slots = [_Slot() for _ in range(workers)]
        self.stopping = False
        self.kill_at: float | None = None
        self.worst = 0
        self.gave_up: int | None = None  # the failure's status, whatever the others' are

    def run(self) -> int:
        for slot in self.slots:
            self._start(slot)
        while True:
            self._reap()
            if self.stopping and all(slot.pid is None for slot in self.slots):
                return self.worst if self.gave_up is None else self.gave_up
            now = time.monotonic()
            for slot in self.slots:
                if slot.due is not None and slot.due <= now:
                    self._start(slot)
            if self.kill_at is not None and self.kill_at <= now:
                self._kill_late()
            info = signal.sigtimedwait(_TAKEN, self._wait_seconds(time.monotonic()))
            if info is not None:
                self._on_signal(info.si_signo)

    def _wait_seconds(self, now: float) -> float:
        due = [slot.due for slot in self.slots if slot.due is not None]
        if self.kill_at is not None:
            due.append(self.kill_at)
        return max(0.0, min([_IDLE_WAKE, *(at - now for at in due)]))

    def _on_signal(self, signum: int) -> None:
        if signum == signal.SIGHUP:
            self._reload()
            self._tell_all(signal.SIGHUP)
        elif signum in _STOP and not self.stopping:
            live = sum(slot.pid is not None for slot in self.slots)
            log.info("stopping: SIGTERM to %d worker(s)", live)
            self._stop()

    def _reload(self) -> None:
        if self.reload_from is None:
            return
        try:
            self.settings = config.load(self.reload_from, os.environ)
        except ConfigError:
            return  # every worker logs why; a later fork gets what last loaded, as they keep
        except Exception as exc:
            # The class only: a message may carry a credential.
            log.error("supervisor: reload refused: %s", type(exc).__name__)

    def _stop(self) -> None:
        self.stopping = True
        self.kill_at = time.monotonic() + self.settings.server.shutdown_grace + KILL_AFTER_GRACE
        for slot in self.slots:
            slot.due = None
        self._tell_all(signal.SIGTERM)

    def _tell_all(self, signum: int) -> None:
        for slot in self.slots:
            if slot.pid is not None:  # not reaped yet, so not reused
                os.kill(slot.pid, signum)

    def _kill_late(self) -> None:
        self.kill_at = None
        for slot in self.slots:
            if slot.pid is not None:
                log.warning("worker %d is still running after the grace; killing it", slot.pid)
                os.kill(slot.pid, signal.SIGKILL)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for slot in self.slots:
                if slot.pid == pid:
                    slot.pid = None  # from here on the pid may belong to anyone
                    self._exited(slot, pid, status)
                    break

    def _exited(self, slot: _Slot, pid: int, status: int) -> None:
        now = time.monotonic()
        code = _exit_code(status)
        if self.stopping:
            self.worst = max(self.worst, code)
            return
        fate = _fate(status)
        lived = now - slot.started
        if self._failed(slot, lived, now, cannot_listen=code == CANNOT_LISTEN):
            log.error(
                "worker %d %s %.1fs after its start; every worker failed to start "
                "%d times in a row: giving up",
                pid, fate, lived, GIVE_UP_STARTS,
            )  # fmt: skip
            self.gave_up = code or 1
            self._stop()
            return
        delay = _delay(slot.short_exits)
        log.warning("worker %d %s after %.1fs; restarting it in %.1fs", pid, fate, lived, delay)
        slot.replaces = f"worker {pid} ({fate})"
        slot.due = now + delay

    def _failed(self, slot: _Slot, lived: float, now: float, *, cannot_listen: bool) -> bool:
        """Count an exit after ``lived`` seconds; whether no worker can start at all."""
        slot.short_exits = 1 if lived >= STABLE_SECONDS else slot.short_exits + 1
        failed = cannot_listen or lived < START_SECONDS
        slot.failed_starts = slot.failed_starts + 1 if failed else 0
        return all(s.failed_starts >= GIVE_UP_STARTS and not s.up(now) for s in self.slots)

    def _start(self, slot: _Slot) -> None:
        slot.due = None
        try:
            pid = os.fork()
        except OSError as exc:
            log.error("cannot fork a worker: %s", exc.strerror)
            if self._failed(slot, 0.0, time.monotonic(), cannot_listen=False):
                log.error("no worker can be forked: giving up")
                self.gave_up = 1
                self._stop()
            else:
                slot.due = time.monotonic() + _delay(slot.short_exits)
            return
        if pid == 0:  # pragma: no cover - runs in the child
            self._work()
        slot.pid, slot.started = pid, time.monotonic()
        if slot.replaces:
            log.warning("%s replaced by worker %d", slot.replaces, pid)
            slot.replaces = ""

    def _work(self) -> NoReturn:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.setpgid(0, 0)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the reload handler is in
            signal.pthread_sigmask(signal.SIG_SETMASK, self.mask)
            host, port = self.host, self.port
            try:
                server.run(self.settings, host, port, reuse_port=True, reload_from=self.reload_from)
                code = 0
            except OSError as exc:
                print(f"proxy: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
                code = CANNOT_LISTEN
            except BaseException:
                traceback.print_exc()
        finally:
            with contextlib.suppress(BaseException):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)  # never back into the parent's loop


def _delay(short_exits: int) -> float:
    return min(FIRST_DELAY * 2.0 ** min(max(short_exits - 1, 0), 16), MAX_DELAY)


def _exit_code(status: int) -> int:
    """The shell's convention: a death by signal N is 128 + N."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _fate(status: int) -> str:
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        try:
            return f"killed by {signal.Signals(signum).name}"
        except ValueError:
            return f"killed by signal {signum}"
    return f"exited with status {os.WEXITSTATUS(status)}"
