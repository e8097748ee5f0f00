"""``ssfile relay --input URI --output URI [--offset start|end|T]``: forward messages between
any two backends (file://, stdio://, redis://, kafka://).

The consumer reads every stream key of the input URI.  With one output key every payload
goes to that key; with none, each message keeps its stream key and shard.  The output
backend assigns new sequence numbers and timestamps, as upstream's relay does.

Ending: when the input ends (EOS, end of stdin, end of a file with ``--no-follow``) the
output is ended too (a file gets its EOS).  Ctrl-C, ``--count`` and a closed output pipe
stop early; everything received so far is flushed, and no EOS is written.
"""

from __future__ import annotations

import argparse
import asyncio

from ..errors import UsageError
from ..streamer import ConsumerOptions, StreamEnded, connect, parse_stream_url
from ..streamer.api import Producer
from ..timefmt import parse_time


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("relay", help="forward messages from one backend to another")
    p.add_argument("--input", required=True, metavar="URI", help="e.g. stdio:///clock or file:///a.ss/clock")
    p.add_argument("--output", required=True, metavar="URI", help="e.g. file:///data/c.ss/clock")
    p.add_argument("--offset", default=None, metavar="start|end|T",
                   help="where to start reading: start, end or a time (default: start for "
                        "files and stdio, end for redis and kafka)")
    p.add_argument("--no-follow", action="store_true", help="stop at the end of an input file")
    p.add_argument("--count", type=int, default=None, help="stop after N messages")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    src = parse_stream_url(args.input, require_keys=True)
    dst = parse_stream_url(args.output)
    if len(dst.stream_keys) > 1:
        raise UsageError(f"--output {args.output!r}: expected at most one stream key")
    if src == dst and src.scheme != "stdio":
        raise UsageError("--input and --output are the same stream")
    offset = args.offset or ("start" if src.scheme in ("file", "stdio") else "end")
    seek_to = None
    if offset not in ("start", "end"):
        seek_to = parse_time(offset)
    reset = "latest" if offset == "end" else "earliest"
    try:
        return asyncio.run(_relay(src, dst, reset, seek_to, not args.no_follow, args.count))
    except KeyboardInterrupt:
        return 130


async def _relay(src, dst, reset, seek_to, follow, count) -> int:  # type: ignore[no-untyped-def]
    inp = await connect(src)
    out = await connect(dst)
    producers: dict[tuple[str, int], Producer] = {}
    n = 0
    ended = False
    try:
        consumer = await inp.create_consumer(list(src.stream_keys),
                                             ConsumerOptions(auto_stream_reset=reset, follow=follow))
        if seek_to is not None:
            await consumer.seek(seek_to)
        while count is None or n < count:
            try:
                batch = await consumer.next_batch()
            except StreamEnded:
                ended = True
                break
            for m in batch:
                key = dst.stream_keys[0] if dst.stream_keys else m.stream_key
                shard = 0 if dst.stream_keys else m.shard_id
                p = producers.get((key, shard))
                if p is None:
                    p = producers[(key, shard)] = await out.create_producer(key, shard_id=shard)
                p.send(m.payload)
                n += 1
                if count is not None and n >= count:
                    break
    finally:
        try:
            for p in producers.values():
                await (p.end() if ended else p.flush())
        finally:
            await out.disconnect()
            await inp.disconnect()
    return 0
