from hypothesis import given
from hypothesis import strategies as st

from ssfile.streamer.groups import choose, rebalance


@given(st.integers(1, 9), st.integers(0, 10**6), st.integers(1, 500))
def test_round_robin_is_even(k, start, n):
    members = list(range(k))
    counts = [0] * k
    for seq in range(start, start + n):
        counts[choose(members, seq)] += 1
    assert max(counts) - min(counts) <= 1
    assert sum(counts) == n


def test_upstream_example():
    # chip/dale get even/odd sequences; after donald joins, seq mod 3
    assert [choose(["chip", "dale"], s) for s in range(4)] == ["chip", "dale", "chip", "dale"]
    assert [choose(["chip", "dale", "donald"], s) for s in (100, 101, 102)] == [
        "dale",
        "donald",
        "chip",
    ]


def test_rebalance_keeps_everything_in_order():
    pending = [(s, f"m{s}") for s in range(10)]
    out = rebalance(pending, ["a", "b", "c"])
    flat = sorted(p for lst in out.values() for p in lst)
    assert flat == pending
    for lst in out.values():
        assert lst == sorted(lst)
