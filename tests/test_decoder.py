"""The sans-I/O decoder: chunking invariance, offsets, NEED_DATA protocol, error ordering.

Expected events come from the schema reference decode in fixtures/generate.py, never from
the decoder itself; "chunked" runs are compared with whole-input runs event by event, with
offsets (Message equality ignores offsets, so events are normalised first).
"""

import pathlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ss_strategies import encode_file, generator, small_files, split

from ssfile.codec.decoder import Decoder, decode_bytes
from ssfile.codec.events import NEED_DATA, EndOfStream
from ssfile.errors import ChecksumMismatch, FieldError, FormatError
from ssfile.format.records import Beacon, FileHeader
from ssfile.format.schema import parse_file_header
from ssfile.types import Message

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
GOLDEN = ["sample-1", "consumer", "multi-stream", "long-payloads", "no-eos"]
SMALL_FIXTURES = ["tiny", "interval-128", "binary-unicode", "appended-small", "empty", "empty-eos"]


def norm(ev: object) -> object:
    """An event as comparable data, offsets included."""
    gen = generator()
    if isinstance(ev, FileHeader):
        return ("header", gen.header_json(ev))
    if isinstance(ev, Beacon):
        return gen.beacon_json(ev)
    if isinstance(ev, EndOfStream):
        return gen._message_json("eos", ev.message, ev.message.payload, ev.offset)
    if isinstance(ev, Message):
        return gen._message_json("message", ev, ev.payload, ev.offset)
    return ev  # error tuples


def run(chunks, **options) -> list[object]:
    """Feed ``chunks`` one by one; events and errors (recoverable ones continue) in order."""
    dec = Decoder(**options)
    out: list[object] = []

    def pull() -> bool:
        while True:
            try:
                ev = dec.next_event()
            except ChecksumMismatch as err:
                out.append(("checksum", err.offset, err.stored, err.computed))
                continue
            except FormatError as err:
                out.append((type(err).__name__, err.offset))
                return True
            if ev is NEED_DATA or ev is None:
                return False
            out.append(norm(ev))

    for chunk in chunks:
        dec.feed(chunk)
        if pull():
            return out
    dec.feed_eof()
    pull()
    return out


def reference_events(data: bytes) -> list[object]:
    ref = generator().reference_decode(data)
    return [("header", ref["header"]), *ref["events"]]


# ---- chunking invariance -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def golden_bytes(golden_dir):
    return {name: (golden_dir / f"{name}.ss").read_bytes() for name in GOLDEN}


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_whole_equals_reference(golden_bytes, name):
    data = golden_bytes[name]
    assert run([data]) == reference_events(data)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(GOLDEN), cuts=st.lists(st.integers(0, 1 << 20), max_size=40))
def test_golden_any_chunking_gives_the_same_events(golden_bytes, name, cuts):
    data = golden_bytes[name]
    assert run(split(data, cuts)) == run([data])


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(sorted(p.stem for p in FIXTURES.glob("*.ss"))),
    cuts=st.lists(st.integers(0, 1 << 16), max_size=60),
)
def test_fixture_any_chunking_equals_reference(name, cuts):
    data = (FIXTURES / f"{name}.ss").read_bytes()
    assert run(split(data, cuts)) == reference_events(data)


@pytest.mark.parametrize("name", SMALL_FIXTURES)
def test_byte_by_byte_equals_whole(name):
    data = (FIXTURES / f"{name}.ss").read_bytes()
    whole = run([data])
    assert run([data[i : i + 1] for i in range(len(data))]) == whole
    assert whole == reference_events(data)


@settings(max_examples=60, deadline=None)
@given(spec=small_files(), cuts=st.lists(st.integers(0, 1 << 16), max_size=30))
def test_generated_files_any_chunking_equals_reference(spec, cuts):
    interval, msgs, eos = spec
    data = encode_file(interval, msgs, eos)
    assert run(split(data, cuts)) == reference_events(data)


# ---- offsets ---------------------------------------------------------------------------------------


def test_consumer_ss_offsets(golden_bytes):
    events = decode_bytes(golden_bytes["consumer"])
    msgs = {ev.sequence: ev.offset for ev in events if isinstance(ev, Message)}
    assert (msgs[0], msgs[20], msgs[21], msgs[99]) == (128, 1018, 1102, 4729)
    beacons = [
        (b.offset, b.index, b.remaining_messages_bytes) for b in events if isinstance(b, Beacon)
    ]
    assert beacons == [(1024, 1, 39), (2048, 2, 44), (3072, 3, 4), (4096, 4, 9)]
    assert isinstance(events[-1], EndOfStream) and events[-1].offset == 4774


@settings(max_examples=40, deadline=None)
@given(small_files())
def test_message_offsets_point_at_their_frames(spec):
    """The bytes at a message's offset start that frame: key length, then (if not cut) the key."""
    interval, msgs, eos = spec
    data = encode_file(interval, msgs, eos)
    for ev in decode_bytes(data):
        if isinstance(ev, Beacon):
            assert ev.offset == ev.index * interval and data[ev.offset] == 0x0D
        elif isinstance(ev, (Message, EndOfStream)):
            m = ev.message if isinstance(ev, EndOfStream) else ev
            assert m.offset % interval != 0 or m.offset == 0
            assert data[m.offset] == len(m.stream_key)
            room = interval - m.offset % interval
            if room > len(m.stream_key):
                assert (
                    data[m.offset + 1 : m.offset + 1 + len(m.stream_key)] == m.stream_key.encode()
                )


# ---- NEED_DATA protocol ------------------------------------------------------------------------------


def test_need_data_protocol():
    data = (FIXTURES / "tiny.ss").read_bytes()
    dec = Decoder()
    assert dec.next_event() is NEED_DATA
    dec.feed(data[:127])
    assert dec.next_event() is NEED_DATA and dec.buffered == 127 and dec.offset == 0
    dec.feed(data[127:140])
    header = dec.next_event()
    assert isinstance(header, FileHeader) and dec.header == header
    assert dec.next_event() is NEED_DATA and dec.offset == 128 and dec.buffered == 12
    dec.feed(data[140:])
    kinds = []
    while (ev := dec.next_event()) is not None:
        assert ev is not NEED_DATA
        kinds.append(type(ev).__name__)
    assert kinds == ["Message", "Message", "Message", "EndOfStream"]
    assert dec.ended and dec.next_event() is None and dec.next_event() is None


def test_end_of_input_after_whole_frames_is_clean():
    data = (FIXTURES / "no-eos.ss").read_bytes()
    dec = Decoder()
    dec.feed(data)
    events = []
    while (ev := dec.next_event()) is not NEED_DATA:
        events.append(ev)
    assert not dec.ended and dec.buffered == 0
    dec.feed_eof()
    assert dec.next_event() is None
    with pytest.raises(ValueError):
        dec.feed(b"more")


def test_bytes_after_eos_are_ignored_unless_asked():
    data = (FIXTURES / "tiny.ss").read_bytes() + b"garbage after the end"
    assert isinstance(decode_bytes(data)[-1], EndOfStream)
    with pytest.raises(FormatError):
        decode_bytes(data, stop_at_eos=False)
    events = decode_bytes((FIXTURES / "tiny.ss").read_bytes() * 1, stop_at_eos=False)
    assert isinstance(events[-1], EndOfStream)


# ---- errors: ordering, recoverable checksum, final others ---------------------------------------------


def _frames(data: bytes) -> list[dict]:
    return [e for e in reference_events(data)[1:] if e["type"] == "message"]


def _damage(data: bytes, offset: int, value: int) -> bytes:
    out = bytearray(data)
    out[offset] ^= value
    return bytes(out)


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(["multi-1024", "spanning", "interval-128", "binary-unicode"]),
    pick=st.integers(0, 1 << 16),
    cuts=st.lists(st.integers(0, 1 << 16), max_size=12),
)
def test_checksum_mismatch_is_recoverable(name, pick, cuts):
    data = (FIXTURES / f"{name}.ss").read_bytes()
    frames = [f for f in _frames(data) if f["payload"]]
    victim = frames[pick % len(frames)]
    payload_end = _payload_last_byte(data, victim)
    bad = _damage(data, payload_end, 0x01)
    got = run(split(bad, cuts))
    want = reference_events(data)
    i = want.index(victim)
    assert got[:i] == want[:i]
    err = got[i]
    assert err[0] == "checksum" and err[1] == victim["offset"] and err[2] != err[3]
    assert got[i + 1 :] == want[i + 1 :]


def _payload_last_byte(data: bytes, frame: dict) -> int:
    """Physical offset of the last payload byte of ``frame`` (walking round beacons)."""
    demux = generator().Demux(data, parse_file_header(data[:128]).beacon_interval)
    logical = demux.logical_of(frame["offset"])
    n = len(frame["payload"]) // 2
    return demux.physical(logical + 1 + len(frame["stream_key"]) + 28 + n - 1)


@pytest.mark.parametrize("name", ["multi-1024", "spanning"])
def test_field_error_comes_after_every_prior_event_and_is_final(name):
    data = (FIXTURES / f"{name}.ss").read_bytes()
    frames = _frames(data)
    victim = frames[len(frames) // 2]
    bad = bytearray(data)
    bad[victim["offset"] + 1] = ord("!")  # first key byte (keys here are never cut at byte 1)
    want = reference_events(data)
    i = want.index(victim)
    while want[i - 1]["type"] == "beacon" and want[i - 1]["offset"] > victim["offset"]:
        i -= 1  # beacons cutting the bad frame belong to it
    got = run([bytes(bad)])
    assert got == want[:i] + [("FieldError", victim["offset"])]
    dec = Decoder()
    dec.feed(bytes(bad))
    dec.feed_eof()
    with pytest.raises(FieldError):
        while dec.next_event() is not None:
            pass
    for _ in range(2):  # final: the same error again, no more events
        with pytest.raises(FieldError) as info:
            dec.next_event()
        assert info.value.offset == victim["offset"]


# ---- truncation ---------------------------------------------------------------------------------------


def units(data: bytes) -> list[tuple[int, int, list[object]]]:
    """(start, end, events) of each record a decoder completes at once: a beacon standing
    between frames, or a frame together with the beacons that cut it."""
    events = reference_events(data)
    out = [(0, 128, events[:1])]
    pending: list[dict] = []
    for e in events[1:]:
        if e["type"] == "beacon":
            pending.append(e)
            continue
        inner = [b for b in pending if b["offset"] > e["offset"]]
        for b in pending:
            if b["offset"] < e["offset"]:
                out.append((b["offset"], b["offset"] + b["size"], [b]))
        size = 32 + len(e["stream_key"]) + len(e["payload"]) // 2 + sum(b["size"] for b in inner)
        out.append((e["offset"], e["offset"] + size, [*inner, e]))
        pending = []
    out += [(b["offset"], b["offset"] + b["size"], [b]) for b in pending]
    return out


@settings(max_examples=60, deadline=None)
@given(
    spec=small_files(),
    cut=st.integers(0, 1 << 16),
    chunks=st.lists(st.integers(0, 1 << 16), max_size=6),
)
def test_truncation_gives_every_whole_record_then_the_offset(spec, cut, chunks):
    interval, msgs, eos = spec
    data = encode_file(interval, msgs, eos)
    cut %= len(data) + 1
    expected: list[object] = []
    error = None
    for start, end, evs in units(data):
        if end > cut:
            if cut > start or start == 0:  # an empty input has no header: torn too
                error = ("TruncatedError", start)
            break
        expected += evs
    if error:
        expected.append(error)
    assert run(split(data[:cut], chunks)) == expected


@pytest.mark.parametrize("cut", [0, 1, 2, 3, 4, 50, 127])
def test_truncated_header(cut):
    data = (FIXTURES / "tiny.ss").read_bytes()
    got = run([data[:cut]])
    assert len(got) == 1 and got[0][0] == "TruncatedError"
    assert got[0][1] == 0  # where the torn record (the header) starts


# ---- starting mid-file (what a seek does) --------------------------------------------------------------


@pytest.mark.parametrize("name", ["spanning", "multi-1024", "interval-128"])
def test_start_on_a_beacon_skipping_the_cut_frame(name):
    data = (FIXTURES / f"{name}.ss").read_bytes()
    events = reference_events(data)
    header = decode_bytes(data[:128])[0]
    for b in [e for e in events[1:] if e["type"] == "beacon"]:
        got = run(
            [data[b["offset"] :]],
            start_offset=b["offset"],
            header=header,
            skip=b["remaining_messages_bytes"],
        )
        want_msgs = [e for e in events[1:] if e["type"] != "beacon" and e["offset"] > b["offset"]]
        assert [e for e in got if e["type"] != "beacon"] == want_msgs
        assert all(e in events for e in got)
