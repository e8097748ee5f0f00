"""The C accelerator (ssfile/_speedups.c) against the pure-Python codec.

Both paths must give the same events (every field and offset), the same errors (class, text,
offset) at the same points, and the same bytes, whatever the input and its chunking.  The
extension must be built (scripts/bootstrap builds it); the whole core suites also run once
more with ``SSFILE_PURE=1`` (test_core_suites_pass_on_the_pure_path).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import types

import pytest
import ssfile._speedups as C
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ss_strategies import ROOT, U64, encode_file, message_lists, payloads, split, stream_keys

import ssfile
from ssfile.codec import accel, decoder, encoder
from ssfile.codec.decoder import Decoder
from ssfile.codec.decoder import decode_bytes as decode_all
from ssfile.codec.encoder import Encoder, StreamState
from ssfile.codec.events import EndOfStream
from ssfile.errors import ChecksumMismatch, EncodeError, FormatError
from ssfile.format import constants as K
from ssfile.format.crc import ACCELERATED, crc16_bytes, crc16_py
from ssfile.format.records import FileHeader
from ssfile.types import MAX_TIMESTAMP_MS, Message

# the same configuration the codec modules apply when they load the extension (idempotent),
# so that the C path is exercised here even when the suite runs with SSFILE_PURE=1
C.configure_decoder(Message, MAX_TIMESTAMP_MS, K.INTERNAL_KEY.encode("ascii"), K.EOS_PAYLOAD)
LONG_CRC = crc16_bytes if ACCELERATED else None  # what the encoder module passes
C.configure_encoder(
    StreamState, MAX_TIMESTAMP_MS, K.MAX_PAYLOAD, K.INTERNAL_KEY.encode("ascii"), LONG_CRC
)
C.configure_timestamp(Message._timestamp)


@contextlib.contextmanager
def path(use_c: bool):
    """Run the codec with (True) or without (False) the C functions."""
    saved = decoder._SCAN_FRAMES, encoder._ENCODE_FRAME
    decoder._SCAN_FRAMES = C.scan_frames if use_c else None
    encoder._ENCODE_FRAME = C.encode_frame if use_c else None
    try:
        yield
    finally:
        decoder._SCAN_FRAMES, encoder._ENCODE_FRAME = saved


# ---- loading ----------------------------------------------------------------------------------


def test_the_codec_uses_the_extension_unless_told_not_to():
    assert C.ABI_VERSION == accel.ABI_VERSION
    if accel.pure_forced():
        assert decoder._SCAN_FRAMES is None and encoder._ENCODE_FRAME is None
    else:
        assert accel.speedups is C
        assert decoder._SCAN_FRAMES is C.scan_frames and encoder._ENCODE_FRAME is C.encode_frame


@pytest.mark.parametrize("value,pure", [("1", True), ("0", False), ("", False)])
def test_ssfile_pure_env_var(value, pure):
    code = (
        "from ssfile.codec import decoder, encoder\n"
        "print(decoder._SCAN_FRAMES is None, encoder._ENCODE_FRAME is None)"
    )
    env = {**os.environ, "SSFILE_PURE": value}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert out == [str(pure), str(pure)]


def test_a_build_with_another_abi_is_ignored(monkeypatch):
    stale = types.ModuleType("ssfile._speedups")
    stale.ABI_VERSION = accel.ABI_VERSION + 1
    monkeypatch.setitem(sys.modules, "ssfile._speedups", stale)
    monkeypatch.setattr(ssfile, "_speedups", stale)
    monkeypatch.delenv("SSFILE_PURE", raising=False)
    assert accel.load() is None
    monkeypatch.setitem(sys.modules, "ssfile._speedups", C)
    monkeypatch.setattr(ssfile, "_speedups", C)
    assert accel.load() is C


def test_configure_refuses_classes_it_cannot_fill():
    class WithDict:  # instances have a __dict__
        pass

    class OtherSlots:
        __slots__ = ("stream_key", "shard_id", "sequence", "timestamp_ms", "payload", "other")

    for cls in (WithDict, OtherSlots, int):
        with pytest.raises(TypeError):
            C.configure_decoder(cls, MAX_TIMESTAMP_MS, b"SEA_STREAMER_INTERNAL", b"EOS")
    with pytest.raises(TypeError):
        C.configure_encoder(Message, MAX_TIMESTAMP_MS, K.MAX_PAYLOAD, b"SEA_STREAMER_INTERNAL")
    # a refused class leaves the configuration as it was
    data = encode_file(128, [("a", 0, 1, 2, b"x" * 300)])
    with path(True):
        assert [norm(e) for e in decode_all(data)] == expected_pure(data)


# ---- CRC --------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 0xFFFF))
def test_crc_equals_the_pure_table(data, initial):
    assert C.crc16(data, initial) == crc16_py(data, initial)
    assert C.crc16(data) == crc16_py(data)


def test_crc_check_value():
    assert C.crc16(b"123456789") == 0x4C06
    assert C.crc16_table(b"123456789") == 0x4C06


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 5000).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    st.integers(0, 0xFFFF),
    st.integers(0, 15),
)
def test_both_crc_kernels_agree_at_every_length_and_alignment(data, initial, skip):
    """crc16 folds 64 bytes and more with carry-less multiplication when the CPU can (every
    lane count, tail length and start alignment here); crc16_table is the table kernel."""
    view = memoryview(b"x" * skip + data)[skip:]
    expected = crc16_py(data, initial)
    assert C.crc16(view, initial) == expected == C.crc16_table(view, initial)


# ---- Message.timestamp ------------------------------------------------------------------------


def _outcome(fn, *args):
    try:
        value = fn(*args)
        return value, value.isoformat(), value.tzinfo
    except Exception as err:  # the same class of error, whichever getter
        return type(err)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.integers(0, MAX_TIMESTAMP_MS),
        st.sampled_from([0, 999, 86_399_999, 951_782_400_000, 951_868_800_000, MAX_TIMESTAMP_MS]),
        st.integers(-(10**16), 10**20),
        st.just(MAX_TIMESTAMP_MS + 1),
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15),
        st.just(None),
    )
)
def test_the_c_timestamp_getter_equals_the_python_one(ms):
    """Every int in range through the C calendar; anything else (negative, too large, not an
    int) through the Python getter, which gives the same value or error either way."""
    m = Message("k", 0, 0, ms, b"")
    expected = _outcome(Message._timestamp, m)
    assert _outcome(C.message_timestamp, m) == expected
    assert _outcome(C.message_timestamp, m) == expected  # the cached last value
    if isinstance(ms, int) and 0 <= ms <= MAX_TIMESTAMP_MS:
        assert C.datetime_from_ms(ms) == expected[0]
    else:
        assert C.datetime_from_ms(ms) is None if isinstance(ms, int) else True


def test_message_timestamp_uses_the_c_getter_unless_pure():
    getter = Message.__dict__["timestamp"].fget
    assert (getter is C.message_timestamp) == (not accel.pure_forced())
    m = Message("k", 0, 0, 1_767_225_600_123, b"")
    assert m.timestamp == Message._timestamp(m) and m.timestamp.tzinfo is dt_utc()


def dt_utc():
    import datetime

    return datetime.UTC


# ---- decoder ----------------------------------------------------------------------------------


def norm(ev: object) -> object:
    """An event as a comparable value (Message == ignores the offset; this does not)."""
    if type(ev) is Message:
        return (
            "msg",
            ev.stream_key,
            ev.shard_id,
            ev.sequence,
            ev.timestamp_ms,
            ev.payload,
            ev.offset,
        )
    if isinstance(ev, EndOfStream):
        return ("eos", norm(ev.message))
    return ev


def expected_pure(data: bytes) -> list[object]:
    with path(False):
        return [norm(e) for e in decode_all(data)]


def decode_log(
    data: bytes, cuts: list[int], limits: list[int], check_crc: bool, stop_at_eos: bool
) -> list[object]:
    """Everything observable while decoding ``data`` fed in chunks, taking events in batches
    of the given sizes: events, errors (class, text, offset), the final offset and state."""
    dec = Decoder(check_crc=check_crc, stop_at_eos=stop_at_eos)
    log: list[object] = []
    calls = 0
    for chunk in [*split(data, cuts), None]:
        if chunk is None:
            dec.feed_eof()
        else:
            dec.feed(chunk)
        while True:
            out: list[object] = []
            limit = limits[calls % len(limits)]
            calls += 1
            try:
                dec.read_events(out, limit)
            except FormatError as err:
                log += [norm(e) for e in out]
                log.append(("error", type(err).__name__, str(err), err.offset))
                if isinstance(err, ChecksumMismatch):
                    continue
                return log
            log += [norm(e) for e in out]
            if not out:
                break
    log.append(("end", dec.offset, dec.ended, dec.buffered))
    return log


def both_paths_agree(
    data: bytes,
    cuts: list[int],
    limits: list[int],
    check_crc: bool = True,
    stop_at_eos: bool = True,
) -> list[object]:
    with path(False):
        pure = decode_log(data, cuts, limits, check_crc, stop_at_eos)
    with path(True):
        fast = decode_log(data, cuts, limits, check_crc, stop_at_eos)
    assert fast == pure
    return fast


EOS_MESSAGE = (K.INTERNAL_KEY, 0, 0, 5, K.EOS_PAYLOAD)


@st.composite
def messages(draw, max_messages: int = 30):
    """(key, shard, seq, ts, payload) over a few streams: any key length (empty, 249 bytes),
    the whole u64 and timestamp ranges, binary payloads, now and then an EOS frame."""
    keys = draw(st.lists(stream_keys, min_size=1, max_size=4, unique=True))
    ints = st.one_of(st.integers(0, 3), st.integers(0, U64))
    times = st.one_of(st.integers(0, 10**13), st.integers(0, MAX_TIMESTAMP_MS))
    one = st.tuples(st.sampled_from(keys), ints, ints, times, payloads(400))
    return draw(st.lists(st.one_of(one, one, one, st.just(EOS_MESSAGE)), max_size=max_messages))


@st.composite
def files(draw):
    interval = draw(
        st.one_of(st.integers(128, 600), st.integers(128, 4096), st.just(K.DEFAULT_BEACON_INTERVAL))
    )
    data = bytearray(encode_file(interval, draw(messages()), draw(st.booleans())))
    # damage: bytes overwritten anywhere (checksums, keys, timestamps, lengths, beacons), then
    # maybe a cut at the end
    for at, value in draw(
        st.lists(st.tuples(st.integers(0, 1 << 30), st.integers(0, 255)), max_size=3)
    ):
        data[at % len(data)] = value
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    return bytes(data if cut is None else data[:cut])


chunk_cuts = st.lists(st.integers(0, 1 << 20), max_size=6)
batch_limits = st.lists(st.integers(1, 300), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files(), chunk_cuts, batch_limits, st.booleans(), st.booleans())
def test_decoder_paths_agree_on_random_damaged_files(data, cuts, limits, check_crc, stop_at_eos):
    both_paths_agree(data, cuts, limits, check_crc, stop_at_eos)


FIELDS = ("key", "timestamp", "payload", "checksum", "length")


@settings(max_examples=200, deadline=None)
@given(messages(), st.integers(128, 2048), st.data())
def test_decoder_paths_agree_on_each_kind_of_bad_frame(msgs, interval, data):
    """One field of one frame made bad: an invalid key byte, a timestamp out of range, a
    payload or checksum byte changed (checksum mismatch), a length changed."""
    clean = encode_file(interval, msgs)
    with path(False):
        frames = [e for e in decode_all(clean) if type(e) is Message]
    if not frames:
        return
    msg = data.draw(st.sampled_from(frames))
    field = data.draw(st.sampled_from(FIELDS))
    k = len(msg.stream_key)
    at = {
        "key": msg.offset + 1 + (data.draw(st.integers(0, k - 1)) if k else -1),
        "timestamp": msg.offset + 1 + k + 16,
        "payload": msg.offset + 1 + k + 28,
        "checksum": msg.offset + 1 + k + 28 + len(msg.payload),
        "length": msg.offset + 1 + k + 27,
    }[field]
    value = data.draw(st.sampled_from((0x00, 0xFF, ord("/"), ord("a"), 0x80)))
    damaged = bytearray(clean)
    if at < len(damaged):  # beacons may shift the real byte; any change is fine to compare
        damaged[at] = value
    cuts = data.draw(chunk_cuts)
    limits = data.draw(batch_limits)
    both_paths_agree(
        bytes(damaged), cuts, limits, data.draw(st.booleans()), data.draw(st.booleans())
    )


def test_decoder_paths_agree_on_the_golden_files(golden_dir):
    names = sorted(golden_dir.glob("*.ss"))
    assert names
    for name in names:
        data = name.read_bytes()
        for cuts, limits in (([], [1 << 30]), ([1, 200, 4097, 70000], [1, 7, 256])):
            log = both_paths_agree(data, cuts, limits)
            assert any(isinstance(e, tuple) and e[0] == "msg" for e in log) or len(data) < 300


def test_the_c_path_stops_for_every_unusual_frame():
    """Frames the C loop hands back to Python (new key, EOS, bad checksum, bad timestamp,
    bad key) in the middle of ordinary ones: same events and errors as the pure path."""
    good = [("k", 0, i, 10 + i, b"p%d" % i) for i in range(5)]
    data = bytearray(
        encode_file(1 << 20, [*good, ("other", 1, 0, 0, b"x"), EOS_MESSAGE, *good], eos=False)
    )
    with path(False):
        clean = decode_all(bytes(data))
    with path(True):
        assert [norm(e) for e in decode_all(bytes(data))] == [norm(e) for e in clean]
    offsets = [m.offset for m in clean[1:] if type(m) is Message]
    for damage in ("checksum", "timestamp", "key"):
        bad = bytearray(data)
        at = offsets[2]
        if damage == "checksum":
            bad[at + 1 + 1 + 28] ^= 1  # a payload byte
        elif damage == "timestamp":
            bad[at + 1 + 1 + 16] = 0xFF  # top byte of the timestamp
        else:
            bad[at + 1] = ord("/")  # not a stream key character
        log = both_paths_agree(bytes(bad), [], [1 << 30], True, False)
        errors = [e[1] for e in log if isinstance(e, tuple) and e[0] == "error"]
        assert errors == ["ChecksumMismatch" if damage == "checksum" else "FieldError"]


# ---- encoder ----------------------------------------------------------------------------------


bad_values = st.sampled_from((-1, U64 + 1, MAX_TIMESTAMP_MS + 1, 1.5, "7", None, True))


@st.composite
def encoder_calls(draw):
    """encode() calls, mostly valid, some with a value out of range or of the wrong type."""
    calls = []
    for key, shard, seq, ts, payload in draw(messages(40)):
        if draw(st.integers(0, 9)) == 0:
            which = draw(st.integers(0, 4))
            value = draw(
                st.one_of(
                    bad_values,
                    st.just("bad key!"),
                    st.just(K.INTERNAL_KEY),  # reserved: refused by both paths
                    st.just(bytearray(b"ba")),
                )
            )
            args = [key, shard, seq, ts, payload]
            args[which] = value
            calls.append(tuple(args))
        else:
            calls.append((key, shard, seq, ts, payload))
    return calls


def encode_log(interval: int, calls, resume: bool) -> list[object]:
    """Everything observable while encoding: return values or errors, bytes, final state."""
    header = FileHeader("t.ss", 1_700_000_000_000, interval)
    if resume:  # as an append would: mid-file, streams already known
        streams = {("a", 0): StreamState(5, 7, 0x1234, 3), ("b", 2): StreamState(1, 1)}
        enc = Encoder(header, offset=interval * 3 - 40, streams=streams, markers_emitted=5)
    else:
        enc = Encoder(header)
    enc.start()
    log: list[object] = []
    for call in calls:
        try:
            log.append(("crc", enc.encode(*call)))
        except Exception as err:  # noqa: BLE001 - the same exception either way is the point
            log.append(("error", type(err).__name__, str(err)))
        log.append(("offset", enc.offset, enc.pending))
    enc.end_of_stream(1_700_000_000_999)  # the one frame that carries the reserved key
    log.append(("bytes", enc.take()))
    log.append(("state", repr(enc.streams), enc.markers_emitted))
    return log


def test_the_c_path_never_encodes_the_reserved_key():
    """Even with the reserved key's bytes in the key cache (as during end_of_stream), the C
    function hands it back to Python, which refuses it outside end_of_stream."""
    kb = K.INTERNAL_KEY.encode("ascii")
    buf = bytearray()
    streams = {(K.INTERNAL_KEY, 0): StreamState(0, 0)}
    for payload in (b"EOS", b"data"):
        got = C.encode_frame(
            buf, 0, {K.INTERNAL_KEY: kb}, streams, K.INTERNAL_KEY, 0, 0, 1, payload, 128, 1 << 20
        )
        assert got is None and buf == bytearray()
    with path(True):
        enc = Encoder(FileHeader("t.ss", 0, 1 << 20))
        enc.start()
        with pytest.raises(EncodeError, match="reserved"):
            enc.encode(K.INTERNAL_KEY, 0, 1, 1, b"EOS")
        enc.end_of_stream(2)
        with pytest.raises(EncodeError, match="reserved"):
            enc.encode(K.INTERNAL_KEY, 0, 1, 1, b"EOS")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(st.integers(128, 1024), st.just(K.DEFAULT_BEACON_INTERVAL)),
    encoder_calls(),
    st.booleans(),
)
def test_encoder_paths_give_the_same_bytes_and_state(interval, calls, resume):
    with path(False):
        pure = encode_log(interval, calls, resume)
    with path(True):
        fast = encode_log(interval, calls, resume)
    assert fast == pure


def test_encoder_c_path_is_taken_and_agrees_on_a_big_run():
    msgs = [
        (f"s{i % 4}", i % 3, i // 4 + 1, 1_700_000_000_000 + i, bytes([i & 255]) * (i % 150))
        for i in range(5000)
    ]
    with path(False):
        pure = encode_file(1 << 16, msgs)
    calls = []
    real = C.encode_frame

    def counting(*args):
        got = real(*args)
        calls.append(got is not None)
        return got

    with path(True):
        encoder._ENCODE_FRAME = counting
        fast = encode_file(1 << 16, msgs)
    assert fast == pure
    assert sum(calls) > 4900  # all but the first frame of each stream and those at beacons


# ---- the core suites on the pure path ---------------------------------------------------------

CORE_SUITES = [
    "tests/test_decoder.py",
    "tests/test_encoder.py",
    "tests/test_reader_writer.py",
    "tests/test_append.py",
    "tests/test_fast_path.py",
    "tests/test_bad_input.py",
    "tests/test_on_damage.py",  # resync: the pure candidate test (issue 12)
    "tests/test_export.py",  # the columnar scan without the C twin (issue 17)
    "tests/test_columns_c.py",
]


@pytest.mark.slow
def test_core_suites_pass_on_the_pure_path():
    """The normal run of these suites uses the C path (when built); this runs them again
    with SSFILE_PURE=1."""
    env = {**os.environ, "SSFILE_PURE": "1"}
    got = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *CORE_SUITES],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert got.returncode == 0, got.stdout[-3000:] + got.stderr[-2000:]


class _InterruptedInit:
    """A finder whose ``ssfile._speedups`` fails as an interrupted C init does: an ImportError
    raised while handling the KeyboardInterrupt (PyCapsule_Import turns it into one)."""

    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name != "ssfile._speedups":
            return None
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise ImportError('PyCapsule_Import could not import module "datetime"') from None


def test_a_ctrl_c_while_the_accelerator_loads_is_not_taken_for_a_missing_build(monkeypatch):
    # found by tests/test_sigint.py: the Ctrl-C was lost and the codec fell back to pure Python
    monkeypatch.delenv("SSFILE_PURE", raising=False)
    monkeypatch.delitem(sys.modules, "ssfile._speedups", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_InterruptedInit(), *sys.meta_path])
    with pytest.raises(KeyboardInterrupt):
        accel.load()


def test_an_accelerator_that_is_not_built_is_none(monkeypatch):
    monkeypatch.delenv("SSFILE_PURE", raising=False)
    monkeypatch.setitem(sys.modules, "ssfile._speedups", None)  # import raises ImportError
    assert accel.load() is None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([128, 300, 1024, K.DEFAULT_BEACON_INTERVAL]),
    message_lists(max_messages=60, max_payload=3000),
    st.lists(st.integers(0, 5000), max_size=80),
    st.booleans(),
)
def test_output_drained_in_pieces_is_the_same_file_on_both_paths(interval, msgs, cuts, use_c):
    """The encoder's buffer is reused: drained through view() + consume() by pieces of any
    size between messages (as the writer does, short writes included), the output is the
    file encode_file gives, on the C and the pure path alike."""
    with path(False):
        whole = encode_file(interval, msgs, eos=False)
    with path(use_c):
        enc = Encoder(FileHeader("t.ss", 1_700_000_000_000, interval))
        enc.start()
        out = []
        for i, (key, shard, seq, ts, payload) in enumerate(msgs):
            enc.encode(key, shard, seq, ts, payload)
            if i < len(cuts):
                view = enc.view()
                n = min(cuts[i], len(view))
                out.append(bytes(view[:n]))
                view.release()
                enc.consume(n)
        out.append(enc.take())
        assert enc.pending == 0
    assert b"".join(out) == whole


def test_the_c_encoder_takes_long_payload_crcs_from_the_configured_function():
    """Payloads of 1 KiB or more get their CRC from the function configure_encoder was given
    (fastcrc's); a function that fails, answers nonsense or changes the key cache leaves the
    output what the pure path writes."""
    msgs = [("k", 0, i + 1, i, bytes([i]) * size) for i, size in enumerate([1023, 1024, 5000])]
    with path(False):
        pure = encode_file(1 << 20, msgs)
    seen: list[int] = []
    enc_box: list[Encoder] = []

    def counting(data):
        seen.append(len(data))
        return crc16_py(data)

    def broken(data):
        raise RuntimeError("no")

    def forgets_the_key(data):
        enc_box[0]._keys.clear()
        return crc16_py(data)

    def encode(fn) -> bytes:
        C.configure_encoder(
            StreamState, MAX_TIMESTAMP_MS, K.MAX_PAYLOAD, K.INTERNAL_KEY.encode("ascii"), fn
        )
        with path(True):
            enc = Encoder(FileHeader("t.ss", 1_700_000_000_000, 1 << 20))
            enc_box[:] = [enc]
            enc.start()
            for m in msgs:
                enc.encode(*m)
            enc.end_of_stream(99)
            return enc.take()

    try:
        assert encode(counting) == pure
        assert seen == [1024, 5000]  # the 3-byte EOS and 1023 bytes: the tables
        for fn in (broken, lambda data: -1, lambda data: 1 << 16, lambda data: "x"):
            assert encode(fn) == pure
        assert encode(forgets_the_key) == pure
        with pytest.raises(TypeError):
            encode(42)
    finally:
        C.configure_encoder(
            StreamState, MAX_TIMESTAMP_MS, K.MAX_PAYLOAD, K.INTERNAL_KEY.encode("ascii"), LONG_CRC
        )
