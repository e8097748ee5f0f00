"""``ssfile demo [DIR]``: record a generated multi-stream demo, show what is in it, seek in it."""

from __future__ import annotations

import argparse
import json
import os
import random

from .. import open as ss_open
from ..file.output import NewFile, named
from ..types import format_timestamp
from .options import positive_int

STREAMS = {"clock": 1, "orders": 3, "sensors": 2}
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "demo",
        help="record a demo stream, inspect it and seek in it",
        description="Record a generated multi-stream demo into DIR/demo.ss, print what is "
        "in it and seek in it by time and by sequence.",
        epilog="DIR/demo.ss is written under a temporary name and renamed into place when\n"
        "complete (an existing one is replaced; Ctrl-C leaves it unchanged).\n"
        "exit status: 0 ok; 2 bad usage or DIR cannot be written; 130 Ctrl-C.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", nargs="?", default="demo-out", help="where to write demo.ss")
    p.add_argument(
        "--messages", type=positive_int, default=20_000, help="how many (default %(default)s)"
    )
    p.set_defaults(run=run)


def record(path: str, n: int, seed: int = 7, file_name: str | None = None) -> None:
    """A deterministic demo: clock ticks, orders over 3 shards, sensors over 2, 4 KiB beacons.

    ``file_name``: the name in the header (default: ``path``'s name)."""
    rng = random.Random(seed)
    keys = [(k, s) for k, shards in STREAMS.items() for s in range(shards)]
    with ss_open(path, "w", beacon_interval=4096, created_at=START_MS, file_name=file_name) as w:
        for i in range(n):
            key, shard = keys[rng.randrange(len(keys))]
            ts = START_MS + i * 50
            if key == "clock":
                payload = json.dumps({"tick": i}).encode()
            elif key == "orders":
                payload = json.dumps(
                    {"id": i, "qty": rng.randrange(1, 9), "sku": f"SKU-{rng.randrange(100)}"}
                ).encode()
            else:
                payload = bytes(rng.randrange(256) for _ in range(12))
            w.write(payload, stream_key=key, shard_id=shard, timestamp=ts)


def run(args: argparse.Namespace) -> int:
    from .info import summarise, to_json, to_text
    from .render import make_renderer

    path = os.path.join(args.dir, "demo.ss")
    with named(args.dir):
        os.makedirs(args.dir, exist_ok=True)
    with NewFile(path) as out, named(path):
        record(out.path, args.messages, file_name="demo.ss")
    print(
        f"== recorded {args.messages} messages over {sum(STREAMS.values())} (stream, shard) pairs "
        f"into {path}\n"
    )
    print("== what is in it (ssfile info)")
    with open(path, "rb") as f:
        print(to_text(to_json(path, summarise(f, os.path.getsize(path)))))
    middle = START_MS + args.messages * 50 // 2
    show = make_renderer("log")

    def line(m) -> str:  # type: ignore[no-untyped-def]
        out: list[bytes] = []
        show.render([m], out)
        return b"".join(out).decode("utf-8").rstrip("\n")

    with ss_open(path) as r:
        print(
            f"== seek to {format_timestamp(middle)} (bisection over the beacons), next 3 messages"
        )
        r.seek_time(middle)
        for m in _take(r, 3):
            print(line(m))
        print("\n== seek to stream 'orders' shard 1, sequence 100, next 3 messages of that stream")
        r.seek_sequence("orders", 1, 100)
        for m in _take((m for m in r if (m.stream_key, m.shard_id) == ("orders", 1)), 3):
            print(line(m))
    print(f"\nmore: ssfile cat {path} --stream orders --since {format_timestamp(middle)} --limit 5")
    return 0


def _take(messages, n: int):  # type: ignore[no-untyped-def]
    out = []
    for m in messages:
        out.append(m)
        if len(out) == n:
            break
    return out
