"""Where to start reading for a seek: bisection over beacons.  Pure: no I/O here.

Targets
-------
* :class:`TimeTarget` ``T``: the first message, in file order, with ``timestamp >= T``
  (upstream's file seek uses ``> T``; we use ``>=`` so that "from 14:03:07" includes a
  message stamped exactly 14:03:07, as Kafka's offsetsForTimes does).
* :class:`SequenceTarget` ``(key, shard, N)``: the first message of that (stream, shard)
  with ``sequence >= N`` (same as upstream).

A target splits frames into *right* ones (they satisfy it) and the others.  The answer is
the first right frame in file order.  :func:`find_start` returns a beacon index ``k`` such
that **no right frame starts before** ``k*I`` (``k = 0``: the start of the data); reading
from beacon ``k`` (dropping the rest of the frame it cuts) and stopping at the first right
frame then gives exactly what a linear scan from the start gives.

Why markers can prove "right" but rarely "left"
-----------------------------------------------
A marker in beacon ``k`` for (s, h) carries running maxima of sequence and timestamp of
(s, h) over the frames its writer session wrote before the beacon, the frame the beacon
cuts included (the state is updated before a frame's bytes go out; a frame ending exactly
on ``k*I`` is followed at once by beacon ``k``).  So every marker value is the value *of
some frame of (s, h) that starts before* ``k*I``.  Call beacon ``k``

* RIGHT if a marker proves a right frame before ``k*I``:
  time: any marker (of any stream) has ``ts >= T`` -- that stream's frame is right;
  sequence: the marker of (key, shard) has ``seq >= N``.
  This needs nothing but "marker values are values of earlier frames", which holds for
  every file (also appended ones: a restarted session only forgets, never invents).
* LEFT if it proves that no right frame starts before ``k*I``:
  sequence: the marker of (key, shard) has ``seq < N`` -- the maximum is below N;
  time: every marker has ``ts < T`` **and** the beacon lists every stream written so far,
  which we know only when it holds fewer markers than the interval allows
  (``0 < len(markers) < num_markers(I)``: the writer lists ``min(streams, num_markers)``
  streams).  A beacon listing exactly ``num_markers`` streams may be a rotating subset
  (a stream not listed may have a later timestamp), and an empty beacon is also what an
  append point on a boundary gets, so neither decides.
  LEFT relies on the markers covering every earlier frame: true for a file written in one
  session (upstream or ssfile) and for files appended by ssfile (it resumes the maxima).
  Upstream's append restarts them; there LEFT stays exact as long as a later session's
  messages are not older (time) / numbered lower (sequence, per stream) than the earlier
  sessions' -- which a producer's numbering and a forward-running clock give.
* UNDECIDED otherwise (the stream is not listed; rotation; no markers at all).

Both verdicts are monotone in ``k`` (a right frame before ``k*I`` is before every later
beacon; a bound on all frames before ``k*I`` bounds the frames before earlier beacons), so
with ``lo`` = the largest LEFT index found (0 needs no proof) and ``hi`` = the smallest RIGHT
index (``B + 1`` stands for the end) the search halves ``(lo, hi)`` at each decided probe.
An UNDECIDED probe is followed by its neighbours, outward, until one decides; a run of
undecided beacons too long to be worth reading ends the search and the caller scans from
``lo``.  A wrong RIGHT could only cost time (the scan after ``lo`` runs until the first
right frame, not until ``hi``); only LEFT must be sound, and it is, under the condition
above.  Cost: about ``log2(B)`` beacon reads when markers decide, then a scan of about one
interval; if markers never decide, a scan from the start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..format.records import Beacon
from ..types import Message

LEFT, RIGHT, UNDECIDED = -1, 1, 0

#: undecided beacons read in a row before giving up and scanning
MAX_UNDECIDED_RUN = 64


class BeaconSource(Protocol):
    """What the search needs: how many beacons exist and beacon ``k`` (1-based)."""

    def beacon_count(self) -> int: ...

    def beacon(self, index: int) -> Beacon: ...


@dataclass(frozen=True, slots=True)
class TimeTarget:
    """The first message with ``timestamp_ms >= ms``."""

    ms: int
    num_markers: int  # num_markers(beacon_interval): what a complete beacon lists fewer of

    def matches(self, msg: Message) -> bool:
        return msg.timestamp_ms >= self.ms

    def classify(self, beacon: Beacon) -> int:
        markers = beacon.markers
        for m in markers:
            if m.header.timestamp_ms >= self.ms:
                return RIGHT
        if 0 < len(markers) < self.num_markers:
            return LEFT
        return UNDECIDED


@dataclass(frozen=True, slots=True)
class SequenceTarget:
    """The first message of (``stream_key``, ``shard_id``) with ``sequence >= sequence``."""

    stream_key: str
    shard_id: int
    sequence: int

    def matches(self, msg: Message) -> bool:
        return (
            msg.sequence >= self.sequence
            and msg.stream_key == self.stream_key
            and msg.shard_id == self.shard_id
        )

    def classify(self, beacon: Beacon) -> int:
        for m in beacon.markers:
            h = m.header
            if h.stream_key == self.stream_key and h.shard_id == self.shard_id:
                return RIGHT if h.sequence >= self.sequence else LEFT
        return UNDECIDED


class Target(Protocol):
    def matches(self, msg: Message) -> bool: ...

    def classify(self, beacon: Beacon) -> int: ...


def _outward(mid: int, lo: int, hi: int):  # type: ignore[no-untyped-def]
    """mid, mid+1, mid-1, mid+2, ... restricted to the open interval (lo, hi)."""
    yield mid
    for d in range(1, hi - lo):
        up, down = mid + d, mid - d
        if up >= hi and down <= lo:
            return
        if up < hi:
            yield up
        if down > lo:
            yield down


def find_start(
    source: BeaconSource, target: Target, *, max_undecided_run: int = MAX_UNDECIDED_RUN
) -> int:
    """Index of the beacon to start reading from (0 = just after the header).

    Guarantee (see the module docstring): no frame satisfying ``target`` starts before
    ``index * I``, provided LEFT verdicts are sound for this file.
    """
    lo, hi = 0, source.beacon_count() + 1
    verdicts: dict[int, int] = {}
    while hi - lo > 1:
        mid = (lo + hi) // 2
        decided = None
        run = 0
        for k in _outward(mid, lo, hi):
            verdict = verdicts.get(k)
            if verdict is None:
                verdict = verdicts[k] = target.classify(source.beacon(k))
                run += 1
            if verdict != UNDECIDED:
                decided = k
                break
            if run >= max_undecided_run:
                break
        if decided is None:
            break
        if verdicts[decided] == LEFT:
            lo = decided
        else:
            hi = decided
    return lo


__all__ = [
    "BeaconSource",
    "LEFT",
    "RIGHT",
    "SequenceTarget",
    "TimeTarget",
    "UNDECIDED",
    "find_start",
]
