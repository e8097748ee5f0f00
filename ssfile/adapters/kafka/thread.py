"""One daemon thread that runs the blocking calls of one confluent-kafka client, in order.

Like a one-worker ``ThreadPoolExecutor``, except that the thread is a daemon: a call that
never returns (librdkafka's ``close`` can wait forever on a broker stuck in a rebalance)
cannot keep the process from exiting; the caller gives up after a timeout instead.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class ClientThread:
    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[
            tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()
        self._last: Future[Any] | None = None  # the call submitted last

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._calls.put((future, fn, args))
        self._last = future
        return future

    def idle(self) -> bool:
        """Every call submitted has returned (calls run in order: the last one has); a
        future is done only after its call returned, so the client is free.  Meaningful
        in the thread that submits: nothing can be submitted between this and its use."""
        last = self._last
        return last is None or last.done()

    def _serve(self) -> None:
        while True:
            item = self._calls.get()
            if item is None:
                return
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as err:
                future.set_exception(err)

    def stop(self) -> None:
        """End the thread after the calls already submitted."""
        self._calls.put(None)
