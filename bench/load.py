"""Load benchmark of ``ssfile relay`` across backends, bounded and unbounded (issue 18, item 6).

    .venv/bin/python bench/load.py                        # 10,000,000 x 100 B, every pair
    .venv/bin/python bench/load.py --messages 1000000     # a quick look
    .venv/bin/python bench/load.py --pairs file-redis,redis-file

Pairs: file -> Redis, Redis -> file, file -> Kafka, Kafka -> file.  Each relay runs twice,
interleaved, in a child process: with the producer bound as shipped (``ProducerOptions()``:
100,000 messages / 64 MiB unacknowledged; ``relay`` waits on ``drain``) and with the bound
lifted (both limits 10**15, so ``drain`` never waits: the relay reads as fast as it can and
the output buffers the rest).  Wall time, messages per second and the child's peak RSS
(``ru_maxrss`` from ``os.wait4``).  Every run checks that the output holds every message.

Redis: a private ``redis-server`` on a free port (emptied between runs).  Kafka: the broker
at ``$SSFILE_BENCH_KAFKA`` (default ``127.0.0.1:19092``, the noida-db that
``scripts/services`` starts), a new single-partition topic per run; Kafka -> file stops
after ``--count`` N messages (Tansu's high watermark is wrong, see the Kafka tests).
noida-db answers a fetch with the whole partition whatever the request's byte limits
(a 10,000,000-message topic came back as one 1.1 GB response, which librdkafka refuses,
retrying for ever): use Tansu (``--kafka 127.0.0.1:19093``) for large Kafka -> file runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from relay_memory import make_input, start_redis  # noqa: E402  # the same input and server

import ssfile  # noqa: E402

#: the child: `ssfile relay ...`, with the producer bound lifted when argv[1] == "unbounded"
CHILD = """
import sys
if sys.argv[1] == "unbounded":
    from ssfile.streamer import options
    options.ProducerOptions.__init__.__defaults__ = (10**15, 10**15)
from ssfile.cli import main
sys.exit(main(["relay", *sys.argv[2:]]))
"""


def relay(mode: str, inp: str, out: str, *extra: str) -> tuple[float, int]:
    """(seconds, peak RSS bytes) of one relay; exits if the relay failed."""
    args = [sys.executable, "-c", CHILD, mode, "--input", inp, "--output", out]
    if "--count" not in extra:
        args.append("--no-follow")
    t0 = time.perf_counter()
    proc = subprocess.Popen([*args, *extra], env={**os.environ, "PYTHONPATH": ROOT})
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"relay {inp} -> {out} ({mode}) exited {code}")
    return seconds, usage.ru_maxrss * 1024


def count_file(path: str) -> int:
    with ssfile.open(path) as r:
        return sum(1 for _ in r)


def kafka_topic(bootstrap: str) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"load-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
    return topic


def kafka_count(bootstrap: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "load-count"})
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return int(high - low)
    finally:
        c.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10_000_000)
    ap.add_argument("--pairs", default="file-redis,redis-file,file-kafka,kafka-file")
    ap.add_argument("--dir", default=None, help="where the files go (default: a temp dir)")
    ap.add_argument("--kafka", default=os.environ.get("SSFILE_BENCH_KAFKA", "127.0.0.1:19092"))
    args = ap.parse_args()
    import redis

    n = args.messages
    work = args.dir or tempfile.mkdtemp(prefix="relay-load-")
    os.makedirs(work, exist_ok=True)
    inp = os.path.join(work, f"in-{n}.ss")
    if not os.path.exists(inp):
        make_input(inp, n)
    server, port = start_redis(work)
    client = redis.Redis(port=port)
    pairs = args.pairs.split(",")
    print("## Relay under load, bounded and unbounded (issue 18; `bench/load.py`)")
    print()
    print(f"Command: `.venv/bin/python bench/load.py {' '.join(sys.argv[1:])}`".rstrip())
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load average at start {os.getloadavg()[0]:.2f}. "
        f"Input: {n:,} messages x 100 B ({os.path.getsize(inp) / 1e6:.0f} MB)."
    )
    print()
    print("| pair | bound | wall s | msg/s | peak RSS MiB | bounded / unbounded msg/s |")
    print("|---|---|---|---|---|---|")
    topic_for_read: str | None = None
    try:
        for pair in pairs:
            rates: dict[str, float] = {}
            for mode in ("bounded", "unbounded"):
                dst = os.path.join(work, "out.ss")
                if os.path.exists(dst):
                    os.remove(dst)
                if pair == "file-redis":
                    client.delete("k")
                    secs, peak = relay(mode, f"file://{inp}/k", f"redis://127.0.0.1:{port}/k")
                    got = client.xlen("k")
                elif pair == "redis-file":
                    if client.xlen("k") != n:  # fill it (not timed)
                        client.delete("k")
                        relay("bounded", f"file://{inp}/k", f"redis://127.0.0.1:{port}/k")
                    secs, peak = relay(
                        mode, f"redis://127.0.0.1:{port}/k", f"file://{dst}/k", "--offset", "start"
                    )
                    got = count_file(dst)
                elif pair == "file-kafka":
                    topic = kafka_topic(args.kafka)
                    secs, peak = relay(mode, f"file://{inp}/k", f"kafka://{args.kafka}/{topic}")
                    got = kafka_count(args.kafka, topic)
                    topic_for_read = topic
                elif pair == "kafka-file":
                    if topic_for_read is None:  # fill one (not timed)
                        topic_for_read = kafka_topic(args.kafka)
                        relay(
                            "bounded", f"file://{inp}/k", f"kafka://{args.kafka}/{topic_for_read}"
                        )
                    secs, peak = relay(  # --count: Tansu's high watermark is wrong
                        mode,
                        f"kafka://{args.kafka}/{topic_for_read}",
                        f"file://{dst}/k",
                        "--offset",
                        "start",
                        "--count",
                        str(n),
                    )
                    got = count_file(dst)
                else:
                    raise SystemExit(f"unknown pair {pair!r}")
                if got != n:
                    raise SystemExit(f"{pair} ({mode}): {got:,} of {n:,} messages arrived")
                rates[mode] = n / secs
                ratio = f"{rates['bounded'] / rates['unbounded']:.2f}" if len(rates) == 2 else ""
                print(
                    f"| {pair} | {mode} | {secs:.1f} | {n / secs:,.0f} | {peak / (1 << 20):.0f} "
                    f"| {ratio} |",
                    flush=True,
                )
    finally:
        client.delete("k")
        server.kill()
        server.wait()
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
