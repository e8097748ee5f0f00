"""``ssfile clock --stream URI [--interval 100ms] [--count N]``: a demo generator sending
``{"tick": N}`` (N from 0) to the stream key of URI.

Ctrl-C stops it (exit 130) after writing every tick sent so far."""

from __future__ import annotations

import argparse
import asyncio
import json
import re

from ..errors import UsageError
from ..file.output import check_in_place
from ..streamer import connect, parse_stream_url
from . import client
from .options import positive_int

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m)\Z")
_UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
YIELD_EVERY = 1024


def parse_duration(text: str) -> float:
    """``100ms``, ``1s``, ``2m``, ``500us``, ``10ns`` -> seconds."""
    m = _DURATION.match(text.strip())
    if m is None:
        raise UsageError(
            f"invalid duration {text!r}: use a number with ns, us, ms, s or m (e.g. 100ms)"
        )
    return float(m.group(1)) * _UNIT[m.group(2)]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "clock",
        help='send {"tick": N} messages to a stream (a demo generator)',
        description='Send {"tick": N} messages (N from 0) to the stream key of URI, one '
        "every --interval.",
        epilog="A file:// stream is created or appended to in place.  Ctrl-C stops it after\n"
        "writing every tick sent (exit 130).\n"
        "exit status: 0 --count ticks sent; 1 a stream error; 2 bad usage; 130 Ctrl-C.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--stream", required=True, metavar="URI", help="e.g. stdio:///clock")
    p.add_argument(
        "--interval",
        default="100ms",
        help="time between ticks (default 100ms; 0s = as fast as possible)",
    )
    p.add_argument(
        "--count",
        type=positive_int,
        metavar="N",
        default=None,
        help="stop after N ticks (default: forever)",
    )
    client.add_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    url = parse_stream_url(args.stream, require_keys=True)
    if len(url.stream_keys) != 1:
        raise UsageError(f"--stream {args.stream!r}: expected exactly one stream key")
    interval = parse_duration(args.interval)
    if url.scheme == "file":
        check_in_place(url.path)
    settings = client.settings(args, url.scheme)
    try:
        return asyncio.run(_clock(url, interval, args.count, settings))
    except KeyboardInterrupt:
        return 130


async def _clock(url, interval: float, count: int | None, settings=None) -> int:  # type: ignore[no-untyped-def]
    streamer = await connect(url, **client.connect_options(url, settings))
    try:
        producer = await streamer.create_producer(url.stream_keys[0])
        n = 0
        while count is None or n < count:
            producer.send(json.dumps({"tick": n}).encode())
            n += 1
            if interval > 0:
                await producer.flush()
                await asyncio.sleep(interval)
            elif n % YIELD_EVERY == 0:
                # as fast as possible, but let the loop run: buffered ticks are written and
                # Ctrl-C (asyncio cancels this task) is seen within milliseconds
                await producer.flush()
                await asyncio.sleep(0)
        await producer.flush()
    finally:
        await streamer.disconnect()
    return 0
