"""A socket's readability on the event loop, registered once for the life of a connection.

psycopg registers a connection's socket with the loop before every wait and removes it after.
On uvloop each registration makes a new poll handle, which checks the descriptor (adding it to
epoll and removing it again) before adding it for real, and each removal closes the handle:
several system calls and a new handle per query, for a socket that the next query waits on
again. `SocketWatch` keeps one registration and hands each readiness to whoever waits at that
moment.

The registration is on a duplicate of the descriptor, owned here. The driver may close its own
at any moment (a connection found broken, a wait abandoned), and uvloop keeps a registration
whose descriptor was closed: the next socket given that number and registered with the loop
(the next connection) is then never reported readable, its wait hanging until its deadline.
The duplicate stays open, so its registration stays valid, until `close`.
"""

from __future__ import annotations

import asyncio
import os


class SocketWatch:
    """Wakes one waiter at a time when a socket is readable.

    The loop's readiness is level-triggered: a socket readable with nobody waiting (the server
    closing an idle connection, a notice) would call back at every turn of the loop, so the
    registration is then removed, and made again by the next wait. A wait that times out
    removes it as well (see `readable`): a wait on a reset connection then ends within one
    timeout.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self.loop = loop
        self._fd: int | None = os.dup(fd)
        self._registered = False
        self._waiter: asyncio.Future[bool] | None = None

    async def readable(self, timeout: float) -> bool:
        """True once the socket is readable, False after `timeout` seconds without it."""
        if self._fd is None:
            raise OSError("the socket watch is closed")
        waiter: asyncio.Future[bool] = self.loop.create_future()
        self._waiter = waiter
        if not self._registered:
            self.loop.add_reader(self._fd, self._on_readable)
            self._registered = True
        timer = self.loop.call_later(timeout, _settle, waiter, False)
        try:
            readable = await waiter
        finally:
            timer.cancel()
            self._waiter = None
        if not readable:
            # Registered again at the next wait: on an error of the socket (a connection
            # reset) libuv stops the poll handle and uvloop closes it, silently, and the socket
            # would then never be reported again, however readable.
            self._unregister()
        return readable

    def _on_readable(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            self._unregister()
        else:
            waiter.set_result(True)

    def _unregister(self) -> None:
        if self._registered and self._fd is not None:
            self.loop.remove_reader(self._fd)
        self._registered = False

    def close(self) -> None:
        """Removes the registration and closes the duplicate; idempotent. On the loop's thread."""
        if self._fd is None:
            return
        self._unregister()
        os.close(self._fd)
        self._fd = None


def _settle(waiter: asyncio.Future[bool], value: bool) -> None:
    if not waiter.done():
        waiter.set_result(value)
