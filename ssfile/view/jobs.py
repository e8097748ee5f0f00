"""Whole-file work for the viewer, done away from the request threads.

Three jobs read the whole file: the summary (``ssfile info``'s), the timeline (message
counts per stream per time bin, from the vectorised ``to_numpy`` scan) and the integrity
check (``ssfile.verify``).  On a large file each takes seconds, so the server runs them
in a child process, ``python -m ssfile.view.jobs JOB FILE`` (a thread would hold the GIL
and slow every page request down; a plain subprocess needs no pickling and no
``__main__`` guard, unlike a multiprocessing pool), one at a time, and the page shows
"pending" until they are done.  When the file grows (live mode) a job
is run again, at most every ``REFRESH_S`` seconds.

The job functions return plain JSON-ready dicts: the child prints one JSON document.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait

import ssfile

from ..file.summary import summarise, to_json
from . import model

JOBS = ("summary", "timeline", "integrity")
REFRESH_S = 2.0
BINS = 300  # timeline resolution
TOP_STREAMS = 12  # streams drawn one by one; the rest are summed as "(other)"
PROBLEMS_SHOWN = 500


# ---- the jobs (run in the worker) -------------------------------------------------------------


def summary_job(path: str) -> dict[str, object]:
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        return to_json(path, summarise(f, size))


def integrity_job(path: str) -> dict[str, object]:
    out = ssfile.verify(path).to_json_dict()
    problems = out["problems"]
    assert isinstance(problems, list)
    out["problems_total"] = len(problems)
    out["problems"] = problems[:PROBLEMS_SHOWN]
    return out


def _columns(path: str):  # type: ignore[no-untyped-def]
    """(stream keys, stream code per message, timestamp ms per message): numpy arrays."""
    import numpy as np

    try:
        c = ssfile.to_numpy(path, payload=False, check_crc=False, tolerate_truncation=True)
        torn = c.torn_tail
        if torn is None or torn + c.header.beacon_interval >= os.path.getsize(path):
            return c.stream_keys, c.stream_codes.astype(np.int64), c.timestamp.astype(np.int64)
    except ssfile.FormatError:
        pass
    # damaged (an error, or a frame cut short long before the end): step over the damage
    keys: dict[str, int] = {}
    codes, stamps = [], []
    at = model.HEADER_END
    while True:
        part = model.scan_forward(path, at, budget=None)
        for m in part.messages:
            codes.append(keys.setdefault(m.stream_key, len(keys)))
            stamps.append(m.timestamp_ms)
        if part.at_end or part.cursor <= at:
            return list(keys), np.asarray(codes, np.int64), np.asarray(stamps, np.int64)
        at = part.cursor


def timeline_job(path: str, bins: int = BINS) -> dict[str, object]:
    """Message counts per stream in ``bins`` equal time bins between the first and last stamp."""
    import numpy as np

    keys, codes, stamps = _columns(path)
    if not len(stamps):
        return {"start_ms": None, "end_ms": None, "bins": bins, "streams": []}
    t0, t1 = int(stamps.min()), int(stamps.max()) + 1
    which = ((stamps - t0) * bins // (t1 - t0)).clip(0, bins - 1)
    grid = np.bincount(codes * bins + which, minlength=len(keys) * bins).reshape(len(keys), bins)
    totals = grid.sum(axis=1)
    order = sorted(range(len(keys)), key=lambda i: (-int(totals[i]), keys[i]))
    streams = [
        {"stream_key": keys[i], "total": int(totals[i]), "counts": grid[i].tolist()}
        for i in order[:TOP_STREAMS]
    ]
    rest = order[TOP_STREAMS:]
    if rest:
        other = grid[rest].sum(axis=0)
        streams.append(
            {
                "stream_key": None,
                "others": len(rest),
                "total": int(other.sum()),
                "counts": other.tolist(),
            }
        )
    return {"start_ms": t0, "end_ms": t1, "bins": bins, "streams": streams}


RUNNERS = {"summary": summary_job, "timeline": timeline_job, "integrity": integrity_job}


class _Children:
    """Runs a job in a child process; remembers the running ones so close() can stop them."""

    def __init__(self) -> None:
        self._running: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self.closed = False

    def __call__(self, name: str, path: str) -> dict[str, object]:
        with self._lock:
            if self.closed:
                raise RuntimeError("the viewer is stopping")
            child = subprocess.Popen(
                [sys.executable, "-m", __name__, name, path],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            self._running.add(child)
        try:
            out, err = child.communicate()
        finally:
            with self._lock:
                self._running.discard(child)
        if child.returncode != 0:
            lines = err.decode("utf-8", "replace").strip().splitlines()
            raise RuntimeError(
                lines[-1] if lines else f"the {name} job exited with {child.returncode}"
            )
        return json.loads(out)  # type: ignore[no-any-return]

    def stop(self) -> None:
        with self._lock:
            self.closed = True
            for child in self._running:
                child.kill()


def in_process(name: str, path: str) -> dict[str, object]:
    """Run a job in this process (tests; small files)."""
    return RUNNERS[name](path)


# ---- the board (in the server) ----------------------------------------------------------------


class _Slot:
    def __init__(self) -> None:
        self.future: Future[dict[str, object]] | None = None
        self.size = -1  # the file size the running or last job started at
        self.started = 0.0
        self.result: dict[str, object] | None = None
        self.result_size = -1
        self.error: str | None = None


class JobBoard:
    """Runs each job once, again when the file has grown, and reports its state."""

    def __init__(
        self, path: str, runner: Callable[[str, str], dict[str, object]] | None = None
    ) -> None:
        self.path = path
        self._runner = runner or _Children()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ssfile-view-job")
        self._slots = {name: _Slot() for name in JOBS}
        self._lock = threading.Lock()

    def start(self) -> None:
        for name in JOBS:
            self.status(name)

    def status(self, name: str) -> dict[str, object]:
        """``{"state": "pending"|"ready"|"error", "result": ..., "size": ...}``; starts or
        restarts the job when needed."""
        size = model.file_size(self.path)
        with self._lock:
            slot = self._slots[name]
            self._collect(slot)
            running = slot.future is not None
            stale = slot.result_size != size and slot.size != size
            if not running and stale and time.monotonic() - slot.started >= REFRESH_S:
                slot.size, slot.started = size, time.monotonic()
                slot.future = self._executor.submit(self._runner, name, self.path)
            state = "ready" if slot.result is not None else "error" if slot.error else "pending"
            return {
                "state": state,
                "result": slot.result,
                "size": slot.result_size,
                "error": slot.error,
                "refreshing": slot.future is not None,
            }

    @staticmethod
    def _collect(slot: _Slot) -> None:
        fut = slot.future
        if fut is None or not fut.done():
            return
        slot.future = None
        try:
            slot.result, slot.result_size, slot.error = fut.result(), slot.size, None
        except Exception as err:  # noqa: BLE001 - reported to the page, the server goes on
            slot.error = f"{type(err).__name__}: {err}"
            slot.result_size = slot.size

    def wait(self, timeout: float = 60.0) -> None:
        """Block until no job is running (tests)."""
        running = [s.future for s in self._slots.values() if s.future is not None]
        futures_wait(running, timeout=timeout)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if isinstance(self._runner, _Children):
            self._runner.stop()


def main(argv: list[str]) -> int:
    """``python -m ssfile.view.jobs JOB FILE``: print the job's result as JSON."""
    name, path = argv
    json.dump(RUNNERS[name](path), sys.stdout, ensure_ascii=False, separators=(",", ":"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
