"""The ``stdio://`` backend: consumers read stdin lines, producers write stdout lines, both in
the stdio line format (:mod:`ssfile.lines`).

Rules (spec/streamer.md, "stdio"), upstream's unless said otherwise:
* A line without a stream key is a *broadcast*: every consumer gets it (as key
  ``broadcast``).  A line with the explicit key ``broadcast`` only reaches consumers of that key.
* Missing timestamp: the time the line was read (one reading per chunk of stdin).  Missing
  shard: 0.  Missing sequence: a per-(key, shard) counter from 0; a line with a sequence
  sets the counter to sequence + 1 (upstream sets it to the sequence itself, so the next
  message repeats it -- not copied).
* Groups: consumers of a group split the messages by ``sequence mod members`` (members in
  join order, recomputed per message, so they may join and leave at any time).
* Line ends: ``\\n`` or ``\\r\\n`` (the ``\\r`` of a CRLF line end is not payload; upstream
  keeps it).
* An invalid line (bad meta block, invalid UTF-8, no sequence number given where the
  counter is past 2^64-1 after a line with sequence 2^64-1) is reported on stderr with its line
  number and skipped (``on_invalid="skip"``, the default) or ends every consumer with a
  :class:`~ssfile.lines.LineError` after the messages read before it (``on_invalid="fatal"``).
  Upstream aborts the process.
* A failed write to stdout (disk full...) raises :class:`~ssfile.errors.WriteFailed`
  naming how many whole lines the output holds, and every later send/flush raises it too.
* Producers print ``[timestamp | key | sequence | shard] payload`` with millisecond
  timestamps (upstream prints whole seconds and no shard; its parser reads ours).  The
  sequence is a per-key counter from 0 shared by all producers of the process.  Payloads
  must be UTF-8 without newlines.  Empty payloads are printed (upstream drops them).
* ``loopback=True`` also delivers produced messages to this process's consumers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from itertools import repeat
from typing import IO

from .. import lines
from ..codec import decoder as _decoder  # noqa: F401  # configures the Message layout
from ..codec.accel import speedups as _speedups
from ..errors import EncodeError, StreamError, WriteFailed
from ..format.constants import BROADCAST_KEY
from ..format.records import check_producer_key
from ..lines import LineError, RawFields, format_line, parse_line
from ..streamer.api import BatchReceipt, Consumer, Producer, Receipt, StreamEnded, Streamer
from ..streamer.flow import Window
from ..streamer.groups import choose
from ..streamer.options import ConsumerMode, ConsumerOptions, ProducerOptions, consumer_request
from ..types import MAX_U64, Message

BATCH_LINES = 1024
#: stdin chunks (of up to 64 KiB) read ahead of the consumers: the reader thread waits there
STDIN_PREFETCH = 16

# a batch of lines is parsed, and a batch of lines printed, in one call: the C twins
# (ssfile/_speedups.c) when built, else ssfile.lines (tests/test_stdio_lines.py: the same)
_PARSE_LINES = lines.parse_lines if _speedups is None else _speedups.parse_lines
_PAYLOAD_OK = lines.line_payload_ok if _speedups is None else _speedups.line_payload_ok
_FORMAT_LINES = lines.format_lines if _speedups is None else _speedups.format_lines
#: the whole loop of _lines_each for one consumer without group or shard filter, in C
_LINE_MESSAGES = None if _speedups is None else _speedups.line_messages


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class StdioConsumer(Consumer):
    def __init__(
        self, streamer: StdioStreamer, keys: tuple[str, ...], options: ConsumerOptions
    ) -> None:
        self._streamer = streamer
        self.stream_keys = keys
        self.options = options
        self.queue: deque[Message] = deque()
        self.error: Exception | None = None
        self.closed = False

    async def next_batch(self, max_messages: int = 1000) -> list[Message]:
        while not self.queue:
            if self.error is not None:
                raise self.error
            if self.closed or self._streamer._eof:
                raise StreamEnded("stdin has ended")
            await self._streamer._pump()
        q = self.queue
        if len(q) <= max_messages:
            out = list(q)
            q.clear()
            return out
        return [q.popleft() for _ in range(max_messages)]

    async def next(self) -> Message:
        return (await self.next_batch(1))[0]

    async def seek(self, timestamp: object) -> None:
        raise StreamError("stdio cannot seek")

    async def rewind(self, position: object) -> None:
        raise StreamError("stdio cannot rewind")

    async def close(self) -> None:
        self.closed = True
        self._streamer._consumers.remove(self) if self in self._streamer._consumers else None


class StdioProducer(Producer):
    def __init__(
        self, streamer: StdioStreamer, stream_key: str, shard_id: int, window: Window
    ) -> None:
        self._streamer = streamer
        self.stream_key = stream_key
        self.shard_id = shard_id
        self.window = window
        try:  # whether the key can be written in a line (else every send says why not)
            format_line(stream_key, shard_id, 0, 0, b"")
            self._key_ok = True
        except ValueError:
            self._key_ok = False

    def send(self, payload: bytes) -> Receipt:
        """The receipt resolves once the line was written to stdout (by the writer thread)."""
        return self._streamer._produce(self, payload)

    def send_batch(self, payloads: Sequence[bytes]) -> BatchReceipt:
        """The lines of the batch go to stdout together (one timestamp for all, consecutive
        sequences), as ``send`` one by one would print them.  A payload stdio cannot carry
        raises EncodeError before anything is taken."""
        return self._streamer._produce_batch(self, payloads)

    def _raise_failure(self) -> None:
        self._streamer._raise_failure()

    async def flush(self) -> None:
        await self._streamer._flush()

    async def end(self) -> None:
        await self._streamer._flush()


class StdioStreamer(Streamer):
    def __init__(
        self,
        *,
        stdin: IO[bytes] | None = None,
        stdout: IO[bytes] | None = None,
        on_invalid: str = "skip",
        loopback: bool = False,
        stderr: IO[str] | None = None,
    ) -> None:
        if on_invalid not in ("skip", "fatal"):
            raise StreamError(f"on_invalid must be 'skip' or 'fatal', not {on_invalid!r}")
        self._stdin = stdin if stdin is not None else sys.stdin.buffer
        self._stdout = stdout if stdout is not None else sys.stdout.buffer
        self._stderr = stderr if stderr is not None else sys.stderr
        self._on_invalid = on_invalid
        self._loopback = loopback
        self._consumers: list[StdioConsumer] = []
        self._in_seq: dict[tuple[str, int], int] = {}
        self._out_seq: dict[str, int] = {}
        # lines not yet handed to the writer thread: (key, shard, seq, ts, payload)
        self._out: list[tuple[str, int, int, int, bytes]] = []
        self._out_held: dict[Window, list[int]] = {}  # their producers' windows: [n, bytes]
        self._out_future: asyncio.Future[None] | None = None  # their receipts
        self._out_bytes = 0  # written to stdout so far
        self._out_lines = 0
        self._chunks: queue.SimpleQueue[bytes | None] | None = None  # to the writer thread
        self._chunk_state: deque[tuple[dict[Window, list[int]], asyncio.Future[None]]] = deque()
        self._written: asyncio.Event | None = None
        self._failed: BaseException | None = None  # WriteFailed, BrokenPipeError...
        self._lineno = 0
        self._eof = False
        self._batches: asyncio.Queue[list[bytes] | None] | None = None
        self._thread: threading.Thread | None = None
        self._lock = asyncio.Lock()
        self.invalid_lines = 0

    # ---- input -------------------------------------------------------------------------

    def _start_reader(self) -> None:
        loop = asyncio.get_running_loop()
        self._batches = asyncio.Queue(maxsize=STDIN_PREFETCH)
        queue = self._batches
        stdin = self._stdin

        def put(lines: list[bytes] | None) -> None:
            """Hand ``lines`` to the loop, waiting while STDIN_PREFETCH chunks are queued."""
            coro = queue.put(lines)
            try:
                done = asyncio.run_coroutine_threadsafe(coro, loop)
            except RuntimeError:  # the loop is closed
                coro.close()
                raise
            done.result()

        def read() -> None:
            pending = b""
            read1 = _raw_reader(stdin)
            try:
                while True:
                    chunk = read1(1 << 16)
                    if not chunk:
                        break
                    lines = (pending + chunk).split(b"\n")
                    pending = lines.pop()
                    if lines:
                        if b"\r" in chunk:  # CRLF line ends: the \r is not payload
                            lines = [x[:-1] if x.endswith(b"\r") else x for x in lines]
                        put(lines)
            except (OSError, ValueError, RuntimeError, concurrent.futures.CancelledError):
                pass  # stdin failed or closed; the loop closed or cancelled the put
            finally:
                try:
                    if pending:
                        put([pending])
                    put(None)
                except (RuntimeError, concurrent.futures.CancelledError):
                    pass  # the loop is closed

        self._thread = threading.Thread(target=read, name="ssfile-stdin", daemon=True)
        self._thread.start()

    async def _pump(self) -> None:
        async with self._lock:
            if self._eof:
                return
            if self._batches is None:
                self._start_reader()
            assert self._batches is not None
            batch = await self._batches.get()
            if batch is None:
                self._eof = True
                return
            self._lines(batch)

    def _lines(self, batch: list[bytes]) -> None:
        """Parse and deliver a batch of lines."""
        consumers = self._consumers
        only = consumers[0] if len(consumers) == 1 else None
        if only is not None and (
            only.closed or only.options.group is not None or only.options.shards is not None
        ):
            only = None  # the general dispatch
        if only is None or _LINE_MESSAGES is None:
            self._lines_each(batch, only)
            return
        # one plain consumer: the C loop, stopping at each line it leaves to Python
        start, now, base = 0, _now_ms(), self._lineno
        while start < len(batch) and not self._eof:
            got: list[Message] = []
            stop = _LINE_MESSAGES(
                batch, start, self._in_seq, now, only.stream_keys, BROADCAST_KEY, got
            )
            only.queue.extend(got)
            self._lineno = base + stop
            if stop < len(batch):
                self._lines_each(batch[stop : stop + 1], only)
            start = stop + 1

    def _lines_each(self, batch: list[bytes], only: StdioConsumer | None) -> None:
        """Parse and deliver lines one by one (all parsed in one call; a line the batch
        parser leaves to Python is parsed alone, which reports an invalid one)."""
        in_seq = self._in_seq
        now: int | None = None  # the time the batch was read, for lines without one
        for raw, fields in zip(batch, _PARSE_LINES(batch)):
            if self._eof:
                break  # a fatal line: nothing after it is delivered
            self._lineno += 1
            if fields is None:
                fields = self._parse_alone(raw)
                if fields is None:
                    continue
            ts, key, seq, shard, payload = fields
            if shard is None:
                shard = 0
            counter_key = (BROADCAST_KEY if key is None else key, shard)
            if seq is None:
                seq = in_seq.get(counter_key, 0)
                if seq > MAX_U64:
                    self._invalid(
                        LineError(
                            f"no sequence number left after {MAX_U64} for stream "
                            f"{counter_key[0]!r} shard {shard}: give the sequence explicitly",
                            line=self._lineno,
                        )
                    )
                    continue
            in_seq[counter_key] = seq + 1
            if ts is None:
                if now is None:
                    now = _now_ms()
                ts = now
            msg = Message(counter_key[0], shard, seq, ts, payload)
            if only is None:
                self._dispatch(msg, broadcast=key is None)
            elif key is None or key in only.stream_keys:
                only.queue.append(msg)

    def _parse_alone(self, raw: bytes) -> RawFields | None:
        """One line parsed in Python; an invalid one is reported (None)."""
        try:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise LineError(f"invalid UTF-8 at byte {err.start}", line=self._lineno) from None
            parsed = parse_line(text, line=self._lineno)
        except LineError as err:
            self._invalid(err)
            return None
        return (*parsed[:4], parsed.payload.encode("utf-8"))

    def _invalid(self, err: LineError) -> None:
        """An invalid line: reported and skipped, or the end of every consumer (fatal)."""
        self.invalid_lines += 1
        if self._on_invalid == "fatal":
            for c in self._consumers:
                c.error = err
            self._eof = True
            return
        print(f"ssfile: stdin line {self._lineno} skipped: {err.reason}", file=self._stderr)

    def _dispatch(self, msg: Message, *, broadcast: bool) -> None:
        groups: dict[str, list[StdioConsumer]] = {}
        for c in self._consumers:
            if c.closed or not (broadcast or msg.stream_key in c.stream_keys):
                continue
            if c.options.shards is not None and msg.shard_id not in c.options.shards:
                continue
            if c.options.group is None:
                c.queue.append(msg)
            else:
                groups.setdefault(c.options.group, []).append(c)
        for members in groups.values():
            choose(members, msg.sequence).queue.append(msg)

    # ---- output ------------------------------------------------------------------------

    def _produce(self, producer: StdioProducer, payload: bytes) -> Receipt:
        if self._failed is not None:
            self._raise_failure()
        key = producer.stream_key
        out_seq = self._out_seq
        seq = out_seq.get(key, 0)
        ts = _now_ms()
        if type(payload) is not bytes or not (producer._key_ok and _PAYLOAD_OK(payload)):
            try:  # says why not (or formats what is not bytes but decodes, as before)
                format_line(key, producer.shard_id, seq, ts, payload)
            except ValueError as err:
                raise EncodeError(f"stdio cannot carry this message: {err}") from None
        nbytes = len(payload)
        window = producer.window
        window.take(nbytes)
        out_seq[key] = seq + 1
        fields = (key, producer.shard_id, seq, ts, payload)
        self._out.append(fields)
        fut = self._queued(window, 1, nbytes)
        if self._loopback:
            self._dispatch(Message(key, producer.shard_id, seq, ts, payload), broadcast=False)
        return Receipt(future=fut, fields=fields)

    def _produce_batch(self, producer: StdioProducer, payloads: Sequence[bytes]) -> BatchReceipt:
        if self._failed is not None:
            self._raise_failure()
        payloads = list(payloads)
        n = len(payloads)
        if not n:
            return BatchReceipt(0)
        key, shard = producer.stream_key, producer.shard_id
        ok = _PAYLOAD_OK
        bad = (
            [p for p in payloads if type(p) is not bytes or not ok(p)]
            if producer._key_ok
            else payloads[:1]
        )
        if bad:
            for p in bad:
                try:  # says why not
                    format_line(key, shard, 0, 0, p)
                except ValueError as err:
                    raise EncodeError(f"stdio cannot carry this message: {err}") from None
            return Producer.send_batch(producer, payloads)  # what is not bytes but decodes
        nbytes = sum(map(len, payloads))
        window = producer.window
        window.take_batch(n, nbytes)
        out_seq = self._out_seq
        seq = out_seq.get(key, 0)
        out_seq[key] = seq + n
        ts = _now_ms()
        fields = list(zip(repeat(key), repeat(shard), range(seq, seq + n), repeat(ts), payloads))
        self._out.extend(fields)
        fut = self._queued(window, n, nbytes)
        if self._loopback:
            for f in fields:
                self._dispatch(Message(*f), broadcast=False)
        return BatchReceipt(n, futures=(fut,))

    def _queued(self, window: Window, n: int, nbytes: int) -> asyncio.Future[None]:
        """``n`` lines (``nbytes`` of payload) of ``window``'s producer were just queued in
        ``_out``: held in the window until written; the future of the chunk they go out in
        (the first lines of a chunk start it, written once the loop turns or when full)."""
        held = self._out_held.get(window)
        if held is None:
            held = self._out_held[window] = [0, 0]
        held[0] += n
        held[1] += nbytes
        fut = self._out_future
        if fut is None:
            loop = asyncio.get_running_loop()
            fut = self._out_future = loop.create_future()
            loop.call_soon(self._cut)
        if len(self._out) >= BATCH_LINES:
            self._cut()
        return fut

    def _raise_failure(self) -> None:
        """A failed write (disk full...) raises WriteFailed naming how many whole lines the
        output holds, now and at every later send and flush; a closed pipe raises
        BrokenPipeError, left to the caller (the CLI exits quietly)."""
        failed = self._failed
        if isinstance(failed, WriteFailed):
            raise failed.again()
        if isinstance(failed, BrokenPipeError):
            raise BrokenPipeError(failed.errno, failed.strerror)
        if failed is not None:
            raise failed

    def _cut(self) -> None:
        """Hand the queued lines to the writer thread: writing never blocks the event loop
        (a blocked stdout pipe holds the lines, counted by the producers' windows)."""
        if not self._out:
            return
        data = _FORMAT_LINES(self._out)
        if data is None:  # something the C twin leaves to Python
            data = lines.format_lines(self._out)
        self._out = []
        held, self._out_held = self._out_held, {}
        fut, self._out_future = self._out_future, None
        assert fut is not None
        if self._chunks is None:
            self._start_writer()
        assert self._chunks is not None
        self._chunk_state.append((held, fut))
        if self._written is None:
            self._written = asyncio.Event()
        self._written.clear()
        self._chunks.put(data)

    def _start_writer(self) -> None:
        loop = asyncio.get_running_loop()
        chunks: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._chunks = chunks

        def write() -> None:
            failed = False  # after a failed write nothing more is written (no torn line)
            while True:
                data = chunks.get()
                if data is None:
                    return
                err: BaseException | None = None
                try:
                    if not failed:
                        self._write(data)
                        self._stdout.flush()
                except BaseException as exc:  # reported on the event loop
                    err, failed = exc, True
                try:
                    loop.call_soon_threadsafe(self._chunk_done, err)
                except RuntimeError:
                    return  # the loop is closed

        threading.Thread(target=write, name="ssfile-stdout", daemon=True).start()

    def _chunk_done(self, err: BaseException | None) -> None:
        held, fut = self._chunk_state.popleft()
        if err is not None and self._failed is None:
            if isinstance(err, OSError) and not isinstance(err, BrokenPipeError):
                name = getattr(self._stdout, "name", None)
                where = name if isinstance(name, str) else "<stdout>"
                self._failed = WriteFailed(
                    where, err, self._out_bytes, self._out_lines, action="lines"
                )
            else:  # a closed pipe, a closed stdout (ValueError): left to the caller
                self._failed = err
        if self._failed is None:
            fut.set_result(None)
        else:
            fut.set_exception(
                self._failed.again() if isinstance(self._failed, WriteFailed) else self._failed
            )
            fut.exception()  # the receipts raise it when asked; no "never retrieved" log
        for window, (n, nbytes) in held.items():
            window.give(n, nbytes, 0 if self._failed is None else n)
        if not self._chunk_state and self._written is not None:
            self._written.set()

    async def _flush(self) -> None:
        """Write every queued line (waits for the writer thread), or raise why it failed."""
        self._raise_failure()
        self._cut()
        while self._chunk_state:
            assert self._written is not None
            await self._written.wait()
        self._raise_failure()

    def _write(self, data: bytes) -> None:
        """Hand ``data`` to the OS through the file descriptor when there is one (so nothing
        stays buffered after a failure, to fail again at exit), counting what was written."""
        try:
            fd = self._stdout.fileno()
        except (AttributeError, OSError, ValueError):
            fd = None
        if fd is None:
            self._stdout.write(data)
            self._out_bytes += len(data)
            self._out_lines += data.count(b"\n")
            return
        self._stdout.flush()
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            self._out_bytes += n
            self._out_lines += view[:n].tobytes().count(b"\n")
            view = view[n:]

    # ---- streamer ----------------------------------------------------------------------

    async def create_producer(
        self, stream_key: str, *, shard_id: int = 0, options: ProducerOptions | None = None
    ) -> Producer:
        check_producer_key(stream_key)
        window = Window(options, f"stdio producer of {stream_key!r}")
        return StdioProducer(self, stream_key, shard_id, window)

    async def create_consumer(
        self, stream_keys: Sequence[str], options: ConsumerOptions | None = None
    ) -> Consumer:
        keys, options = consumer_request(
            stream_keys, options, ConsumerOptions(auto_stream_reset="earliest")
        )
        if options.mode is ConsumerMode.RESUMABLE:
            raise StreamError("stdio does not support Resumable consumers")
        c = StdioConsumer(self, keys, options)
        self._consumers.append(c)
        return c

    async def disconnect(self) -> None:
        try:
            await self._flush()
        except (BrokenPipeError, ValueError):
            pass  # a failed write (WriteFailed) is raised: the output is missing lines
        finally:
            if self._chunks is not None:
                self._chunks.put(None)  # the writer thread ends
                self._chunks = None
        for c in self._consumers:
            c.closed = True


def _raw_reader(stream: IO[bytes]):  # type: ignore[no-untyped-def]
    """A ``read(n)`` returning what is available.  For a real file descriptor it is
    ``os.read``: a thread blocked in it holds no Python-level lock, so the interpreter can
    exit (Ctrl-C) while it waits; a thread blocked in ``BufferedReader.read1`` aborts the
    interpreter at shutdown."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return getattr(stream, "read1", stream.read)
    return lambda n: os.read(fd, n)
