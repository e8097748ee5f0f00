"""``async for m in consumer``: the C iterator (``_speedups.BatchIter``) and its pure twin
(``ssfile.streamer.api.BatchIterator``) hand out the same messages in the same order, end
at StreamEnded, pass errors through, and lose nothing when an ``__anext__`` awaitable is
dropped or a refill is cancelled."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssfile.codec.accel import speedups
from ssfile.errors import BackendError
from ssfile.streamer import api
from ssfile.streamer.api import Consumer, StreamEnded

C_ITER = getattr(speedups, "BatchIter", None)
ITERATORS = [pytest.param(lambda c: api.BatchIterator(c._refill), id="pure")]
if C_ITER is not None:
    ITERATORS.append(pytest.param(lambda c: C_ITER(c._refill), id="C"))


class Batches(Consumer):
    """A consumer over given batches; then ``end`` (StreamEnded or another error)."""

    def __init__(self, batches, end=None, delay=0.0):
        self.batches = [list(b) for b in batches]
        self.end = end or StreamEnded("the end")
        self.delay = delay
        self.calls = 0

    async def next(self):
        raise NotImplementedError

    async def next_batch(self, max_messages=1000):
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if not self.batches:
            raise self.end
        return self.batches.pop(0)


async def drain(it):
    return [m async for m in _Wrap(it)]


class _Wrap:  # async for over an iterator object as given (not calling __aiter__ again)
    def __init__(self, it):
        self.it = it

    def __aiter__(self):
        return self.it


def test_the_accelerator_provides_the_iterator():
    if speedups is not None:
        assert type(Batches([]).__aiter__()) is speedups.BatchIter
    else:
        assert type(Batches([]).__aiter__()) is api.BatchIterator


@pytest.mark.parametrize("make", ITERATORS)
@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(), max_size=5), max_size=6))
def test_same_messages_in_order(make, batches):
    got = asyncio.run(drain(make(Batches(batches))))
    assert got == [m for b in batches for m in b]


@pytest.mark.parametrize("make", ITERATORS)
def test_errors_pass_through_after_the_messages(make):
    async def main():
        it = make(Batches([[1, 2], [3]], end=BackendError("broker gone")))
        got = []
        with pytest.raises(BackendError, match="broker gone"):
            async for m in _Wrap(it):
                got.append(m)
        return got

    assert asyncio.run(main()) == [1, 2, 3]


@pytest.mark.parametrize("make", ITERATORS)
def test_anext_builtin_and_default(make):
    async def main():
        it = make(Batches([[1], [2, 3]]))
        got = [await anext(it), await anext(it), await anext(it)]
        return got, await anext(it, "done")

    assert asyncio.run(main()) == ([1, 2, 3], "done")


@pytest.mark.parametrize("make", ITERATORS)
def test_a_refill_cancelled_by_a_timeout_loses_nothing(make):
    async def main():
        c = Batches([[1, 2], [3, 4]], delay=0.05)
        it = make(c)
        got = [await anext(it), await anext(it)]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(it), 0.01)  # cancelled inside next_batch
        c.delay = 0
        got += [m async for m in _Wrap(it)]
        return got

    # the cancelled next_batch had not taken its batch yet (it was sleeping)
    assert asyncio.run(main()) == [1, 2, 3, 4]


@pytest.mark.parametrize("make", ITERATORS)
@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
def test_an_awaitable_dropped_unawaited_skips_nothing(make):
    async def main():
        it = make(Batches([[1, 2, 3]]))
        first = await it.__anext__()
        it.__anext__()  # never awaited (a task cancelled before it ran)
        return [first] + [m async for m in _Wrap(it)]

    assert asyncio.run(main()) == [1, 2, 3]


@pytest.mark.skipif(C_ITER is None, reason="the C accelerator is not built")
def test_c_iterator_awaited_without_send_gives_the_value_in_stopiteration():
    async def main():
        it = C_ITER(Batches([[7, 8]])._refill)
        first = await it.__anext__()
        aw = it.__anext__()
        with pytest.raises(StopIteration) as stop:
            next(aw.__await__())
        return first, stop.value.value

    assert asyncio.run(main()) == (7, 8)
