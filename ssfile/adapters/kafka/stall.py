"""A consumer that librdkafka cannot move: its errors shown, and after a deadline raised.

librdkafka retries what fails (a broker that is down, a fetch response larger than
``receive.message.max.bytes``) for ever, reporting it only through ``error_cb``, its log
lines and error events in ``consume``.  A :class:`StallWatch` per consumer client hears all
three; the fetcher (fetch.py) asks it, after each fetch that brought no message and no end
of partition, whether to go on (spec/streamer.md, Kafka, "Faults"):

* A *stall* begins with the first problem (an error, a log line at warning or worse) after
  the last fetch that brought something, and ends at the next fetch that brings something,
  or when no problem came for ``GAP`` seconds (librdkafka got over it: a broker that came
  back, on a quiet topic).
* A fetch that brings nothing during a stall logs one warning line on ``ssfile.kafka`` (at
  most one per ``stall_timeout``).
* A stall that lasts ``stall_timeout`` seconds ends in a look at the broker (``behind``,
  given by the consumer: the high watermarks of its partitions, in the client's thread):
  a broker that does not answer, or that holds messages past the consumer's positions,
  raises ``BackendError`` naming the broker and librdkafka's error; a broker that answers
  with nothing to fetch (a quiet topic, librdkafka got over it) ends the stall.  A
  consumer that merely waits on a quiet topic has no stall, and never raises.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ...errors import BackendError
from .mapping import backend_error, one_line

log = logging.getLogger("ssfile.kafka")

#: seconds without a problem that end a stall: longer than librdkafka's quietest retry
#: cadence measured (a broker down: "brokers are down" every 10 s; an oversized fetch
#: response: refused about every second)
GAP = 15.0


class LibrdkafkaLog:
    """The ``logger`` of a librdkafka client: each line goes to ``ssfile.kafka`` marked
    ``record.librdkafka = True`` (the CLI shows our own warnings, not librdkafka's lines);
    lines at warning or worse also go to ``on_problem``."""

    __slots__ = ("on_problem",)

    def __init__(self, on_problem: Callable[[str], None] | None = None) -> None:
        self.on_problem = on_problem

    def log(self, level: int, msg: str, *args: Any) -> None:
        log.log(level, msg, *args, extra={"librdkafka": True})
        if level >= logging.WARNING and self.on_problem is not None:
            self.on_problem(msg % args if args else msg)


class StallWatch:
    def __init__(
        self,
        where: str,
        stall_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.where = where
        self.stall_timeout = stall_timeout
        self.clock = clock
        #: when the stall began (None: no stall); read by the fetcher after every fetch
        self.since: float | None = None
        self.last = 0.0  # when the latest problem came
        self.error = ""  # librdkafka's text of it
        self._warned = -float("inf")
        #: in the client's thread: True if the broker holds messages past the consumer's
        #: positions (raises BackendError if it does not answer); None: assume so
        self.behind: Callable[[], bool] | None = None

    def problem(self, text: str, main: bool = True) -> None:
        """librdkafka reported a problem; ``main``: an error (its text is the one to show),
        else a log line (its text only if there is none yet)."""
        now = self.clock()
        if self.since is None or now - self.last > GAP:
            self.since = now
            self.error = ""
        self.last = now
        if main or not self.error:
            self.error = text

    def on_error(self, err: Any) -> None:
        """``error_cb``: a KafkaError.  "N/M brokers are down" alone says less than the
        error that precedes it: it does not replace it."""
        text = err.str() if hasattr(err, "str") else str(err)
        self.problem(text, main=not text.endswith("brokers are down"))

    def on_log(self, text: str) -> None:
        self.problem(text, main=False)

    def nothing_fetched(self) -> None:
        """A fetch brought no message and no end of partition during a stall: warn, or
        raise once the stall has lasted ``stall_timeout``."""
        assert self.since is not None
        now = self.clock()
        if now - self.last > GAP:
            self.since = None  # librdkafka got over it
            return
        if now - self.since >= self.stall_timeout:
            try:
                stuck = self.behind is None or self.behind()
            except BackendError as err:  # the broker does not answer
                text = str(err).removeprefix(f"kafka://{self.where}: ")
                raise self.failure(f"; then {text}") from None
            if stuck:
                raise self.failure()
            self.since = None  # the broker answers, nothing to fetch: only idle
            return
        if now - self._warned >= self.stall_timeout:
            self._warned = now
            log.warning(
                "kafka://%s: consumer: %s (librdkafka retries; the consumer fails if it gets "
                "no message for %gs)",
                self.where,
                one_line(self.error),
                self.stall_timeout,
            )

    def failure(self, then: str = "") -> BackendError:
        return backend_error(
            self.where,
            self.error + then,
            f"consumer: no message for {self.stall_timeout:g}s while librdkafka reports",
        )
