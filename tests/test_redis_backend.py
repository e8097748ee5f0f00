"""The redis:// streamer backend against real servers (scripts/services starts them).

Expected headers are computed from redis-py's own replies (entry id ``MS-SEQ`` ->
sequence ``MS * 65536 + SEQ``, timestamp ``MS``), never from the code under test.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import subprocess
import sys
import uuid
from typing import Any

import pytest

import ssfile
from ssfile.errors import BackendError, EncodeError, StreamError, UsageError
from ssfile.streamer import ConsumerMode, ConsumerOptions, StreamEnded, connect

ROOT = pathlib.Path(__file__).resolve().parent.parent
EARLIEST = ConsumerOptions(auto_stream_reset="earliest", follow=False)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


def url(addr: tuple[str, int], key: str = "") -> str:
    return f"redis://{addr[0]}:{addr[1]}/{key}"


def header_of(entry_id: bytes) -> tuple[int, int]:
    ms, seq = (int(x) for x in entry_id.split(b"-"))
    return ms * 65536 + seq, ms


def entries(client: Any, redis_key: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    return client.xrange(redis_key)


async def drain(consumer: Any) -> list[Any]:
    return [m async for m in consumer]


# ---- producer ------------------------------------------------------------------------------


def test_producer_receipts_are_the_stored_entries(redis_addr, redis_client, redis_key):
    async def main():
        s = await connect(url(redis_addr))
        p = await s.create_producer(redis_key)
        receipts = [p.send(b"p%d" % i) for i in range(2500)]
        await p.flush()
        heads = [r.result() for r in receipts]
        await s.disconnect()
        return heads

    heads = run(main())
    stored = entries(redis_client, redis_key)
    assert [f for _, f in stored] == [{b"msg": b"p%d" % i} for i in range(2500)]
    assert [(h.sequence, h.timestamp_ms) for h in heads] == [header_of(i) for i, _ in stored]
    assert all(h.stream_key == redis_key and h.shard_id == 0 for h in heads)


def test_shards_are_key_colon_n(redis_addr, redis_client, redis_key):
    async def main():
        s = await connect(url(redis_addr))
        for shard in (1, 2):
            p = await s.create_producer(redis_key, shard_id=shard)
            for i in range(5):
                p.send(b"s%d-%d" % (shard, i))
            await p.end()
        zero = await s.create_producer(redis_key)  # K:N exist, so shard 0 is K:0
        assert (await zero.send(b"zero")).shard_id == 0
        c = await s.create_consumer([redis_key], EARLIEST)
        got = await drain(c)
        only2 = await drain(
            await s.create_consumer(
                [redis_key],
                ConsumerOptions(auto_stream_reset="earliest", follow=False, shards=(2,)),
            )
        )
        await s.disconnect()
        return got, only2

    got, only2 = run(main())
    assert not redis_client.exists(redis_key)
    for shard in (1, 2):
        assert [f[b"msg"] for _, f in entries(redis_client, f"{redis_key}:{shard}")] == [
            b"s%d-%d" % (shard, i) for i in range(5)
        ]
    assert [f[b"msg"] for _, f in entries(redis_client, f"{redis_key}:0")] == [b"zero"]
    by_shard = {n: [m.payload for m in got if m.shard_id == n] for n in (0, 1, 2)}
    assert by_shard == {
        0: [b"zero"],
        1: [b"s1-%d" % i for i in range(5)],
        2: [b"s2-%d" % i for i in range(5)],
    }
    assert [m.payload for m in only2] == [b"s2-%d" % i for i in range(5)]


def test_sharded_producer_refused_on_a_plain_stream(redis_addr, redis_client, redis_key):
    redis_client.xadd(redis_key, {"msg": b"x"})

    async def main():
        s = await connect(url(redis_addr))
        with pytest.raises(StreamError, match="unsharded"):
            await s.create_producer(redis_key, shard_id=3)
        await s.disconnect()

    run(main())


def test_producer_misuse(redis_addr, redis_key):
    async def main():
        s = await connect(url(redis_addr))
        p = await s.create_producer(redis_key)
        with pytest.raises(EncodeError, match="bytes"):
            p.send("text")
        with pytest.raises(EncodeError, match="shard"):
            await s.create_producer(redis_key, shard_id=-1)
        await p.end()
        with pytest.raises(StreamError, match="ended"):
            p.send(b"late")
        await s.disconnect()

    run(main())


def test_write_to_a_key_that_became_no_stream_fails_the_receipts(
    redis_addr, redis_client, redis_key
):
    async def main():
        s = await connect(url(redis_addr))
        p = await s.create_producer(redis_key)
        redis_client.set(redis_key, b"not a stream")
        r = p.send(b"x")
        with pytest.raises(BackendError, match=f"XADD {redis_key}.*WRONGTYPE"):
            await p.flush()
        with pytest.raises(BackendError, match="WRONGTYPE"):
            await r
        await s.disconnect()

    run(main())


# ---- RealTime consumers --------------------------------------------------------------------


def test_ids_map_to_sequence_and_timestamp(redis_addr, redis_client, redis_key):
    ids = ["1000-0", "1000-1", "1000-65535", "2000-7", str((1 << 48) - 1) + "-0"]
    for i, entry_id in enumerate(ids):
        redis_client.xadd(redis_key, {"msg": b"%d" % i}, id=entry_id)

    async def main():
        s = await connect(url(redis_addr))
        got = await drain(await s.create_consumer([redis_key], EARLIEST))
        await s.disconnect()
        return got

    got = run(main())
    assert [(m.sequence, m.timestamp_ms) for m in got] == [header_of(i.encode()) for i in ids]


def test_unmappable_id_is_a_clear_error(redis_addr, redis_client, redis_key):
    redis_client.xadd(redis_key, {"msg": b"x"}, id="5-70000")

    async def main():
        s = await connect(url(redis_addr))
        c = await s.create_consumer([redis_key], EARLIEST)
        with pytest.raises(BackendError, match=f"{redis_key}.*65535"):
            await c.next()
        await s.disconnect()

    run(main())


def test_field_rule_auto_keeps_entries_without_msg(redis_addr, redis_client, redis_key):
    redis_client.xadd(redis_key, {"msg": b"plain"})
    redis_client.xadd(redis_key, {"a": b"1", "b": b"2"})

    async def main():
        out = []
        for rule in ("auto", "msg"):
            s = await connect(url(redis_addr), field_rule=rule)
            out.append(
                [m.payload for m in await drain(await s.create_consumer([redis_key], EARLIEST))]
            )
            await s.disconnect()
        return out

    auto, msg_only = run(main())
    assert auto[0] == b"plain" and json.loads(auto[1]) == {"a": "1", "b": "2"} and len(auto) == 2
    assert msg_only == [b"plain"]


def test_latest_and_follow(redis_addr, redis_key):
    async def main():
        s = await connect(url(redis_addr), block_ms=100)
        p = await s.create_producer(redis_key)
        await p.send(b"old")
        c = await s.create_consumer([redis_key], ConsumerOptions(auto_stream_reset="latest"))
        pending = asyncio.ensure_future(c.next())
        await asyncio.sleep(0.25)  # the consumer is blocked in XREAD meanwhile
        await p.send(b"new")
        first = await pending
        await s.disconnect()
        return first

    assert run(main()).payload == b"new"


def test_follow_false_ends_at_the_entries_that_existed(redis_addr, redis_client, redis_key):
    for i in range(10):
        redis_client.xadd(redis_key, {"msg": b"%d" % i})

    async def main():
        s = await connect(url(redis_addr), read_batch=3)
        c = await s.create_consumer([redis_key], EARLIEST)
        first = await c.next()
        for i in range(10, 15):  # added after the consumer started: not part of its stream
            redis_client.xadd(redis_key, {"msg": b"%d" % i})
        rest = await drain(c)
        with pytest.raises(StreamEnded):
            await c.next()
        await s.disconnect()
        return [first] + rest

    assert [m.payload for m in run(main())] == [b"%d" % i for i in range(10)]


def test_seek_and_rewind(redis_addr, redis_client, redis_key):
    ids = ["1000-0", "1000-1", "1999-3", "2000-0", "2000-1", "3000-0"]
    for entry_id in ids:
        redis_client.xadd(redis_key, {"msg": entry_id.encode()}, id=entry_id)

    async def after(op, arg):
        s = await connect(url(redis_addr))
        c = await s.create_consumer([redis_key], EARLIEST)
        await c.next()
        await getattr(c, op)(arg)
        got = [m.payload.decode() for m in await drain(c)]
        await s.disconnect()
        return got

    async def main():
        return {
            "seek 2000": await after("seek", 2000),  # ts >= 2000 (upstream: > 2000)
            "seek 1001": await after("seek", 1001),
            "seek 0": await after("seek", 0),
            "seq 2000-1": await after("rewind", header_of(b"2000-1")[0]),
            "seq 1000-2": await after("rewind", header_of(b"1000-2")[0]),
            "beginning": await after("rewind", "beginning"),
            "end": await after("rewind", "end"),
        }

    got = run(main())
    assert got["seek 2000"] == [i for i in ids if int(i.split("-")[0]) >= 2000]
    assert got["seek 1001"] == got["seq 1000-2"] == ids[2:]
    assert got["seek 0"] == got["beginning"] == ids
    assert got["seq 2000-1"] == ids[4:]
    assert got["end"] == []


# ---- groups --------------------------------------------------------------------------------


def lb(**kw: Any) -> ConsumerOptions:
    kw.setdefault("follow", False)
    return ConsumerOptions(
        mode=ConsumerMode.LOAD_BALANCED, group="g", auto_stream_reset="earliest", **kw
    )


def fill(client: Any, redis_key: str, n: int) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.xadd(redis_key, {"msg": b"%d" % i})
    pipe.execute()


def test_groups_in_two_streamers_share_and_ack(redis_addr, redis_client, redis_key):
    fill(redis_client, redis_key, 500)

    async def main():
        s1, s2 = (
            await connect(url(redis_addr), group_batch=20),
            await connect(url(redis_addr), group_batch=20),
        )
        a, b = (
            await s1.create_consumer([redis_key], lb()),
            await s2.create_consumer([redis_key], lb()),
        )
        got: list[list[bytes]] = [[], []]
        live = {0, 1}
        while live:
            for i in sorted(live):
                try:
                    got[i].extend(m.payload for m in await (a, b)[i].next_batch(15))
                except StreamEnded:
                    live.discard(i)
        await s1.disconnect()
        await s2.disconnect()
        return got

    got = run(main())
    assert got[0] and got[1]
    assert sorted(got[0] + got[1]) == sorted(b"%d" % i for i in range(500))
    assert redis_client.xpending(redis_key, "g")["pending"] == 0  # everything acknowledged


def test_failover_claims_what_a_dead_member_left_pending(redis_addr, redis_client, redis_key):
    fill(redis_client, redis_key, 100)

    async def main():
        dead = await connect(url(redis_addr), group_batch=10)
        d = await dead.create_consumer([redis_key], lb(auto_commit=False))
        taken = await d.next()  # its reader fetched 10; one delivered, none acknowledged
        await dead.client.aclose()  # the member dies: no close, no ack
        heir = await connect(url(redis_addr), claim_idle_ms=0)
        got = await drain(await heir.create_consumer([redis_key], lb()))
        await heir.disconnect()
        return taken, got

    taken, got = run(main())
    assert taken.payload == b"0"
    assert sorted(m.payload for m in got) == sorted(b"%d" % i for i in range(100))
    assert redis_client.xpending(redis_key, "g")["pending"] == 0


def test_resumable_resumes_after_what_was_committed(redis_addr, redis_client, redis_key):
    fill(redis_client, redis_key, 50)
    resumable = ConsumerOptions(
        mode=ConsumerMode.RESUMABLE,
        group="r",
        auto_stream_reset="earliest",
        follow=False,
        auto_commit=False,
    )

    async def session(n, commit_after):
        s = await connect(url(redis_addr), group_batch=7)
        c = await s.create_consumer([redis_key], resumable)
        got = []
        for i in range(n):
            got.append((await c.next()).payload)
            if i + 1 == commit_after:
                await c.commit()
        await s.disconnect()
        return got

    async def main():
        first = await session(10, commit_after=6)  # 6..9 delivered, not committed
        second = await session(44, commit_after=44)  # gets 6..9 again, then the rest
        s = await connect(url(redis_addr))
        c = await s.create_consumer([redis_key], resumable)
        with pytest.raises(StreamEnded):
            await c.next()
        await s.disconnect()
        return first, second

    first, second = run(main())
    assert first == [b"%d" % i for i in range(10)]
    assert second == [b"%d" % i for i in range(6, 50)]


def test_auto_commit_resumable_and_group_rewind(redis_addr, redis_client, redis_key):
    fill(redis_client, redis_key, 30)
    opts = ConsumerOptions(
        mode=ConsumerMode.RESUMABLE, group="r", auto_stream_reset="earliest", follow=False
    )

    async def main():
        s = await connect(url(redis_addr), ack_interval=0.01)
        c = await s.create_consumer([redis_key], opts)
        first = [(await c.next()).payload for _ in range(12)]
        await s.disconnect()
        s = await connect(url(redis_addr))
        c = await s.create_consumer([redis_key], opts)
        rest = [m.payload for m in await drain(c)]
        await c.rewind("beginning")  # moves the group (XGROUP SETID)
        again = [m.payload for m in await drain(c)]
        await s.disconnect()
        return first, rest, again

    first, rest, again = run(main())
    # asking for the next message acknowledged the previous one; the 12th was never
    # acknowledged (no next(), no commit()), so the restart gets it again: at-least-once
    assert first + rest == [b"%d" % i for i in range(12)] + [b"%d" % i for i in range(11, 30)]
    assert again == [b"%d" % i for i in range(30)]


def test_group_seek_refused_with_several_local_members(redis_addr, redis_client, redis_key):
    fill(redis_client, redis_key, 3)

    async def main():
        s = await connect(url(redis_addr))
        a = await s.create_consumer([redis_key], lb())
        await s.create_consumer([redis_key], lb())
        with pytest.raises(StreamError, match="whole consumer group"):
            await a.seek(0)
        await s.disconnect()

    run(main())


# ---- faults --------------------------------------------------------------------------------


def test_a_key_that_is_not_a_stream(redis_addr, redis_client, redis_key):
    redis_client.set(redis_key, b"text")

    async def main():
        s = await connect(url(redis_addr))
        for make in (
            lambda: s.create_consumer([redis_key], EARLIEST),
            lambda: s.create_producer(redis_key),
        ):
            with pytest.raises(
                BackendError, match=f"key '{redis_key}' is not a stream \\(it is a string\\)"
            ):
                await make()
        await s.disconnect()

    run(main())


def test_a_missing_stream_ends_or_waits(redis_addr, redis_key):
    async def main():
        s = await connect(url(redis_addr), block_ms=50)
        ended = await s.create_consumer([redis_key], EARLIEST)
        with pytest.raises(StreamEnded):
            await ended.next()
        waiting = await s.create_consumer(
            [redis_key], ConsumerOptions(auto_stream_reset="earliest")
        )
        pending = asyncio.ensure_future(waiting.next())
        await asyncio.sleep(0.15)
        p = await s.create_producer(redis_key)
        p.send(b"born")
        got = await pending
        await s.disconnect()
        return got

    assert run(main()).payload == b"born"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_wrong_port_and_bad_uris():
    port = free_port()

    async def main():
        with pytest.raises(BackendError, match=f"redis://127.0.0.1:{port}: cannot connect"):
            await connect(f"redis://127.0.0.1:{port}/", timeout=2)
        for bad, why in [
            ("redis://127.0.0.1:6390", "ending slash"),
            ("redis:///k", "no node"),
            ("redis://127.0.0.1:99999/k", "bad port"),
            ("redis://h/bad key", "invalid stream key"),
            ("redis://u:p@h:1/x/k", "expected a database number"),
        ]:
            with pytest.raises(UsageError, match=why):
                await connect(bad)
        with pytest.raises(UsageError, match="unexpected keyword"):
            await connect("redis://127.0.0.1:6390/", colour="red")

    run(main())


def test_cli_relay_reports_a_wrong_port_in_one_line(tmp_path):
    src = tmp_path / "in.ss"
    with ssfile.open(src, "w") as w:
        w.write(b"x", stream_key="k")
    port = free_port()
    for output, code, text in [
        (f"redis://127.0.0.1:{port}/k", 1, f"redis://127.0.0.1:{port}: cannot connect"),
        ("redis://127.0.0.1:0/k", 2, "bad port"),
    ]:
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "ssfile",
                "relay",
                "--input",
                f"file://{src}/k",
                "--output",
                output,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert r.returncode == code and text in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_server_restarted_mid_consume_loses_nothing(private_redis):
    client = private_redis.client()
    key = "restart"
    fill(client, key, 3000)

    async def main():
        s = await connect(f"redis://127.0.0.1:{private_redis.port}/", block_ms=100, read_batch=500)
        c = await s.create_consumer([key], ConsumerOptions(auto_stream_reset="earliest"))
        got = [m.payload for m in await c.next_batch(1000)]
        client.save()  # dump.rdb keeps the entries; then the server dies
        private_redis.kill()
        reading = asyncio.ensure_future(collect(c, got, 3005))
        await asyncio.sleep(0.3)  # the consumer retries against the dead server meanwhile
        await asyncio.to_thread(private_redis.start)
        fresh = private_redis.client()
        for i in range(3000, 3005):
            fresh.xadd(key, {"msg": b"%d" % i})
        await reading
        await s.disconnect()
        return got

    assert run(main()) == [b"%d" % i for i in range(3005)]


def test_group_survives_a_server_restart(private_redis):
    client = private_redis.client()
    key = "restart-g"
    fill(client, key, 400)

    async def main():
        s = await connect(f"redis://127.0.0.1:{private_redis.port}/", group_batch=50, block_ms=100)
        c = await s.create_consumer([key], lb(follow=True))
        got = [m.payload for m in await c.next_batch(30)]
        await s._groups[("g", (key,), ConsumerMode.LOAD_BALANCED)].flush_acks()
        client.save()
        private_redis.kill()
        reading = asyncio.ensure_future(collect(c, got, 400))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(private_redis.start)
        await reading
        await s.disconnect()
        return got

    got = run(main())
    assert got == [b"%d" % i for i in range(400)]


async def collect(consumer: Any, into: list[bytes], total: int) -> None:
    while len(into) < total:
        into.extend(m.payload for m in await consumer.next_batch())


# ---- replay: file -> redis -> dump ---------------------------------------------------------


def test_relay_into_redis_then_dump_reproduces_the_messages(
    tmp_path, redis_addr, redis_client, redis_key
):
    src, out = tmp_path / "src.ss", tmp_path / "dumped.ss"
    payloads = [b"", b"\x00\xffbinary", "ünïcode".encode()] + [
        json.dumps({"i": i}).encode() for i in range(997)
    ]
    with ssfile.open(src, "w") as w:
        for i, p in enumerate(payloads):
            w.write(p, stream_key="orders")
            if i % 10 == 0:
                w.write(b"other key", stream_key="noise")
    cli = [sys.executable, "-m", "ssfile"]
    relay = subprocess.run(
        cli + ["relay", "--input", f"file://{src}/orders", "--output", url(redis_addr, redis_key)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert relay.returncode == 0, relay.stderr
    stored = entries(redis_client, redis_key)
    assert [f for _, f in stored] == [{b"msg": p} for p in payloads]
    dump = subprocess.run(
        cli + ["dump", url(redis_addr, redis_key), "--output", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert dump.returncode == 0, dump.stderr
    with ssfile.open(out) as r:
        dumped = [(m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.payload) for m in r]
    assert dumped == [(redis_key, 0, *header_of(i), f[b"msg"]) for i, f in stored]
    assert [d[-1] for d in dumped] == payloads


def test_unique_key_prefix_keeps_streams_apart(redis_addr, redis_client):
    prefix = f"pfx-{uuid.uuid4().hex[:8]}."

    async def main():
        s = await connect(url(redis_addr), key_prefix=prefix)
        p = await s.create_producer("k")
        h = await p.send(b"v")
        got = await drain(await s.create_consumer(["k"], EARLIEST))
        await s.disconnect()
        return h, got

    try:
        h, got = run(main())
        assert h.stream_key == "k" and [m.payload for m in got] == [b"v"]
        assert [f for _, f in entries(redis_client, prefix + "k")] == [{b"msg": b"v"}]
    finally:
        redis_client.delete(prefix + "k")


def test_producer_fails_its_receipts_while_the_server_is_down_then_recovers(private_redis):
    async def main():
        # retry_for=0: no retries (issue 18: XADD batches are retried for retry_for, 30 s)
        s = await connect(f"redis://127.0.0.1:{private_redis.port}/", timeout=2, retry_for=0)
        p = await s.create_producer("k")
        await p.send(b"before")
        private_redis.kill()
        lost = p.send(b"lost")
        with pytest.raises(BackendError, match=f"redis://127.0.0.1:{private_redis.port}: XADD k: "):
            await p.flush()
        with pytest.raises(BackendError):
            await lost
        await asyncio.to_thread(private_redis.start)  # a fresh, empty server on the same port
        after = await p.send(b"after")
        await s.disconnect()
        return after

    assert run(main()).payload == b"after"
    assert [f for _, f in entries(private_redis.client(), "k")] == [{b"msg": b"after"}]


def test_relay_from_redis_with_a_start_time(tmp_path, redis_addr, redis_client, redis_key):
    ids = ["1000-0", "1999-9", "2000-0", "2000-1", "3000-0"]
    for entry_id in ids:
        redis_client.xadd(redis_key, {"msg": entry_id.encode()}, id=entry_id)
    out = tmp_path / "out.ss"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "ssfile",
            "relay",
            "--input",
            url(redis_addr, redis_key),
            "--output",
            f"file://{out}/copy",
            "--offset",
            "1970-01-01T00:00:02.000",
            "--no-follow",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    with ssfile.open(out) as f:
        assert [m.payload.decode() for m in f] == [i for i in ids if int(i.split("-")[0]) >= 2000]


# ---- Redis Cluster -------------------------------------------------------------------------


@pytest.fixture()
def cluster_key(cluster_client):
    """A fresh stream key whose shards 1..4 live on more than one master; deleted afterwards."""
    key = "c-" + uuid.uuid4().hex[:12]
    assert len({cluster_client.get_node_from_key(f"{key}:{n}").name for n in range(1, 5)}) > 1
    yield key
    for name in [key] + [f"{key}:{n}" for n in range(5)]:
        cluster_client.delete(name)


def test_cluster_produce_and_consume_across_nodes(cluster_addr, cluster_client, cluster_key):
    async def main():
        s = await connect(url(cluster_addr), produce_batch=300, read_batch=200)
        ps = [await s.create_producer(cluster_key, shard_id=n) for n in range(1, 5)]
        receipts = [[p.send(b"%d-%d" % (n, i)) for i in range(1000)] for n, p in enumerate(ps, 1)]
        for p in ps:
            await p.end()
        heads = [[await r for r in rs] for rs in receipts]
        got = await drain(await s.create_consumer([cluster_key], EARLIEST))
        only = await drain(
            await s.create_consumer(
                [cluster_key],
                ConsumerOptions(auto_stream_reset="earliest", follow=False, shards=[3]),
            )
        )
        await s.disconnect()
        return heads, got, only

    heads, got, only = run(main())
    for n, hs in enumerate(heads, 1):
        stored = entries(cluster_client, f"{cluster_key}:{n}")
        assert [f for _, f in stored] == [{b"msg": b"%d-%d" % (n, i)} for i in range(1000)]
        assert [(h.sequence, h.timestamp_ms, h.shard_id) for h in hs] == [
            (*header_of(i), n) for i, _ in stored
        ]
        mine = [m for m in got if m.shard_id == n]  # each shard in order, none lost or doubled
        assert [(m.sequence, m.payload) for m in mine] == [(h.sequence, h.payload) for h in hs]
    assert len(got) == 4000
    assert [m.payload for m in only] == [b"3-%d" % i for i in range(1000)]


def test_cluster_producer_follows_moved_replies(cluster_addr, cluster_client, cluster_key):
    """A stale slot map sends the batch to the wrong master: every XADD there is answered
    MOVED, stores nothing, and is resent to the right one (once each, in order)."""
    rkey = f"{cluster_key}:1"

    async def main():
        s = await connect(url(cluster_addr), produce_batch=50)
        p = await s.create_producer(cluster_key, shard_id=1)
        slots = s.client.nodes_manager.slots_cache
        slot = s.client.keyslot(rkey)
        wrong = next(n for n in s.client.get_primaries() if n.name != slots[slot][0].name)
        slots[slot] = [wrong]
        receipts = [p.send(b"m%d" % i) for i in range(120)]
        await p.flush()
        heads = [await r for r in receipts]
        await s.disconnect()
        return heads

    heads = run(main())
    stored = entries(cluster_client, rkey)
    assert [f for _, f in stored] == [{b"msg": b"m%d" % i} for i in range(120)]
    assert [h.sequence for h in heads] == [header_of(i)[0] for i, _ in stored]


def test_cluster_follow_gets_new_messages_from_every_node(cluster_addr, cluster_key):
    async def main():
        s = await connect(url(cluster_addr), block_ms=200)
        ps = [await s.create_producer(cluster_key, shard_id=n) for n in range(1, 5)]
        for p in ps:  # the shard streams exist before the consumer looks for them
            await p.send(b"early")
        c = await s.create_consumer([cluster_key], ConsumerOptions())  # latest, follow
        for n, p in enumerate(ps, 1):
            await p.send(b"late-%d" % n)
        got = [await c.next() for _ in range(4)]
        await s.disconnect()
        return got

    got = run(main())
    assert sorted((m.shard_id, m.payload) for m in got) == [
        (n, b"late-%d" % n) for n in range(1, 5)
    ]


def test_cluster_groups_share_ack_and_resume(cluster_addr, cluster_client, cluster_key):
    for n in range(1, 5):
        fill(cluster_client, f"{cluster_key}:{n}", 150)

    async def main():
        s1, s2 = (
            await connect(url(cluster_addr), group_batch=25),
            await connect(url(cluster_addr), group_batch=25),
        )
        a, b = (
            await s1.create_consumer([cluster_key], lb()),
            await s2.create_consumer([cluster_key], lb()),
        )
        got: list[list[Any]] = [[], []]
        live = {0, 1}
        while live:
            for i in sorted(live):
                try:
                    got[i].extend(await (a, b)[i].next_batch(20))
                except StreamEnded:
                    live.discard(i)
        await s1.disconnect()
        await s2.disconnect()
        resumable = ConsumerOptions(
            mode=ConsumerMode.RESUMABLE,
            group="r",
            auto_stream_reset="earliest",
            follow=False,
            auto_commit=False,
        )
        s3 = await connect(url(cluster_addr), group_batch=50)
        first = await (await s3.create_consumer([cluster_key], resumable)).next_batch(10)
        await s3.disconnect()  # nothing committed: a restart gets them again
        s4 = await connect(url(cluster_addr), group_batch=50)
        again = await drain(await s4.create_consumer([cluster_key], resumable))
        await s4.disconnect()
        return got, first, again

    got, first, again = run(main())
    want = sorted((n, b"%d" % i) for n in range(1, 5) for i in range(150))
    assert got[0] and got[1]
    assert sorted((m.shard_id, m.payload) for m in got[0] + got[1]) == want
    for n in range(1, 5):
        assert cluster_client.xpending(f"{cluster_key}:{n}", "g")["pending"] == 0
    assert sorted((m.shard_id, m.payload) for m in again) == want
    assert {(m.shard_id, m.sequence) for m in first} <= {(m.shard_id, m.sequence) for m in again}


def test_cluster_seek_and_rewind(cluster_addr, cluster_client, cluster_key):
    for n in range(1, 5):
        for ms in (1000, 2000, 3000):
            cluster_client.xadd(f"{cluster_key}:{n}", {"msg": b"%d@%d" % (n, ms)}, id=f"{ms}-{n}")

    async def main():
        s = await connect(url(cluster_addr))
        c = await s.create_consumer([cluster_key], EARLIEST)
        await c.seek(2000)
        after_seek = await drain(c)
        c = await s.create_consumer([cluster_key], EARLIEST)
        await c.rewind((3000 << 16) | 3)
        after_rewind = await drain(c)
        await s.disconnect()
        return after_seek, after_rewind

    after_seek, after_rewind = run(main())
    assert sorted(m.payload for m in after_seek) == sorted(
        b"%d@%d" % (n, ms) for n in range(1, 5) for ms in (2000, 3000)
    )
    assert sorted(m.payload for m in after_rewind) == [b"3@3000", b"4@3000"]


def test_cluster_connect_refuses_a_database_other_than_0(cluster_addr):
    async def main():
        with pytest.raises(
            BackendError, match="cannot connect: SELECT is not allowed in cluster mode"
        ):
            await connect(url(cluster_addr), db=1)

    run(main())


def test_cluster_master_failover_mid_consume_loses_nothing(
    cluster_addr, cluster_client, cluster_key
):
    import redis
    from servers import kill_cluster_node, restore_cluster

    rkey = f"{cluster_key}:1"
    master = cluster_client.get_node_from_key(rkey)
    direct = redis.Redis(host=master.host, port=master.port)
    fill(direct, rkey, 3000)
    assert direct.execute_command("WAIT", 1, 10_000) >= 1  # the replica has every entry
    direct.close()
    want = [f[b"msg"] for _, f in entries(cluster_client, rkey)]

    async def main():
        # the hardest case: the only node named in the URI is the master that dies
        s = await connect(url((master.host, master.port)), read_batch=500, retry_for=30)
        c = await s.create_consumer([cluster_key], EARLIEST)
        got = list(await c.next_batch(500))
        kill_cluster_node(master.port)
        got += await drain(c)
        await s.disconnect()
        return got

    try:
        got = run(main())
        assert [m.payload for m in got] == want  # nothing lost, nothing twice, in order
        fresh = redis.cluster.RedisCluster(
            host=cluster_addr[0],
            port=cluster_addr[1]
            if cluster_addr[1] != master.port
            else next(n.port for n in cluster_client.get_nodes() if n.port != master.port),
        )
        assert fresh.get_node_from_key(rkey).port != master.port  # a replica took over
        fresh.close()
    finally:
        restore_cluster()
