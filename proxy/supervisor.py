"""``serve --workers N``: N processes on one SO_REUSEPORT port, and the signals they get.

The kernel spreads connections over the workers. SIGTERM, SIGINT and SIGHUP
(reload) sent to the parent go to every worker once. Workers sit in their own
process group, so a terminal's Ctrl-C reaches them only through the parent.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback

from proxy import server
from proxy.config import Settings


def run(settings: Settings, host: str, port: int, workers: int, reload_from: str | None) -> int:
    """Fork ``workers`` servers and wait for them; the exit status is the first failing one's."""
    forwarded = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    # Blocked while forking: a signal now would kill the parent before it can forward.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, forwarded)
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.setpgid(0, 0)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the reload handler is in
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
            code = 0
            try:
                server.run(settings, host, port, reuse_port=True, reload_from=reload_from)
            except OSError as exc:
                print(f"proxy: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
                code = 2
            except BaseException:
                traceback.print_exc()
                code = 1
            os._exit(code)
        children.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM if signum == signal.SIGINT else signum)

    for signum in forwarded:
        signal.signal(signum, forward)
    signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    worst = 0
    while children:
        pid, status = os.waitpid(-1, 0)
        if pid in children:
            children.remove(pid)  # never signalled again: the pid may be reused
            code = os.waitstatus_to_exitcode(status)
            worst = worst or code
    return worst
