"""Keeps the page's overview (:class:`~ssfile.view.tally.Tally`) up to date, away from the
request threads when the work is large.

The first read of a file, and any catch-up of more than ``INLINE_BYTES``, runs in a child
process, ``python -m ssfile.view.jobs tally FILE``: a thread would hold the GIL and slow
every page request down; a plain subprocess needs no ``__main__`` guard.  The child
receives the tally so far (pickled, on stdin), advances it to the end of the file and sends
it back (pickled, on stdout); the child is our own program, so its pickle is trusted.
Smaller growth (a live file's last second) is read in the server itself, at most every
``MIN_REFRESH_S``: the cost is proportional to the new bytes, never a rescan.

Every request sees one snapshot (a JSON-ready dict built once per advance), so the
summary, the stream table, the integrity panel and the timeline always agree.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait

from .tally import Tally

JOBS = ("tally",)
INLINE_BYTES = 8 << 20  # growth read in the server itself; more goes to a child process
MIN_REFRESH_S = 0.25  # at most this often does a request trigger a read of new bytes

Runner = Callable[..., object]


# ---- the job (run in the worker) --------------------------------------------------------------


def tally_job(path: str, state: Tally | None = None) -> Tally:
    """Advance ``state`` (or a fresh tally) to the end of the file as it is now."""
    t = state if state is not None else Tally(os.fspath(path))
    t.check_file()
    t.advance()
    return t


RUNNERS = {"tally": tally_job}


class _Children:
    """Runs a job in a child process; remembers the running ones so close() can stop them."""

    def __init__(self) -> None:
        self._running: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self.closed = False

    def __call__(self, name: str, path: str, state: Tally | None = None) -> Tally:
        with self._lock:
            if self.closed:
                raise RuntimeError("the viewer is stopping")
            child = subprocess.Popen(
                [sys.executable, "-m", __name__, name, path],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            self._running.add(child)
        try:
            out, err = child.communicate(b"" if state is None else pickle.dumps(state))
        finally:
            with self._lock:
                self._running.discard(child)
        if child.returncode != 0:
            lines = err.decode("utf-8", "replace").strip().splitlines()
            raise RuntimeError(
                lines[-1] if lines else f"the {name} job exited with {child.returncode}"
            )
        got = pickle.loads(out)  # noqa: S301 - our own child's output
        assert isinstance(got, Tally)
        return got

    def stop(self) -> None:
        with self._lock:
            self.closed = True
            for child in self._running:
                child.kill()


def in_process(name: str, path: str, state: Tally | None = None) -> Tally:
    """Run a job in this process (tests; small files)."""
    return RUNNERS[name](path, state)


# ---- the board (in the server) ----------------------------------------------------------------


class JobBoard:
    """Owns the tally: starts it, keeps it current, reports one snapshot to every request."""

    def __init__(self, path: str, runner: Runner | None = None) -> None:
        self.path = path
        self._runner = runner or _Children()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ssfile-view-job")
        self._lock = threading.Lock()
        self._tally: Tally | None = None
        self._future: Future[object] | None = None
        self._snapshot: dict[str, object] | None = None
        self._error: str | None = None
        self._checked = 0.0
        self._keep: Tally | None = None  # the tally a child is advancing (if it fails)

    def start(self) -> None:
        self.status()

    def status(self, name: str = "tally") -> dict[str, object]:
        """``{"state": "pending"|"ready"|"error", "result": snapshot, "refreshing": bool,
        "behind": bytes not read yet}``; reads new bytes (or starts a child) when needed."""
        with self._lock:
            self._collect()
            behind = self._refresh()
            state = "ready" if self._snapshot is not None else "error" if self._error else "pending"
            return {
                "state": state,
                "result": self._snapshot,
                "error": self._error,
                "refreshing": self._future is not None,
                "behind": behind,
            }

    def peek(self) -> dict[str, object] | None:
        """The current snapshot, without looking at the file (message pages use it)."""
        with self._lock:
            self._collect()
            return self._snapshot

    def _refresh(self) -> int:
        """Start or continue the tally; the bytes still to read."""
        if self._future is not None:
            return -1
        t = self._tally
        if t is None:
            if self._error is None:
                self._future = self._executor.submit(self._runner, "tally", self.path)
            return -1
        now = time.monotonic()
        if now - self._checked < MIN_REFRESH_S:
            return 0
        self._checked = now
        try:
            st = t.check_file()
        except OSError as err:
            self._error = f"cannot read the file: {err.strerror or err}"
            return 0
        if not t.changed(st):
            return 0
        behind = t.behind(st)
        if behind > INLINE_BYTES or t.diag is None and st.st_size > INLINE_BYTES:
            self._tally = None  # the child owns it until it comes back
            self._future = self._executor.submit(self._runner, "tally", self.path, t)
            self._keep = t
            return behind
        t.advance()
        self._snapshot = t.to_json_dict()
        return 0

    def _collect(self) -> None:
        fut = self._future
        if fut is None or not fut.done():
            return
        self._future = None
        try:
            got = fut.result()
        except Exception as err:  # noqa: BLE001 - reported to the page, the server goes on
            self._error = f"{type(err).__name__}: {err}"
            self._tally = self._keep
            return
        assert isinstance(got, Tally)
        self._tally, self._error = got, None
        self._snapshot = got.to_json_dict()

    def wait(self, timeout: float = 60.0) -> None:
        """Block until no child is running (tests)."""
        fut = self._future
        if fut is not None:
            futures_wait([fut], timeout=timeout)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if isinstance(self._runner, _Children):
            self._runner.stop()


def main(argv: list[str]) -> int:
    """``python -m ssfile.view.jobs tally FILE``: read a pickled tally (or nothing) on stdin,
    write the advanced tally, pickled, on stdout."""
    name, path = argv
    data = sys.stdin.buffer.read()
    state = pickle.loads(data) if data else None  # noqa: S301 - from our own server
    sys.stdout.buffer.write(pickle.dumps(RUNNERS[name](path, state)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
