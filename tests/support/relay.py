"""A TCP relay between the proxy and a real backend, for injecting faults.

It forwards bytes unchanged (the backend still speaks its real protocol) and
lets a test count live backend connections, cut them all, or stall replies.
"""

from __future__ import annotations

import asyncio
import contextlib


class TcpRelay:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.accepted = 0
        self.bytes_down = 0  # bytes the backend sent back, all connections together
        self.stall_replies = False  # hold every byte the backend sends back
        self.refuse = False  # abort new connections at once
        self.rate: float | None = None  # bytes per second back from the backend, per connection
        self._server: asyncio.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._link_bytes: dict[asyncio.StreamWriter, int] = {}  # client side -> bytes sent back
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def open_connections(self) -> int:
        return len(self._links)

    async def start(self) -> TcpRelay:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def stop_backend(self) -> None:
        """As if the backend died: live connections are cut and new ones refused."""
        self.refuse = True
        self.cut()

    def cut(self) -> None:
        """Abort every live connection on both sides, as a dropped network would."""
        for client_w, backend_w in list(self._links):
            for w in (client_w, backend_w):
                w.transport.abort()
        self._links.clear()

    async def wait_no_stream_open(self, timeout: float, threshold: int = 256 * 1024) -> bool:
        """True once no open connection has carried more than ``threshold`` bytes back.

        Pooled keep-alive connections that carried only metadata may stay open; the one
        that carried a body must be gone.
        """
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if all(self._link_bytes.get(c, 0) <= threshold for c, _ in self._links):
                return True
            await asyncio.sleep(0.02)
        return False

    async def wait_quiet(self, quiet: float, timeout: float) -> bool:
        """True once no byte came back from the backend for ``quiet`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last, since = self.bytes_down, loop.time()
        while loop.time() < deadline:
            await asyncio.sleep(0.02)
            if self.bytes_down != last:
                last, since = self.bytes_down, loop.time()
            elif loop.time() - since >= quiet:
                return True
        return False

    async def wait_closed_all(self, timeout: float) -> bool:
        """True once no backend connection is open; bounded by ``timeout`` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._links and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        return not self._links

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.refuse:
            client_w.transport.abort()
            return
        try:
            backend_r, backend_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.transport.abort()
            return
        link = (client_w, backend_w)
        self._links.add(link)
        self._link_bytes[client_w] = 0
        up = self._spawn(self._pump(client_r, backend_w, downstream=False))
        down = self._spawn(self._pump(backend_r, client_w, downstream=True))
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for w in link:
            w.transport.abort()
        self._links.discard(link)
        self._link_bytes.pop(client_w, None)

    def _spawn(self, coro: object) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _pump(
        self, r: asyncio.StreamReader, w: asyncio.StreamWriter, *, downstream: bool
    ) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while True:
                data = await r.read(65536)
                if not data:
                    return
                if downstream:
                    while self.stall_replies:
                        await asyncio.sleep(0.01)
                    if self.rate:
                        await asyncio.sleep(len(data) / self.rate)
                    self.bytes_down += len(data)
                    self._link_bytes[w] = self._link_bytes.get(w, 0) + len(data)
                w.write(data)
                await w.drain()
