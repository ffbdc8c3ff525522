"""A connection's socket watched on the event loop with one registration for its life
(swr_official_images.store.socket_watch), on uvloop (the server's) and asyncio's own loop.

The loops count their registrations: they are real loops whose add_reader, remove_reader and
add_writer also add one to a counter."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import pytest
import uvloop

from swr_official_images.store.socket_watch import SocketWatch


class _Counting:
    adds = 0
    removes = 0
    writers = 0

    def add_writer(self, *args: Any) -> None:
        self.writers += 1
        super().add_writer(*args)  # type: ignore[misc]

    def add_reader(self, *args: Any) -> None:
        self.adds += 1
        super().add_reader(*args)  # type: ignore[misc]

    def remove_reader(self, *args: Any) -> Any:
        self.removes += 1
        return super().remove_reader(*args)  # type: ignore[misc]


class CountingUvloop(_Counting, uvloop.Loop):  # type: ignore[misc]
    pass


class CountingAsyncio(_Counting, asyncio.SelectorEventLoop):
    pass


LOOPS = {"uvloop": CountingUvloop, "asyncio": CountingAsyncio}


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    """Both ends of a loopback TCP connection (a database's is one)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        near = socket.create_connection(listener.getsockname())
        far, _ = listener.accept()
    near.setblocking(False)
    return near, far


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    near, far = tcp_pair()
    yield near, far
    near.close()
    far.close()


Main = Callable[[Any], Coroutine[Any, Any, None]]


@pytest.fixture(params=sorted(LOOPS))
def run(request) -> Callable[[Main], None]:
    """Runs `main(loop)` to completion on a new loop of the kind."""

    def runner(main: Main) -> None:
        loop = LOOPS[request.param]()
        try:
            loop.run_until_complete(main(loop))
        finally:
            loop.close()

    return runner


@pytest.fixture
def watched(run, pair) -> Callable[[Callable[[Any, SocketWatch], Awaitable[None]]], None]:
    """Runs `main(loop, watch)` with a watch of the near end, closed after."""
    near, _ = pair

    def runner(main: Callable[[Any, SocketWatch], Awaitable[None]]) -> None:
        async def with_watch(loop: Any) -> None:
            with contextlib.closing(SocketWatch(loop, near.fileno())) as watch:
                await main(loop, watch)

        run(with_watch)

    return runner


def test_a_wait_ends_when_the_socket_is_readable_or_when_it_times_out(watched, pair):
    near, far = pair

    async def main(loop: Any, watch: SocketWatch) -> None:
        started = time.monotonic()
        assert await watch.readable(0.05) is False
        assert time.monotonic() - started >= 0.04
        loop.call_later(0.02, far.send, b"answer")
        assert await watch.readable(5) is True
        assert near.recv(100) == b"answer"

    watched(main)


def test_one_registration_serves_every_wait(watched, pair):
    near, far = pair

    async def main(loop: Any, watch: SocketWatch) -> None:
        for number in range(20):
            loop.call_soon(far.send, b"%d;" % number)
            assert await watch.readable(5) is True
            assert near.recv(100) == b"%d;" % number
        assert (loop.adds, loop.removes) == (1, 0)
        watch.close()
        assert loop.removes == 1

    watched(main)


def test_a_socket_readable_while_nobody_waits_is_let_go_and_watched_again_at_the_next_wait(
    watched, pair
):
    near, far = pair

    async def main(loop: Any, watch: SocketWatch) -> None:
        loop.call_soon(far.send, b"first")
        assert await watch.readable(5) is True
        near.recv(100)
        # A notice, or the server closing an idle connection: read by nobody yet.
        far.send(b"unasked")
        for _ in range(50):
            await asyncio.sleep(0)
        # Let go at once rather than called back at every one of those turns.
        assert loop.removes == 1
        assert await watch.readable(5) is True
        assert near.recv(100) == b"unasked"
        assert loop.adds == 2

    watched(main)


def test_a_reset_connection_is_reported_within_one_timeout(watched, pair):
    """On uvloop a socket error stops the registration silently: the timeout renews it."""
    near, far = pair

    async def main(loop: Any, watch: SocketWatch) -> None:
        loop.call_soon(far.send, b"first")
        assert await watch.readable(5) is True
        near.recv(100)
        # Closed with a zero linger: the peer resets the connection.
        far.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        far.close()
        await asyncio.sleep(0.05)
        readiness = [await watch.readable(0.1), await watch.readable(0.1)]
        assert True in readiness
        with pytest.raises(ConnectionResetError):
            near.recv(100)

    watched(main)


def test_the_driver_closing_its_descriptor_leaves_the_loop_sound(run, pair):
    """The registration is on a duplicate: the number the driver closes can be reused by the
    next socket, and registered with the loop, which reports it (uvloop, left registered on the
    closed number, would never report the next socket that gets it)."""
    near, far = pair

    async def main(loop: Any) -> None:
        watch = SocketWatch(loop, near.fileno())
        duplicate = watch._fd
        assert duplicate is not None and duplicate != near.fileno()
        loop.call_soon(far.send, b"first")
        assert await watch.readable(5) is True
        number = near.fileno()
        near.close()
        # The lowest free number: the one just closed.
        reused = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        assert reused.fileno() == number
        with socket.create_server(("127.0.0.1", 0)) as listener:
            reused.connect(listener.getsockname())
            reused_far, _ = listener.accept()
        try:
            got: asyncio.Future[bytes] = loop.create_future()
            loop.add_reader(reused, lambda: got.done() or got.set_result(reused.recv(100)))
            reused_far.send(b"next socket")
            assert await asyncio.wait_for(got, 5) == b"next socket"
            loop.remove_reader(reused)
        finally:
            reused.close()
            reused_far.close()
        watch.close()
        watch.close()  # idempotent
        with pytest.raises(OSError):
            os.fstat(duplicate)
        with pytest.raises(OSError, match="closed"):
            await watch.readable(0.01)

    run(main)
