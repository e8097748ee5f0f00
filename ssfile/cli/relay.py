"""``ssfile relay --input URI --output URI [--offset start|end|T]``: forward messages between
any two backends (file://, stdio://, redis://, kafka://).

The consumer reads every stream key of the input URI; a ``file://`` input without a key
reads every stream of the file (each keeps its key unless the output names one).  With one output key every payload
goes to that key; with none, each message keeps its stream key and shard.  The output
backend assigns new sequence numbers and timestamps, as upstream's relay does.

``--keep-headers`` keeps each message's shard and timestamp (and, into a file, its sequence
number), e.g. to record a Kafka topic with its partitions, offsets and record timestamps and
to replay the recording into Kafka with the same partitions and timestamps.  Into a file,
a message whose sequence is not above the last one of its (key, shard) already there is a
duplicate and is skipped: recording again into the same file adds only what is new.
Several input keys into one output key: sequences would collide, so the file numbers them.

Output: a file output is created or appended to in place, so that it stays readable live
and resumable (spec/cli.md, "Outputs"): a kill leaves at most a torn tail, which the next
append drops.  The output file is never the input file (whatever the stream keys), nor the
file stdin reads; a stdio output is never the input file.

Ending: when the input ends (EOS, end of stdin, end of a file with ``--no-follow``) the
output is ended too (a file gets its EOS).  Ctrl-C, ``--count``, ``--until`` and a closed
output pipe stop early; everything received so far is flushed, and no EOS is written.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from ..errors import BufferFull, SSError, StreamError, UsageError
from ..file.output import STDIN, STDOUT, Endpoint, check_in_place, refuse_same
from ..streamer import ConsumerOptions, StreamEnded, connect, parse_stream_url
from ..streamer.api import Producer
from ..streamer.uri import StreamUrl
from . import EXIT_PROBLEMS, client
from .options import non_negative_seconds, parse_time_option, positive_int, time_arg
from .progress import add_progress_option, count_bar, show_progress


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "relay",
        help="forward messages from one backend to another",
        description="Forward messages from the input stream to the output stream.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--input",
        required=True,
        metavar="URI",
        help="e.g. stdio:///clock, file:///a.ss/clock or file:///a.ss (every stream)",
    )
    p.add_argument("--output", required=True, metavar="URI", help="e.g. file:///data/c.ss/clock")
    p.add_argument(
        "--offset",
        default=None,
        metavar="start|end|T",
        help="where to start reading: start, end or a time T, absolute or relative "
        "(-10m: ten minutes ago) (default: start for files and stdio, end for redis and kafka)",
    )
    p.add_argument(
        "--until",
        type=time_arg,
        metavar="T",
        help="stop before the first message stamped at or after T (no EOS is written)",
    )
    p.add_argument(
        "--no-follow",
        action="store_true",
        help="stop at the end of the input (a file's end; redis/kafka: the end they had at the start)",
    )
    p.add_argument(
        "--keep-headers",
        action="store_true",
        help="keep each message's shard and timestamp (and sequence, into a file; "
        "messages already in the output file are skipped)",
    )
    p.add_argument(
        "--count", type=positive_int, metavar="N", default=None, help="stop after N messages"
    )
    p.add_argument(
        "--retry-for",
        type=non_negative_seconds,
        default=None,
        metavar="SECONDS",
        help="wait for a stalled or restarting redis/kafka server this long, retrying, before "
        "failing (default 30)",
    )
    client.add_arguments(p)
    add_progress_option(p)
    p.set_defaults(run=run)


EPILOG = """A file:// input without a stream key relays every stream of the file.
A file:// output is created or appended to in place (readable live, resumable; a kill
leaves at most a torn tail).  It may not be the input file, nor the file on stdin.
times T: absolute (ISO 8601, no zone = UTC; YYYY-MM-DDTHH:MM:SS.fff; epoch ms) or relative
to now: now, -10m or 10m (ten minutes ago), +5m; units ms, s, m, h, d, w.
A progress bar (messages relayed, rate) appears when stderr is a terminal.
exit status: 0 the input ended, or --count/--until reached; 1 a stream or format error,
or invalid stdin lines were skipped (each reported; every valid line relayed); 2 bad usage
(URI, options, output is the input); 130 Ctrl-C, 143 SIGTERM (everything received is
written first)."""


def run(args: argparse.Namespace) -> int:
    src = parse_stream_url(args.input, require_keys=not args.input.lower().startswith("file:"))
    dst = parse_stream_url(args.output)
    if len(dst.stream_keys) > 1:
        raise UsageError(f"--output {args.output!r}: expected at most one stream key")
    if src == dst and src.scheme != "stdio":
        raise UsageError("--input and --output are the same stream")
    check_outputs(src, dst)
    offset = args.offset or ("start" if src.scheme in ("file", "stdio") else "end")
    seek_to = None
    if offset not in ("start", "end"):
        seek_to = parse_time_option(offset)
    reset = "latest" if offset == "end" else "earliest"
    settings = client.settings(args, src.scheme, dst.scheme)
    bar = count_bar("relay", " msgs", show=show_progress(args))
    try:
        return asyncio.run(
            _relay(
                src,
                dst,
                reset,
                seek_to,
                not args.no_follow,
                args.count,
                args.keep_headers,
                settings,
                args.retry_for,
                until=args.until,
                progress=bar.update,
            )
        )
    except KeyboardInterrupt:
        return 130
    finally:
        bar.close()


def check_outputs(src: StreamUrl, dst: StreamUrl) -> None:
    """A file output is written in place (spec/cli.md, "Outputs") and is never the input
    file (any stream keys) or stdin; a stdio output is never the input file."""
    inputs: list[Endpoint] = []
    if src.scheme == "file":
        inputs.append(src.path)
    elif src.scheme == "stdio":
        inputs.append(STDIN)
    if dst.scheme == "file":
        check_in_place(dst.path, inputs)
    elif dst.scheme == "stdio":
        refuse_same(STDOUT, inputs)


def _retry_options(url: StreamUrl, retry_for: float | None) -> dict[str, float]:
    """``--retry-for``: Redis retries transient failures (and waits for a stalled server) this
    long; Kafka's producer delivers (librdkafka retries) for this long, and a Kafka consumer
    that librdkafka reports errors for gets no message for this long before it fails."""
    if retry_for is None:
        return {}
    if url.scheme in ("redis", "rediss"):
        return {"retry_for": retry_for}
    if url.scheme == "kafka":
        return {"delivery_timeout": max(retry_for, 0.001), "stall_timeout": retry_for}
    return {}


async def _relay(  # type: ignore[no-untyped-def]
    src,
    dst,
    reset,
    seek_to,
    follow,
    count,
    keep=False,
    settings=None,
    retry_for=None,
    *,
    until=None,
    progress=None,
) -> int:
    inp = await connect(
        src, **client.connect_options(src, settings), **_retry_options(src, retry_for)
    )
    try:
        out = await connect(
            dst, **client.connect_options(dst, settings), **_retry_options(dst, retry_for)
        )
    except BaseException:
        await inp.disconnect()
        raise
    producers: dict[tuple[str, int], Producer] = {}
    # sequences are kept only where they cannot collide: each message keeps its key, or
    # one input key goes to the one output key
    kept = _Kept(sequences=not dst.stream_keys or len(src.stream_keys) == 1) if keep else None
    n = 0
    ended = False
    try:
        options = ConsumerOptions(auto_stream_reset=reset, follow=follow)
        if src.stream_keys:
            consumer = await inp.create_consumer(list(src.stream_keys), options)
        else:  # file:///x.ss: every stream of the file
            from ..streamer.file_backend import FileStreamer

            assert isinstance(inp, FileStreamer)  # only file:// URIs may name no key
            consumer = await inp.create_consumer_all(options)
        if seek_to is not None:
            await consumer.seek(seek_to)
        while count is None or n < count:
            try:
                batch = await consumer.next_batch()
            except StreamEnded:
                ended = True
                break
            if until is not None:
                cut = next((i for i, m in enumerate(batch) if m.timestamp_ms >= until), None)
                if cut is not None:
                    batch = batch[:cut]
                    count = n + len(batch)  # stop after these, like --count
            before = n
            if kept is None and dst.stream_keys:  # one output producer: the batch in one call
                if count is not None and n + len(batch) > count:
                    batch = batch[: count - n]
                p = producers.get((dst.stream_keys[0], 0))
                if p is None:
                    p = producers[(dst.stream_keys[0], 0)] = await out.create_producer(
                        dst.stream_keys[0]
                    )
                try:
                    p.send_batch([m.payload for m in batch])
                    n += len(batch)
                    batch = []
                except BufferFull:  # no room for all: one by one below, waiting for room
                    pass
            for m in batch:
                key = dst.stream_keys[0] if dst.stream_keys else m.stream_key
                shard = 0 if dst.stream_keys and kept is None else m.shard_id
                p = producers.get((key, shard))
                if p is None:
                    p = producers[(key, shard)] = await out.create_producer(key, shard_id=shard)
                    if kept is not None:
                        kept.opened(p, dst)
                while True:  # at the output's bound: wait for room (reads no further meanwhile)
                    try:
                        sent = kept.send(p, m) if kept is not None else bool(p.send(m.payload))
                        break
                    except BufferFull:
                        await p.drain()
                if not sent:
                    continue
                n += 1
                if count is not None and n >= count:
                    break
            if progress is not None:
                progress(n - before)
            for p in producers.values():
                await p.drain()  # the input is read only as fast as the output accepts
            await asyncio.sleep(0)  # an input that is always ready must not starve Ctrl-C
    finally:  # a failed output (drain raised it above) fails here too, with the counts
        try:
            failure: SSError | None = None
            for p in producers.values():
                try:
                    await (p.end() if ended else p.flush())
                except SSError as err:
                    failure = failure or err
            if failure is not None and any(p.window.failed for p in producers.values()):
                raise _undelivered(failure, dst, n, producers) from None
            if failure is not None:
                raise failure
        finally:
            await out.disconnect()
            await inp.disconnect()
            if kept is not None and kept.skipped:
                print(
                    f"ssfile relay: skipped {kept.skipped} message(s) already in the output",
                    file=sys.stderr,
                )
    invalid = getattr(inp, "invalid_lines", 0)  # stdio input: each reported on stderr
    if invalid:
        print(
            f"ssfile relay: {invalid} invalid input line(s) skipped (reported above); every "
            "valid line was relayed",
            file=sys.stderr,
        )
        return EXIT_PROBLEMS  # the input has problems, as `cat --on-damage skip` says
    return 0


def _undelivered(
    err: SSError, dst: StreamUrl, sent: int, producers: dict[tuple[str, int], Producer]
) -> StreamError:
    """The one-line error of a relay whose output failed for good: what arrived, how to go on."""
    failed = sum(p.window.failed for p in producers.values())
    if dst.scheme == "file":
        hint = (
            "the output file holds every delivered message; relay again with --keep-headers "
            "to continue after its last sequence without duplicates"
        )
    elif dst.scheme == "stdio":
        hint = "the output holds the delivered lines"
    else:
        name = "Redis" if dst.scheme in ("redis", "rediss") else "Kafka"
        hint = (
            f"{name} gives each message a new id, so a new relay cannot tell what arrived: "
            "relaying again from the same --offset repeats the delivered messages "
            "(a later --offset time skips them)"
        )
    return StreamError(
        f"{err} -- {sent - failed} of {sent} messages delivered, {failed} failed; {hint}"
    )


class _Kept:
    """``--keep-headers``: send with the input's timestamp (and sequence, where the output
    takes it), skipping what the output already holds."""

    def __init__(self, sequences: bool) -> None:
        self.sequences = sequences
        self.last: dict[Producer, int | None] = {}
        self.skipped = 0

    def opened(self, p: Producer, dst: object) -> None:
        if "timestamp" not in p.keeps:
            raise UsageError(f"--keep-headers: the output {dst} cannot keep timestamps")
        self.last[p] = p.last_sequence() if "sequence" in p.keeps else None

    def send(self, p: Producer, m: object) -> bool:
        if not self.sequences or "sequence" not in p.keeps:
            p.send(m.payload, timestamp=m.timestamp_ms)  # type: ignore[attr-defined, call-arg]
            return True
        last = self.last[p]
        if last is not None and m.sequence <= last:  # type: ignore[attr-defined]
            self.skipped += 1
            return False
        p.send(m.payload, timestamp=m.timestamp_ms, sequence=m.sequence)  # type: ignore[attr-defined, call-arg]
        self.last[p] = m.sequence  # type: ignore[attr-defined]
        return True
