"""ssfile.verify / ``ssfile verify``: every check, with offsets computed from the file itself."""

from __future__ import annotations

import json
import random

import pytest

import ssfile
from ssfile.check import verify, verify_bytes
from ssfile.cli import main
from ssfile.codec.decoder import decode_bytes
from ssfile.codec.encoder import Encoder, StreamState
from ssfile.codec.events import EndOfStream
from ssfile.format.crc import crc16
from ssfile.format.records import Beacon, FileHeader
from ssfile.types import Message

T0 = 1_700_000_000_000
GOLDEN = ["sample-1", "consumer", "multi-stream", "long-payloads", "no-eos"]


def build(
    tmp_path, interval=1024, n=60, eos=True, name="v.ss", payload=lambda i: b"payload-%d" % i * 3
):
    path = tmp_path / name
    with ssfile.open(path, "w", beacon_interval=interval, created_at=T0) as w:
        for i in range(n):
            w.write(
                payload(i),
                stream_key=("alpha", "beta")[i % 2],
                shard_id=i % 3,
                sequence=i // 6 + 1,
                timestamp=T0 + i,
            )
        w.close(eos=eos)
    return path


def events(data):
    return decode_bytes(data, stop_at_eos=False)


def messages(data):
    return [e for e in events(data) if isinstance(e, Message)]


def codes(diag, severity=None):
    return [p.code for p in diag.problems if severity is None or p.severity == severity]


# ---- clean files -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_files_are_clean(golden_dir, name):
    path = golden_dir / f"{name}.ss"
    diag = verify(path)
    assert diag.clean and diag.problems == [], [str(p) for p in diag.problems]
    evs = events(path.read_bytes())
    assert diag.intact_messages == sum(isinstance(e, Message) for e in evs)  # EOS: no message
    assert len(diag.eos_offsets) == sum(isinstance(e, EndOfStream) for e in evs)
    assert diag.beacons == sum(isinstance(e, Beacon) for e in evs)
    assert diag.damaged_messages == 0 and diag.unreadable == []
    assert diag.exit_code() == 0


def test_golden_markers_are_really_checked(golden_dir):
    """A marker altered by one bit in an upstream file is an error at that beacon."""
    data = bytearray((golden_dir / "consumer.ss").read_bytes())
    beacon = next(e for e in events(bytes(data)) if isinstance(e, Beacon) and e.markers)
    data[beacon.offset + beacon.size - 2] ^= 0x01  # low byte of the running checksum
    diag = verify_bytes(bytes(data))
    bad = [p for p in diag.problems if p.code == "beacon-marker"]
    assert [p.offset for p in bad] == [beacon.offset]
    assert bad[0].stream_key == "hello" and bad[0].shard_id == 1


def test_project_fixtures_have_no_errors():
    import pathlib

    for path in sorted((pathlib.Path(__file__).parent.parent / "fixtures").glob("*.ss")):
        diag = verify(path)
        assert diag.clean, (path, [str(p) for p in diag.errors])


# ---- frames ----------------------------------------------------------------------------------


def test_bad_checksum_names_offset_stream_and_sequence(tmp_path):
    data = bytearray(build(tmp_path).read_bytes())
    msgs = messages(bytes(data))
    victim = msgs[7]
    data[victim.offset + 1 + len(victim.stream_key) + 28 + 2] ^= 0x40  # inside its payload
    diag = verify_bytes(bytes(data))
    bad = [p for p in diag.problems if p.code == "bad-checksum"]
    assert len(bad) == 1
    p = bad[0]
    assert (p.offset, p.stream_key, p.shard_id, p.sequence) == (
        victim.offset,
        victim.stream_key,
        victim.shard_id,
        victim.sequence,
    )
    assert diag.damaged_messages == 1
    assert diag.intact_messages == len(msgs) - 1  # the others (the EOS is no message)
    assert diag.exit_code() == 1


def test_frame_separator_is_a_warning(tmp_path):
    data = bytearray(build(tmp_path).read_bytes())
    first, second = messages(bytes(data))[:2]
    data[second.offset - 1] = 0x0A
    diag = verify_bytes(bytes(data))
    assert codes(diag) == ["frame-separator"]
    assert diag.problems[0].offset == second.offset - 1
    assert diag.problems[0].sequence == first.sequence
    assert diag.clean and diag.exit_code() == 0 and diag.exit_code(strict=True) == 1


def test_several_problems_are_all_reported(tmp_path):
    data = bytearray(build(tmp_path, n=80).read_bytes())
    msgs = messages(bytes(data))
    for m in (msgs[3], msgs[40], msgs[70]):
        data[m.offset + 1 + len(m.stream_key) + 30] ^= 0x01
    diag = verify_bytes(bytes(data))
    assert [p.offset for p in diag.problems if p.code == "bad-checksum"] == [
        msgs[3].offset,
        msgs[40].offset,
        msgs[70].offset,
    ]


def test_order_warnings(tmp_path):
    path = tmp_path / "order.ss"
    with ssfile.open(path, "w", beacon_interval=1024, created_at=T0) as w:
        w.write(b"a", stream_key="s", sequence=5, timestamp=T0 + 10)
        w.write(b"b", stream_key="s", sequence=4, timestamp=T0 + 5)
        w.write(b"c", stream_key="t", sequence=1, timestamp=T0)
    diag = verify(path)
    assert sorted(codes(diag, "warning")) == ["sequence-order", "time-order"]
    assert {p.stream_key for p in diag.problems} == {"s"}
    assert diag.clean


# ---- header ----------------------------------------------------------------------------------


def test_bad_magic_and_version_on_an_otherwise_sound_file(tmp_path):
    data = bytearray(build(tmp_path).read_bytes())
    data[0:3] = b"XY\x02"
    diag = verify_bytes(bytes(data))
    assert {"bad-magic", "bad-version"} <= set(codes(diag, "error"))
    assert diag.readable and diag.exit_code() == 1
    assert diag.intact_messages == len(messages(build(tmp_path, name="again.ss").read_bytes()))


def test_padding_and_terminator_are_warnings(tmp_path):
    data = bytearray(build(tmp_path).read_bytes())
    data[100] = 7
    data[127] = 0x0A
    diag = verify_bytes(bytes(data))
    assert [(p.code, p.offset) for p in diag.problems] == [
        ("header-padding", 100),
        ("header-padding", 127),
    ]
    assert diag.clean


def test_damaged_interval_is_found_from_the_beacons(tmp_path):
    clean = build(tmp_path, interval=256, n=80).read_bytes()
    data = bytearray(clean)
    n = data[3]
    data[12 + n + 2] ^= 0x04  # 256 -> 1280
    diag = verify_bytes(bytes(data))
    assert "bad-interval" in codes(diag, "error")
    assert diag.scan_interval == 256
    assert diag.intact_messages == len(events(clean)) - sum(
        isinstance(e, (Beacon, FileHeader, EndOfStream)) for e in events(clean)
    )
    assert diag.unreadable == []


@pytest.mark.parametrize("content", [b"", b"S", b"Ss\x01\x05abc"])
def test_truncated_header(content):
    diag = verify_bytes(content)
    assert codes(diag) == (
        ["truncated-header"] if content[:1] in (b"", b"S") else ["truncated-header"]
    )
    # no whole header, nothing to read: not a .ss file at all (exit 2, as `verify --help`
    # and `decode` say), an empty file included
    assert not diag.readable and diag.exit_code() == 2


def test_not_an_ss_file_at_all():
    rng = random.Random(5)
    junk = bytes(rng.randrange(256) for _ in range(3000))
    diag = verify_bytes(b"PK" + junk)
    assert not diag.readable and diag.exit_code() == 2
    assert verify_bytes(b"hello world\n" * 20).exit_code() == 2


# ---- beacons ---------------------------------------------------------------------------------


def test_remaining_bytes_mismatch(tmp_path):
    data = bytearray(build(tmp_path, interval=256, n=40).read_bytes())
    beacon = [e for e in events(bytes(data)) if isinstance(e, Beacon)][2]
    data[beacon.offset + 4] ^= 0x02
    diag = verify_bytes(bytes(data))
    assert [(p.code, p.offset) for p in diag.problems] == [("beacon-remaining", beacon.offset)]
    assert diag.unreadable == []


def test_marker_for_an_unknown_stream(tmp_path):
    data = bytearray(build(tmp_path, interval=1024, n=60).read_bytes())
    beacon = next(e for e in events(bytes(data)) if isinstance(e, Beacon) and e.markers)
    key = beacon.markers[0].header.stream_key.encode()
    at = bytes(data).index(key, beacon.offset)
    data[at] = ord("z")  # "alpha" -> "zlpha": still a valid key, never written
    diag = verify_bytes(bytes(data))
    bad = [p for p in diag.problems if p.code == "beacon-marker"]
    assert [p.offset for p in bad] == [beacon.offset]


def _sessions(first, second, *, seed_last_crc=False, interval=640):
    """Bytes of a file written by two writer sessions, the second with upstream's fresh state."""
    header = FileHeader("app.ss", T0, interval)
    enc = Encoder(header)
    enc.start()
    last = {}
    for key, seq, payload in first:
        last[key] = (seq, crc16(payload))
        enc.encode(key, 0, seq, T0 + seq, payload)
    data = enc.take()
    streams = {}
    if seed_last_crc:  # upstream pre-loads the key that triggered its scan with that frame's CRC
        key = first[-1][0]
        seq, crc = last[key]
        streams[(key, 0)] = StreamState(seq, T0 + seq, running=crc)
    enc2 = Encoder(header, offset=len(data), streams=streams)
    enc2.start()
    for key, seq, payload in second:
        enc2.encode(key, 0, seq, T0 + seq, payload)
    return data + enc2.take()


@pytest.mark.parametrize("seeded", [False, True])
def test_upstream_append_restarts_are_warnings(seeded):
    first = [(k, i, b"x%d" % i * 9) for i, k in ((i, ("a", "b")[i % 2]) for i in range(1, 40))]
    second = [(k, i, b"y%d" % i * 9) for i, k in ((i, ("a", "b")[i % 2]) for i in range(40, 90))]
    data = _sessions(first, second, seed_last_crc=seeded)
    diag = verify_bytes(data)
    assert diag.clean, [str(p) for p in diag.errors]
    assert "beacon-restarted" in codes(diag, "warning")
    assert diag.intact_messages == len(first) + len(second)


# ---- the end of the file ---------------------------------------------------------------------


def test_data_after_eos(tmp_path):
    path = build(tmp_path, n=10)
    more = build(tmp_path, n=3, eos=False, name="more.ss").read_bytes()[128:]
    data = path.read_bytes() + more
    diag = verify_bytes(data)
    after = [p for p in diag.problems if p.code == "data-after-eos"]
    assert len(after) == 1 and after[0].offset == len(path.read_bytes())
    assert diag.intact_messages == 10 + 3 and len(diag.eos_offsets) == 1


def test_missing_beacon_at_the_end(tmp_path):
    path = tmp_path / "exact.ss"
    with ssfile.open(path, "w", beacon_interval=256, created_at=T0) as w:
        w.write(b"p" * 95, stream_key="k", timestamp=T0)  # 32 + 1 + 95 = 128: ends at 256
        w.write(b"more", stream_key="k", timestamp=T0)
    data = path.read_bytes()
    beacon = next(e for e in events(data) if isinstance(e, Beacon))
    assert (beacon.offset, beacon.remaining_messages_bytes) == (256, 0)
    assert verify_bytes(data).clean
    diag = verify_bytes(data[:256])
    assert codes(diag) == ["missing-beacon"]
    assert diag.problems[0].offset == 256


def test_torn_tail_offset(tmp_path):
    data = build(tmp_path, n=20).read_bytes()
    last = messages(data)[-1]
    diag = verify_bytes(data[: last.offset + 5])
    assert [(p.code, p.offset) for p in diag.problems] == [("torn-tail", last.offset)]
    assert diag.unreadable == [(last.offset, last.offset + 5)]


# ---- CLI -------------------------------------------------------------------------------------


def test_cli_text_and_exit_codes(tmp_path, capsys):
    path = build(tmp_path)
    assert main(["verify", str(path)]) == 0
    out = capsys.readouterr().out
    assert "clean: 0 errors" in out
    data = bytearray(path.read_bytes())
    m = messages(bytes(data))[2]
    data[m.offset + 40] ^= 1
    bad = tmp_path / "bad.ss"
    bad.write_bytes(bytes(data))
    assert main(["verify", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"offset {m.offset:>10}" in out and "DAMAGED" in out


def test_cli_json(tmp_path, capsys):
    data = bytearray(build(tmp_path).read_bytes())
    data[127] = 0
    path = tmp_path / "j.ss"
    path.write_bytes(bytes(data))
    assert main(["verify", "--json", str(path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["clean"] is True and doc["readable"] is True
    assert doc["problems"] == [
        {
            "severity": "warning",
            "code": "header-padding",
            "offset": 127,
            "message": "header terminator is 0x00, not 0x0D",
        }
    ]
    assert doc["summary"]["intact_messages"] == 60
    assert doc["header"]["beacon_interval"] == 1024
    assert main(["verify", "--strict", str(path)]) == 1


def test_cli_unreadable_inputs(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "missing.ss")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.ss" in err
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a recording\n" * 30)
    assert main(["verify", str(junk)]) == 2
    assert "not a .ss file" in capsys.readouterr().err
