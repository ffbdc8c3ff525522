"""The event loop the server runs on: uvloop's, taking every connection that waits to be
accepted at once.

libuv, under uvloop, accepts one new connection each time the listening socket is ready and
leaves the next one to the next turn of the event loop. A turn runs everything that is ready,
every request in flight included, so on a busy worker it lasts milliseconds, and connections
that arrive together wait a turn each: the last of a burst waits for as many turns as came
before it, before its first request is even read. Here, each time libuv hands the server a
connection, the connections queued behind it are accepted too and given to the same protocol
factory, so a burst is in within a turn or two.

With several workers on one listening socket, a worker takes at most `MAX_EXTRA_ACCEPTS` more
per connection libuv gives it, so that a flood is not swallowed by whichever worker looked first
while others that share the socket could serve part of it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any, cast

import uvloop

log = logging.getLogger(__name__)

# At most this many more connections are accepted for each one libuv accepts.
MAX_EXTRA_ACCEPTS = 64

ProtocolFactory = Callable[[], asyncio.BaseProtocol]


class BurstAcceptingLoop(uvloop.Loop):
    async def create_server(
        self, protocol_factory: ProtocolFactory, *args: Any, **kwargs: Any
    ) -> asyncio.Server:
        listening: list[int] = []

        def factory() -> asyncio.BaseProtocol:
            # libuv is handing over one connection of a listening socket that is ready.
            protocol = protocol_factory()
            for descriptor in listening:
                self._accept_waiting(descriptor, protocol_factory)
            return protocol

        # uvloop's server, which lists its listening sockets as asyncio's does.
        server = cast(asyncio.Server, await super().create_server(factory, *args, **kwargs))
        listening.extend(sock.fileno() for sock in server.sockets)
        return server

    def _accept_waiting(self, descriptor: int, protocol_factory: ProtocolFactory) -> None:
        # libuv's own listening socket, borrowed for these calls: it is open while libuv hands
        # out one of its connections, and it stays libuv's to close.
        listener = socket.socket(fileno=descriptor)
        try:
            for _ in range(MAX_EXTRA_ACCEPTS):
                try:
                    connection, _address = listener.accept()
                except (BlockingIOError, InterruptedError):
                    return  # none left
                except OSError as error:
                    # Out of descriptors, or a connection reset while queued: libuv meets the
                    # same at its next accept and reports it.
                    log.debug("accepting a waiting connection failed: %s", error)
                    return
                self.create_task(self._adopt(connection, protocol_factory))
        finally:
            listener.detach()

    async def _adopt(self, connection: socket.socket, protocol_factory: ProtocolFactory) -> None:
        try:
            await self.connect_accepted_socket(protocol_factory, connection)
        except OSError as error:
            # Closed by its client before it could be set up.
            log.debug("a waiting connection could not be set up: %s", error)
            connection.close()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The server's event loop (uvicorn's `loop` option names this function)."""
    return BurstAcceptingLoop()
