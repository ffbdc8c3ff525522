"""Graceful shutdown. On SIGTERM or SIGINT a server process:

1. answers /readyz with 503 at once, so that a load balancer polling it stops sending requests;
2. keeps serving, listener open, for the drain delay (`SWR_SHUTDOWN_DRAIN`, 0 by default: a
   load balancer needs about its probe interval times its failure threshold); a second signal
   ends the delay early;
3. then stops as uvicorn does: closes the listener (new connections are refused), lets the
   requests in flight finish within `SWR_SHUTDOWN_GRACE` seconds (cancelling what is left),
   runs the app's shutdown and exits with status 0.

With `--workers N` the supervisor passes the signal on to every worker, each of which does the
same, and exits 0 once they all have.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess

from swr_official_images.settings import Settings

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Drain:
    """Marks the process as draining when it is told to stop, and passes the signal on to the
    server's own handler (which stops it) `delay` seconds later."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.draining = False
        self._stopping = False
        self._previous: dict[int, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @contextlib.contextmanager
    def on_signals(self) -> Iterator[None]:
        """While the app runs, in front of the handlers its server installed (uvicorn installs
        them before it starts the app). Only the main thread may handle signals: an app served
        from another thread (as in tests) stops when its server is told to."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self._loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._on_signal)
        try:
            yield
        finally:
            for signum, previous in self._previous.items():
                if signal.getsignal(signum) == self._on_signal:
                    signal.signal(signum, previous)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self.draining:
            self.draining = True
            if self.delay > 0 and self._loop is not None:
                log.info(
                    "%s: not ready any more; stopping in %g s",
                    signal.Signals(signum).name,
                    self.delay,
                )
                # Signal handlers run between two bytecodes of the main thread: hand the timer
                # to the event loop the thread-safe way.
                self._loop.call_soon_threadsafe(
                    self._loop.call_later, self.delay, self._stop_after_delay, signum
                )
                return
        self._stop(signum, frame)

    def _stop_after_delay(self, signum: int) -> None:
        if not self._stopping:  # a second signal may have stopped it already
            self._stop(signum, None)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)
        elif previous is not None:
            signal.signal(signum, previous)
            signal.raise_signal(signum)


class _Supervisor(Multiprocess):
    def terminate_all(self) -> None:
        # The workers close their copies of the listening socket when they stop accepting; the
        # supervisor's own copy would keep the port open, and the kernel would go on accepting
        # connections into a backlog that no process serves any more.
        for sock in self.sockets:
            sock.close()
        super().terminate_all()


@contextlib.contextmanager
def _sigterm_as_sigint() -> Iterator[None]:
    # uvicorn raises the signal that stopped it once more after its orderly shutdown, so that
    # the process dies of it. SIGINT then ends as a KeyboardInterrupt, which uvicorn catches;
    # SIGTERM would kill the process (status 143). Both are orderly stops: status 0.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_server(app: Any, settings: Settings, **options: Any) -> None:
    """Serve `app` (for several workers, an import string of an app factory) with uvicorn,
    stopping gracefully on SIGTERM and SIGINT."""
    options["timeout_graceful_shutdown"] = settings.shutdown_grace
    with _sigterm_as_sigint():
        if settings.workers > 1:
            config = uvicorn.Config(app, workers=settings.workers, **options)
            _Supervisor(config, sockets=[config.bind_socket()]).run()
        else:
            uvicorn.run(app, **options)
