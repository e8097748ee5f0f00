"""``ssfile demo [DIR]``: record a generated multi-stream demo, show what is in it, seek in it."""

from __future__ import annotations

import argparse
import json
import os
import random

from .. import open as ss_open
from ..types import format_timestamp

STREAMS = {"clock": 1, "orders": 3, "sensors": 2}
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="record a demo stream, inspect it and seek in it")
    p.add_argument("dir", nargs="?", default="demo-out", help="where to write demo.ss")
    p.add_argument("--messages", type=int, default=20_000)
    p.set_defaults(run=run)


def record(path: str, n: int, seed: int = 7) -> None:
    """A deterministic demo: clock ticks, orders over 3 shards, sensors over 2, 4 KiB beacons."""
    rng = random.Random(seed)
    keys = [(k, s) for k, shards in STREAMS.items() for s in range(shards)]
    with ss_open(path, "w", beacon_interval=4096, created_at=START_MS) as w:
        for i in range(n):
            key, shard = keys[rng.randrange(len(keys))]
            ts = START_MS + i * 50
            if key == "clock":
                payload = json.dumps({"tick": i}).encode()
            elif key == "orders":
                payload = json.dumps({"id": i, "qty": rng.randrange(1, 9), "sku": f"SKU-{rng.randrange(100)}"}).encode()
            else:
                payload = bytes(rng.randrange(256) for _ in range(12))
            w.write(payload, stream_key=key, shard_id=shard, timestamp=ts)


def run(args: argparse.Namespace) -> int:
    os.makedirs(args.dir, exist_ok=True)
    path = os.path.join(args.dir, "demo.ss")
    record(path, args.messages)
    print(f"recorded {args.messages} messages into {path} ({os.path.getsize(path)} bytes)")
    counts: dict[tuple[str, int], int] = {}
    with ss_open(path) as r:
        print(f"header: {json.dumps(r.header.to_json_dict())}")
        first = last = None
        for m in r:
            counts[(m.stream_key, m.shard_id)] = counts.get((m.stream_key, m.shard_id), 0) + 1
            first = first or m
            last = m
        print(f"end of stream marker: {'yes' if r.ended else 'no'}")
    for (key, shard), n in sorted(counts.items()):
        print(f"  {key:<10} shard {shard}: {n} messages")
    if first and last:
        print(f"time range: {format_timestamp(first.timestamp_ms)} .. {format_timestamp(last.timestamp_ms)}")
    return 0
