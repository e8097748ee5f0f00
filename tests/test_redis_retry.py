"""The one Redis retry policy (ssfile/adapters/redis/retry.py): exponential backoff with
jitter up to a deadline, used by the sync dump source and the asyncio streamer alike."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from ssfile.adapters.redis import connection, group, source
from ssfile.adapters.redis.retry import Backoff
from ssfile.errors import BackendError


def test_delays_double_up_to_the_cap_within_their_jitter_band():
    b = Backoff(retry_for=100.0, now=0.0, first=0.1, cap=1.0, rand=lambda: 1.0)
    assert [b.delay(0.0) for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    low = Backoff(retry_for=100.0, now=0.0, first=0.1, cap=1.0, rand=lambda: 0.0)
    assert [low.delay(0.0) for _ in range(5)] == [0.05, 0.1, 0.2, 0.4, 0.5]


def test_jitter_spreads_clients_that_failed_together():
    delays = {round(Backoff(60.0, 0.0).delay(0.0), 6) for _ in range(50)}
    assert len(delays) > 10 and all(0.025 <= d <= 0.05 for d in delays)


def test_the_deadline_ends_the_retries_and_cuts_the_last_delay():
    b = Backoff(retry_for=1.0, now=10.0, first=0.4, cap=5.0, rand=lambda: 1.0)
    assert b.delay(10.0) == 0.4
    assert b.delay(10.5) == pytest.approx(0.5)  # 0.8 would pass the deadline at 11.0
    assert b.delay(11.0) is None
    assert Backoff(retry_for=0.0, now=3.0).delay(3.0) is None  # retry=False: no retry at all
    assert Backoff(1e9, 0.0, rand=lambda: 1.0).delay(0.0) is not None
    many = Backoff(1e9, 0.0, rand=lambda: 1.0)
    delays = [many.delay(0.0) for _ in range(2000)]  # no overflow however long it goes on
    assert delays[-1] == 2.0 == max(delays)


def test_no_fixed_sleep_is_left_in_the_redis_backend():
    """Both the sync source and the async streamer wait only through the policy."""
    for module in (connection, group, source):
        assert "sleep(0.2)" not in inspect.getsource(module), module
    assert "Backoff(" in inspect.getsource(source) and "Backoff(" in inspect.getsource(connection)


class _Down:
    """A client whose every command fails with a transient error, counting attempts."""

    def __init__(self, error):
        self.error = error
        self.calls = 0

    async def execute_command(self, *args):
        self.calls += 1
        raise self.error


def test_the_streamer_gives_up_at_the_deadline_after_backing_off(monkeypatch):
    import redis

    waits: list[float] = []

    async def no_sleep(delay):
        waits.append(delay)
        clock[0] += delay

    clock = [0.0]
    opts = connection.RedisOptions(retry_for=3.0)
    conn = connection.RedisConnection(_Down(redis.exceptions.ConnectionError("down")), "h:1", opts)
    monkeypatch.setattr(connection.asyncio, "sleep", no_sleep)

    async def main():
        loop = asyncio.get_running_loop()
        monkeypatch.setattr(loop, "time", lambda: clock[0])
        with pytest.raises(BackendError, match="redis://h:1: PING: down"):
            await conn.call("PING")

    asyncio.run(main())
    assert sum(waits) == pytest.approx(3.0)  # waited exactly until the deadline
    assert all(b >= a * 0.99 or b == waits[-1] for a, b in zip(waits, waits[1:]))
    assert len(waits) == conn.client.calls - 1 and len(waits) >= 5


def test_a_permission_error_is_not_retried():
    import redis

    down = _Down(redis.exceptions.NoPermissionError("no permissions"))
    conn = connection.RedisConnection(down, "h:1", connection.RedisOptions(retry_for=600.0))
    with pytest.raises(BackendError, match="TYPE k: permission denied for user 'default'"):
        asyncio.run(conn.call("TYPE", "k"))
    assert down.calls == 1
