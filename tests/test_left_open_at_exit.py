"""Programs that end without flushing their producers lose nothing without a word.

* The synchronous facade: at exit every streamer left connected is disconnected (producers
  flushed), as Python flushes the files a script leaves open; a failure to deliver is a
  RuntimeWarning.  Before, the messages still queued were lost silently (46 of 1,000).
* asyncio: a file producer's messages are in the file's writer, written out at exit (before:
  1,000 sent, 0 in the file), and so are the records librdkafka holds for a Kafka producer
  (before: 0 of 1,000 delivered); a Redis producer whose loop ended holding unacknowledged
  messages is a RuntimeWarning naming the producer and the count (before: 1,000 sent, 0
  stored, nothing said)."""

from __future__ import annotations

import subprocess
import sys
import uuid

from kafka_helpers import ssfile_cli

import ssfile

N = 20_000


def run_script(body: str) -> subprocess.CompletedProcess[str]:
    script = "import asyncio\nfrom ssfile.streamer import connect\n"
    script += "from ssfile.streamer.sync import connect_sync\n" + body
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )


def test_file_producer_left_connected(tmp_path):
    path = tmp_path / "left.ss"
    got = run_script(
        f"s = connect_sync('file://{path}')\n"
        "p = s.create_producer('clock')\n"
        f"for i in range({N}):\n"
        "    p.send(b'tick %d' % i)\n"
    )
    assert got.returncode == 0 and got.stderr == "", got.stderr
    with ssfile.open(path) as r:
        assert [m.payload for m in r] == [b"tick %d" % i for i in range(N)]


def test_redis_producer_left_connected(redis_addr, redis_client, redis_key):
    got = run_script(
        f"s = connect_sync('redis://{redis_addr[0]}:{redis_addr[1]}/')\n"
        f"p = s.create_producer({redis_key!r})\n"
        f"p.send_batch([b'm%d' % i for i in range({N})])\n"
    )
    assert got.returncode == 0 and got.stderr == "", got.stderr
    assert redis_client.xlen(redis_key) == N


def test_a_failure_at_exit_is_a_warning(redis_addr, redis_client, redis_key):
    """The producer's messages cannot be delivered (the key holds a string, not a stream):
    the script's exit says so."""
    got = run_script(
        "import redis\n"
        f"s = connect_sync('redis://{redis_addr[0]}:{redis_addr[1]}/')\n"
        f"p = s.create_producer({redis_key!r})\n"
        f"redis.Redis({redis_addr[0]!r}, {redis_addr[1]}).set({redis_key!r}, 'not a stream')\n"
        "p.send(b'lost')\n"
    )
    assert "RuntimeWarning" in got.stderr and "could not deliver" in got.stderr, got.stderr
    assert "WRONGTYPE" in got.stderr or "wrong kind" in got.stderr.lower(), got.stderr


def test_disconnect_twice_is_harmless(tmp_path):
    from ssfile.streamer.sync import connect_sync

    s = connect_sync(f"file://{tmp_path / 'twice.ss'}")
    p = s.create_producer(f"k{uuid.uuid4().hex[:6]}")
    p.send(b"one").result()
    s.disconnect()
    s.disconnect()
    with ssfile.open(tmp_path / "twice.ss") as r:
        assert [m.payload for m in r] == [b"one"]


def async_script(uri: str, key: str, flush: bool = False) -> str:
    return (
        "async def main():\n"
        f"    s = await connect({uri!r})\n"
        f"    p = await s.create_producer({key!r})\n"
        f"    for i in range({N}):\n"
        "        p.send(b'tick %d' % i)\n"
        + ("    await p.flush()\n" if flush else "")
        + "asyncio.run(main())\n"
    )


def test_asyncio_file_producer_never_flushed(tmp_path):
    path = tmp_path / "async.ss"
    got = run_script(async_script(f"file://{path}", "clock"))
    assert got.returncode == 0 and got.stderr == "", got.stderr
    with ssfile.open(path) as r:
        assert [m.payload for m in r] == [b"tick %d" % i for i in range(N)]


def test_asyncio_redis_producer_never_flushed_is_told(redis_addr, redis_client, redis_key):
    uri = f"redis://{redis_addr[0]}:{redis_addr[1]}/"
    got = run_script(async_script(uri, redis_key))
    stored = redis_client.xlen(redis_key)
    assert stored < N  # the loop ended before the pipeline ran: this is the case told
    want = f"redis://{redis_addr[0]}:{redis_addr[1]} producer of {redis_key!r}"  # was dropped,
    # or was never flushed: as the interpreter collects it before or at exit
    assert "RuntimeWarning" in got.stderr and want in got.stderr, got.stderr
    assert f"holding {N - stored} unacknowledged messages" in got.stderr, got.stderr
    redis_client.delete(redis_key)
    got = run_script(async_script(uri, redis_key, flush=True))  # flushed: all stored, silence
    assert got.stderr == "" and redis_client.xlen(redis_key) == N, got.stderr


def test_asyncio_kafka_producer_never_flushed_delivers_at_exit(kafka_bootstrap):
    """librdkafka still holds the records when the loop ends: the exit hook serves its
    delivery reports, so every record arrives and nothing is told."""
    topic = f"left-{uuid.uuid4().hex[:8]}"
    got = run_script(async_script(f"kafka://{kafka_bootstrap}/", topic))
    assert got.returncode == 0 and got.stderr == "", got.stderr
    relay = [f"kafka://{kafka_bootstrap}/{topic}", "--output", "stdio:///", "--no-follow"]
    out = ssfile_cli("relay", "--input", *relay, "--offset", "start")
    assert out.returncode == 0, out.stderr
    got_payloads = sorted(line.split("] ", 1)[1] for line in out.stdout.splitlines())
    assert got_payloads == sorted(f"tick {i}" for i in range(N))
