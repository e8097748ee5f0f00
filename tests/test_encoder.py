"""The sans-I/O encoder: byte-identical re-encoding of upstream files, and beacon placement
(positions, remaining bytes, markers, rotation) checked against an independent model of
notes §4.4 computed from the decoded messages."""

import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ss_strategies import encode_file, generator, message_lists

from ssfile.codec.decoder import decode_bytes
from ssfile.codec.encoder import Encoder
from ssfile.codec.events import EndOfStream
from ssfile.errors import EncodeError
from ssfile.format.crc import crc16_py
from ssfile.format.records import FileHeader
from ssfile.types import Message

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
GOLDEN = ["sample-1", "consumer", "multi-stream", "long-payloads", "no-eos"]


def reencode(data: bytes) -> bytes:
    events = decode_bytes(data)
    enc = Encoder(events[0])
    enc.start()
    for ev in events[1:]:
        if isinstance(ev, EndOfStream):
            enc.end_of_stream(ev.message.timestamp_ms)
        elif isinstance(ev, Message):
            enc.encode(ev.stream_key, ev.shard_id, ev.sequence, ev.timestamp_ms, ev.payload)
    return enc.take()


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_files_reencode_byte_identically(golden_dir, name):
    data = (golden_dir / f"{name}.ss").read_bytes()
    assert reencode(data) == data


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.ss")), ids=lambda p: p.stem)
def test_fixtures_reencode_byte_identically(path):
    data = path.read_bytes()
    assert reencode(data) == data


# ---- an independent model of beacon contents ---------------------------------------------------


def num_markers(interval: int) -> int:
    """notes §4.4: half of floor((I - 7) / 282), at most 255 before halving."""
    return min(255, (interval - 7) // 282) // 2 if interval >= 7 else 0


def expected_beacons(data: bytes) -> list[tuple[int, int, list[tuple]]]:
    """(offset, R, markers) for every boundary, from the frames alone."""
    gen = generator()
    interval = int.from_bytes(data[4 + data[3] + 8 : 4 + data[3] + 12], "big")
    demux = gen.Demux(data, interval)
    frames = []  # (logical start, logical end, key, shard, seq, ts, crc)
    pos = 0
    for e in gen.reference_decode(data)["events"]:
        if e["type"] == "beacon":
            continue
        payload = bytes.fromhex(e["payload"])
        size = 32 + len(e["stream_key"]) + len(payload)
        frames.append(
            (
                pos,
                pos + size,
                e["stream_key"],
                e["shard_id"],
                e["sequence"],
                e["timestamp"],
                crc16_py(payload),
            )
        )
        pos += size
    out, emitted = [], 0
    for k in range(1, (len(data) - 1) // interval + 1):
        logical = demux.logical_of(k * interval - 1) + 1 if k * interval > 128 else 0
        state: dict[tuple[str, int], list[int]] = {}
        remaining = 0
        for start, end, key, shard, seq, ts, crc in frames:
            if start >= logical:
                break
            st_ = state.setdefault((key, shard), [seq, ts, 0xFFFF])
            st_[0], st_[1] = max(st_[0], seq), max(st_[1], ts)
            st_[2] = crc16_py(crc.to_bytes(2, "big"), st_[2])  # running: CRC over BE16 CRCs
            remaining = max(0, end - logical)
        pairs = sorted(state, key=lambda p: (p[0].encode(), p[1]))
        chosen = []
        if pairs and num_markers(interval):
            first = emitted % len(pairs)
            chosen = (pairs[first:] + pairs)[: min(len(pairs), num_markers(interval))]
        emitted += len(chosen)
        out.append((k * interval, remaining, [(p[0], p[1], *state[p]) for p in chosen]))
    return out


def actual_beacons(data: bytes) -> list[tuple[int, int, list[tuple]]]:
    gen = generator()
    interval = int.from_bytes(data[4 + data[3] + 8 : 4 + data[3] + 12], "big")
    return [
        (
            b.offset,
            b.remaining_messages_bytes,
            [
                (
                    m.header.stream_key,
                    m.header.shard_id,
                    m.header.sequence,
                    m.header.timestamp_ms,
                    m.running_checksum,
                )
                for m in b.markers
            ],
        )
        for b in gen.Demux(data, interval).beacons
    ]


@pytest.mark.parametrize("name", ["consumer", "multi-stream", "long-payloads", "no-eos"])
def test_model_agrees_with_upstream_files(golden_dir, name):
    """The model itself is right: it reproduces every beacon the Rust writer wrote."""
    data = (golden_dir / f"{name}.ss").read_bytes()
    assert actual_beacons(data) == expected_beacons(data)


INTERVALS = st.one_of(
    st.sampled_from([128, 129, 255, 511, 640, 1023, 1024, 2048, 4096, 8192]), st.integers(128, 3000)
)


@settings(max_examples=80, deadline=None)
@given(interval=INTERVALS, data=st.data())
def test_beacons_at_any_interval(interval, data):
    msgs = data.draw(
        message_lists(
            max_messages=50, max_payload=data.draw(st.sampled_from([30, interval, 3 * interval]))
        )
    )
    eos = data.draw(st.booleans())
    raw = encode_file(interval, msgs, eos)
    beacons = actual_beacons(raw)
    # a beacon at every multiple of I inside the file, and the file never ends on one
    assert [b[0] for b in beacons] == list(range(interval, len(raw), interval))
    assert len(raw) % interval != 0 or len(raw) == 0
    assert beacons == expected_beacons(raw)


def test_interval_128_starts_with_an_empty_beacon():
    raw = encode_file(128, [], eos=False)
    assert raw[128:] == b"\x0d\x00\x00\x00\x00\x00\x0d"
    raw = encode_file(128, [("k", 0, 1, 2, b"x")], eos=False)
    assert raw[135] == 1 and raw[136:137] == b"k"


def test_frame_ending_exactly_on_a_boundary_is_followed_by_its_beacon():
    # header 128 + frame (32 + 1 + 95) = 256 = I
    raw = encode_file(256, [("k", 0, 1, 2, b"x" * 95)], eos=False)
    assert len(raw) == 256 + 7 and raw[256:] == b"\x0d\x00\x00\x00\x00\x00\x0d"


def test_take_returns_each_byte_once():
    enc = Encoder(FileHeader("f", 0, 1024))
    enc.start()
    parts = [enc.take()]
    for i in range(100):
        enc.encode("k", 0, i, i, bytes(i))
        if i % 7 == 0:
            parts.append(enc.take())
    parts.append(enc.take())
    assert enc.pending == 0
    whole = encode_file(
        1024, [("k", 0, i, i, bytes(i)) for i in range(100)], eos=False, name="f", created_at=0
    )
    assert b"".join(parts) == whole


@pytest.mark.parametrize("interval", [0, 1, 127])
def test_interval_below_128_is_refused(interval):
    with pytest.raises(EncodeError, match="beacon interval"):
        Encoder(FileHeader("f", 0, interval))


@pytest.mark.parametrize("bad", [1.5, "1", None])
def test_a_non_integer_shard_is_refused_before_any_state_changes(bad):
    """A float shard used to pass the range check, change the stream state and then fail in
    struct.pack: the encoder must refuse it with EncodeError and stay as it was."""
    from ssfile.codec.encoder import Encoder
    from ssfile.format.records import FileHeader

    def run(try_bad: bool) -> bytes:
        enc = Encoder(FileHeader("x.ss", 0, 1024))
        enc.start()
        enc.encode("a", 1, 1, 10, b"first")
        if try_bad:
            with pytest.raises(EncodeError):
                enc.encode("a", bad, 2, 11, b"bad")
        enc.encode("a", 1, 2, 12, b"second")
        enc.end_of_stream(13)
        return bytes(enc.take())

    assert run(True) == run(False)
