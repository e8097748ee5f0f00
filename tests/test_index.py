"""The pure bisection (ssfile.file.index) over fake beacon sources, and the verdict rules."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from ssfile.file.index import LEFT, RIGHT, UNDECIDED, SequenceTarget, TimeTarget, find_start
from ssfile.format.records import Beacon, Marker, MessageHeader


class FakeSource:
    """Beacon k is just k; a FakeTarget maps it to a verdict.  Counts reads."""

    def __init__(self, verdicts: list[int]) -> None:
        self.verdicts = verdicts  # verdicts[k-1] for beacon k
        self.reads: list[int] = []

    def beacon_count(self) -> int:
        return len(self.verdicts)

    def beacon(self, index: int):  # type: ignore[no-untyped-def]
        assert 1 <= index <= len(self.verdicts), index
        self.reads.append(index)
        return index


class FakeTarget:
    def __init__(self, source: FakeSource) -> None:
        self.source = source

    def classify(self, beacon) -> int:  # type: ignore[no-untyped-def]
        return self.source.verdicts[beacon - 1]

    def matches(self, msg) -> bool:  # type: ignore[no-untyped-def]
        raise AssertionError("not used")


@st.composite
def verdict_lists(draw, max_beacons: int = 300):
    """Monotone truths (LEFT... then RIGHT...) with some beacons hidden as UNDECIDED."""
    n = draw(st.integers(0, max_beacons))
    split = draw(st.integers(0, n))
    hide = draw(st.floats(0, 1))
    hidden = draw(st.lists(st.floats(0, 1), min_size=n, max_size=n))
    truth = [LEFT] * split + [RIGHT] * (n - split)
    return [UNDECIDED if h < hide else v for v, h in zip(truth, hidden)], split


@given(verdict_lists())
@settings(max_examples=300, deadline=None)
def test_start_is_the_last_provable_left(case):
    verdicts, split = case
    source = FakeSource(verdicts)
    start = find_start(source, FakeTarget(source), max_undecided_run=10**9)
    # never past a beacon that has a right frame before it (soundness) ...
    assert start <= split
    # ... and as far as the verdicts allow: the largest LEFT beacon (or 0)
    lefts = [k for k, v in enumerate(verdicts, 1) if v == LEFT]
    assert start == (lefts[-1] if lefts else 0)
    assert len(source.reads) == len(set(source.reads)), "a beacon was read twice"


@given(st.integers(0, 5000), st.data())
@settings(max_examples=200, deadline=None)
def test_decided_beacons_cost_log2_reads(n, data):
    split = data.draw(st.integers(0, n))
    source = FakeSource([LEFT] * split + [RIGHT] * (n - split))
    assert find_start(source, FakeTarget(source)) == split
    assert len(source.reads) <= math.ceil(math.log2(n + 1)) + 1


def test_an_undecided_run_longer_than_the_cap_ends_the_search():
    source = FakeSource([LEFT] + [UNDECIDED] * 100 + [RIGHT])
    start = find_start(source, FakeTarget(source), max_undecided_run=8)
    assert start == 0  # gave up: the caller scans from the start, which is still correct
    assert len(source.reads) <= 8


def _beacon(*markers: tuple[str, int, int, int]) -> Beacon:
    return Beacon(1024, 1, 0, tuple(Marker(MessageHeader(*m), 0) for m in markers))


def test_time_verdicts():
    t = TimeTarget(100, num_markers=3)
    assert t.classify(_beacon(("a", 0, 5, 100))) == RIGHT  # a frame at >= T exists
    assert t.classify(_beacon(("a", 0, 5, 99), ("b", 0, 1, 50))) == LEFT  # complete, all < T
    # as many markers as allowed: perhaps a rotating subset, so a stream may be missing
    assert t.classify(_beacon(("a", 0, 1, 1), ("b", 0, 1, 1), ("c", 0, 1, 1))) == UNDECIDED
    # any stream's marker proves "right", even in a rotating subset
    assert t.classify(_beacon(("a", 0, 1, 1), ("b", 0, 1, 1), ("c", 0, 1, 100))) == RIGHT
    assert t.classify(_beacon()) == UNDECIDED  # append point / I < 640
    assert TimeTarget(100, num_markers=1).classify(_beacon(("a", 0, 1, 1))) == UNDECIDED


def test_sequence_verdicts():
    t = SequenceTarget("a", 1, 10)
    assert t.classify(_beacon(("a", 1, 10, 0))) == RIGHT
    assert t.classify(_beacon(("a", 1, 9, 0))) == LEFT
    assert t.classify(_beacon(("a", 0, 50, 0), ("b", 1, 50, 0))) == UNDECIDED  # other shard/key
    assert t.classify(_beacon()) == UNDECIDED
