"""One server process: listen, serve, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os

from aiohttp import web

from proxy.app import create_app
from proxy.config import Settings
from proxy.telemetry import AccessLogger


def run(
    settings: Settings, host: str, port: int, *, reuse_port: bool, reload_from: str | None
) -> None:
    try:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        loop = asyncio.new_event_loop()
    server = settings.server
    access: dict[str, object] = (
        {"access_log_class": AccessLogger} if server.access_log else {"access_log": None}
    )
    web.run_app(
        create_app(settings, reload_from=reload_from),
        host=host,
        port=port,
        reuse_port=reuse_port,
        loop=loop,
        shutdown_timeout=server.shutdown_grace,
        keepalive_timeout=server.keepalive_timeout,
        max_line_size=server.max_header_bytes,
        max_field_size=server.max_header_bytes,
        print=lambda _: logging.getLogger("proxy").info(
            "listening on http://%s:%d (pid %d)", host, port, os.getpid()
        ),
        **access,  # type: ignore[arg-type]
    )
