"""The one retry policy of the Redis backend, shared by ``ssfile dump`` (sync client) and the
streamer (asyncio): exponential backoff with jitter, bounded by a deadline.

A failed operation is retried only when its error is transient (:func:`.client.
transient_errors`: a lost connection, a timeout, a server loading, a cluster failover); any
other error (a refused password or key, a wrong type) fails at once.  Delays start at
``first`` seconds and double up to ``cap``, each drawn uniformly from its upper half ("equal
jitter": clients that failed together do not retry in lockstep); the last one is cut to end at
the deadline, ``retry_for`` seconds after the first failure, when the error is raised.
Between attempts on a Redis Cluster the caller re-seeds its view of the cluster (the sync
source asks a live node for the slot map again; the streamer replaces its client by one seeded
with every node known so far).  redis-py's own retries are switched off (``Retry(NoBackoff(),
0)``) so that this is the only one.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

FIRST_DELAY = 0.05
MAX_DELAY = 2.0


@dataclass
class Backoff:
    """The delays of one failing operation (make one at its first failure)."""

    retry_for: float
    now: float  # the clock at the first failure
    first: float = FIRST_DELAY
    cap: float = MAX_DELAY
    rand: Callable[[], float] = field(default=random.random, repr=False)
    attempts: int = 0

    @property
    def deadline(self) -> float:
        return self.now + self.retry_for

    def delay(self, now: float) -> float | None:
        """Seconds to wait before the next attempt, or None: the deadline has passed, give up."""
        if now >= self.deadline:
            return None
        base = min(self.cap, self.first * 2.0 ** min(self.attempts, 60))
        self.attempts += 1
        return min(base / 2 + self.rand() * base / 2, self.deadline - now)
