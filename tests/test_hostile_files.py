"""Hostile files never produce a traceback (issue 12, item 5 and its whole class).

Files are built hostile: every header field mutated (magic, version, name length, name
bytes, created_at, beacon interval, padding), frames crafted with huge lengths, out-of-range
timestamps, bad and non-UTF-8 stream keys, beacon markers with bad fields, random bytes,
flipped bytes, cuts at every interesting offset, an empty file and one byte.  Every
file-reading entry point reads each one: the CLI commands through ``ssfile.cli.main`` with
captured output (and a few real subprocesses), the library calls and the viewer's model and
API.  What must hold, whatever the bytes:

* no exception other than the documented ones escapes (the CLI: none at all; the library:
  :class:`ssfile.SSError`; the viewer API: its ``ApiError``), so no traceback is printed;
* the exit code is one the command documents;
* an error on stderr is one line naming the path and an offset;
* JSON output is valid JSON (never a formatted out-of-range time).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import pathlib
import struct
import subprocess
import sys
import traceback
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ss_strategies import encode_file

import ssfile
from ssfile.cli import main
from ssfile.codec.decoder import decode_bytes
from ssfile.format.crc import crc16_py
from ssfile.format.records import Beacon
from ssfile.types import MAX_TIMESTAMP_MS, Message
from ssfile.view import jobs, model
from ssfile.view.api import Api, ApiError

T0 = 1_700_000_000_000
INTERVAL = 640  # one marker per beacon: marker fields can be mutated too
BIG_TIMES = (MAX_TIMESTAMP_MS + 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1)


def _base() -> bytes:
    msgs = [
        (key, i % 2, i, T0 + 10 * i, (b"payload-%d-" % i) * (1 + i % 7))
        for i, key in enumerate(["a", "bb", "c.c", "a", "bb", "a", "dd-d", "a"] * 3)
    ]
    return encode_file(INTERVAL, msgs, eos=True, name="hostile.ss", created_at=T0)


BASE = _base()
EVENTS = decode_bytes(BASE)
FRAMES = [e.offset for e in EVENTS if isinstance(e, Message)]
BEACONS = [e.offset for e in EVENTS if isinstance(e, Beacon)]
NAME_LEN = BASE[3]
assert len(BEACONS) >= 3 and len(FRAMES) > 20


def raw_frame(
    key: bytes = b"k",
    shard: int = 0,
    seq: int = 1,
    ts: int = T0,
    payload: bytes = b"x",
    length: int | None = None,
    checksum: int | None = None,
) -> bytes:
    """A frame with every field chosen by the caller (lengths need not be true)."""
    return (
        bytes([len(key)])
        + key
        + struct.pack(">QQQI", shard, seq, ts, len(payload) if length is None else length)
        + payload
        + struct.pack(">H", crc16_py(payload) if checksum is None else checksum)
        + b"\r"
    )


def put(data: bytes, offset: int, value: bytes) -> bytes:
    """``data`` with ``value`` written over it at ``offset`` (the length stays)."""
    out = bytearray(data)
    value = value[: max(0, len(out) - offset)]
    out[offset : offset + len(value)] = value
    return bytes(out)


# ---- hostile files ----------------------------------------------------------------------------

u64 = st.one_of(st.sampled_from(BIG_TIMES + (0, MAX_TIMESTAMP_MS)), st.integers(0, (1 << 64) - 1))
u32 = st.one_of(
    st.sampled_from((0, 1, 127, 128, 129, (1 << 32) - 1)), st.integers(0, (1 << 32) - 1)
)
key_bytes = st.one_of(
    st.sampled_from([b"", b"\xff\xfe", b"bad key", b"x" * 250, b"\xc3\xa9", b"a" * 255]),
    st.binary(max_size=20),
)


@st.composite
def header_mutants(draw) -> bytes:
    """The base file with one header field set to a hostile value."""
    field = draw(
        st.sampled_from(
            ["magic", "version", "name_len", "name", "created_at", "interval", "padding"]
        )
    )
    n = NAME_LEN
    if field == "magic":
        return put(BASE, 0, draw(st.binary(min_size=2, max_size=2)))
    if field == "version":
        return put(BASE, 2, bytes([draw(st.integers(0, 255))]))
    if field == "name_len":
        return put(BASE, 3, bytes([draw(st.integers(0, 255))]))
    if field == "name":
        return put(BASE, 4, draw(st.binary(min_size=1, max_size=n)))
    if field == "created_at":
        return put(BASE, 4 + n, struct.pack(">Q", draw(u64)))
    if field == "interval":
        return put(BASE, 12 + n, struct.pack(">I", draw(u32)))
    start = 16 + n
    return put(BASE, draw(st.integers(start, 127)), draw(st.binary(min_size=1, max_size=8)))


@st.composite
def frame_mutants(draw) -> bytes:
    """The base file with one field of one frame (or beacon marker) set to a hostile value."""
    at = draw(st.sampled_from(FRAMES))
    k = BASE[at]
    field = draw(st.sampled_from(["key_len", "key", "shard_seq", "ts", "length", "marker_ts"]))
    if field == "key_len":
        return put(BASE, at, bytes([draw(st.integers(0, 255))]))
    if field == "key":
        return put(BASE, at + 1, draw(st.binary(min_size=1, max_size=max(1, k))))
    if field == "shard_seq":
        return put(BASE, at + 1 + k + draw(st.sampled_from((0, 8))), struct.pack(">Q", draw(u64)))
    if field == "ts":
        return put(BASE, at + 1 + k + 16, struct.pack(">Q", draw(u64)))
    if field == "length":
        return put(BASE, at + 1 + k + 24, struct.pack(">I", draw(u32)))
    beacon = draw(st.sampled_from(BEACONS))  # first marker's key length, then its timestamp
    mk = BASE[beacon + 6]
    return put(BASE, beacon + 6 + 1 + mk + 16, struct.pack(">Q", draw(u64)))


@st.composite
def crafted_files(draw) -> bytes:
    """A good header, then good frames, then one crafted frame, then maybe more good data."""
    cut = draw(st.sampled_from(FRAMES[:6]))
    frame = raw_frame(
        draw(key_bytes),
        draw(u64),
        draw(u64),
        draw(st.one_of(st.sampled_from(BIG_TIMES), st.integers(0, MAX_TIMESTAMP_MS))),
        draw(st.binary(max_size=40)),
        draw(st.one_of(st.none(), u32)),
        draw(st.one_of(st.none(), st.integers(0, 0xFFFF))),
    )
    tail = BASE[cut:] if draw(st.booleans()) else b""
    data = BASE[:cut] + frame + tail
    return data[: draw(st.integers(len(BASE[:cut]) + 1, len(data)))] if tail else data


@st.composite
def flipped_files(draw) -> bytes:
    """The base file with a few bytes set to random values."""
    out = bytearray(BASE)
    for _ in range(draw(st.integers(1, 6))):
        out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
    return bytes(out)


random_files = st.one_of(
    st.binary(max_size=3000),
    st.binary(max_size=3000).map(lambda b: b"Ss\x01" + b),
    st.binary(min_size=200, max_size=3000).map(lambda b: BASE[:128] + b),
)
hostile_files = st.one_of(
    header_mutants(), frame_mutants(), crafted_files(), flipped_files(), random_files
)


def interesting_offsets() -> list[int]:
    """Cuts: inside the header and at each of its fields, and around every record."""
    n = NAME_LEN
    points = {0, 1, 2, 3, 4, 4 + n, 12 + n, 16 + n, 127, 128, 129, len(BASE) - 1}
    for at in FRAMES + BEACONS:
        points |= {at - 1, at + 1, at + 1 + BASE[at] + 16, at + 1 + BASE[at] + 28}
    return sorted(p for p in points if 0 <= p < len(BASE))


# ---- the entry points -------------------------------------------------------------------------

#: (argv before the path, argv after it, exit codes the command documents)
COMMANDS = [
    (["decode"], [], {0, 1, 2}),
    (["decode", "--format", "ndjson"], [], {0, 1, 2}),
    (["decode", "--header-only"], [], {0, 1, 2}),
    (["info"], [], {0, 1, 2}),
    (["info", "--json"], [], {0, 1, 2}),
    (["verify"], [], {0, 1, 2}),
    (["verify", "--json"], [], {0, 1, 2}),
    (["cat"], [], {0, 1, 2}),
    (["cat", "--format", "ndjson"], [], {0, 1, 2}),
    (["repair"], ["-o", "{out}", "--force"], {0, 2, 3}),
    (["repair", "--json"], ["-o", "{out}", "--force"], {0, 2, 3}),
    (["relay", "--no-follow", "--output", "stdio:///", "--input"], [], {0, 1, 2}),
]


def run_cli(argv: list[str]) -> tuple[int, bytes, str]:
    """``ssfile ARGV`` in this process: (exit code, stdout bytes, stderr text).  Anything
    that escapes ``main`` would be a traceback: it fails the test with that traceback."""
    out, err = io.BytesIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout = text = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    sys.stderr = err
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse only
        rc = exc.code if isinstance(exc.code, int) else 2
    except BaseException:  # noqa: BLE001 - the very thing this module looks for
        failure = traceback.format_exc()
    else:
        failure = None
    finally:
        text.flush()
        text.detach()
        sys.stdout, sys.stderr = saved
    if failure is not None:
        pytest.fail(f"ssfile {' '.join(argv)} raised:\n{failure}")
    return rc, out.getvalue(), err.getvalue()


def check_error_line(err: str, command: str, path: str) -> None:
    if not err:
        return
    assert "Traceback" not in err, err
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    assert err.startswith(f"ssfile {command}: error: "), err
    assert path in err, f"no path in {err!r}"
    assert "offset" in err, f"no offset in {err!r}"


def check_cli(path: pathlib.Path) -> dict[str, int]:
    """Every CLI command on ``path``; returns the exit codes by command line."""
    codes = {}
    out_path = str(path.with_suffix(".repaired.ss"))
    for before, after, allowed in COMMANDS:
        target = f"file://{path}/SEA_STREAMER_WILDCARD" if before[0] == "relay" else str(path)
        argv = [*before, target, *[a.format(out=out_path) for a in after]]
        rc, out, err = run_cli(argv)
        label = " ".join(before)
        assert rc in allowed, f"ssfile {label}: exit {rc} not in {sorted(allowed)}; {err!r}"
        check_error_line(err, before[0], str(path))
        if "--json" in before and out:
            json.loads(out)  # valid JSON: no out-of-range time formatted, nothing else mixed in
        if "ndjson" in before:
            for line in out.splitlines():
                if not line.startswith(b"/*"):
                    json.loads(line)
        codes[label] = rc
    return codes


def check_library_error(err: ssfile.SSError) -> None:
    text = str(err)
    assert "\n" not in text, text
    if isinstance(err, ssfile.FormatError):
        assert err.offset is not None and f"offset {err.offset}" in text, text


def library(call) -> object:  # type: ignore[no-untyped-def]
    """``call()``; an SSError is allowed (and checked), anything else fails the test."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call()
    except ssfile.SSError as err:
        check_library_error(err)
        return err


def read_all(path, **kw):  # type: ignore[no-untyped-def]
    with ssfile.open(path, **kw) as r:
        return list(r)


def seek_then_read(path, ms):  # type: ignore[no-untyped-def]
    with ssfile.open(path, check_crc=False) as r:
        r.seek_time(ms)
        return list(r)


async def read_async(path):  # type: ignore[no-untyped-def]
    async with ssfile.aopen(path) as r:
        return [m async for m in r]


def slice_of(path):  # type: ignore[no-untyped-def]
    with ssfile.open(path) as r:
        return [m for b in ssfile.Slice(since=T0 + 30, until=T0 + 120).batches(r) for m in b]


def append_to_copy(path: pathlib.Path) -> None:
    """Appending to a hostile file: it works (a torn tail is cut) or the file is untouched."""
    copy = path.with_suffix(".append.ss")
    copy.write_bytes(path.read_bytes())
    before = copy.read_bytes()
    try:
        with ssfile.open(copy, "a") as w:
            w.write(b"more", stream_key="appended")
    except ssfile.SSError as err:
        check_library_error(err)
        assert copy.read_bytes() == before, "a refused append changed the file"


def check_library(path: pathlib.Path) -> None:
    p = str(path)
    library(lambda: asyncio.run(read_async(p)))
    library(lambda: slice_of(p))
    library(lambda: read_all(p))
    library(lambda: read_all(p, check_crc=False, tolerate_truncation=True))
    library(lambda: seek_then_read(p, T0 + 100))
    library(lambda: seek_then_read(p, MAX_TIMESTAMP_MS))
    library(lambda: ssfile.to_numpy(p))
    library(lambda: ssfile.to_pandas(p, tolerate_truncation=True))
    library(lambda: ssfile.stats(p))
    diag = ssfile.verify(p)  # never raises on content
    json.dumps(diag.to_json_dict())
    append_to_copy(path)


def check_viewer(path: pathlib.Path) -> None:
    p = str(path)
    size = path.stat().st_size
    library(lambda: model.page_after(p, 0))
    library(lambda: model.page_before(p, size + 1))
    library(lambda: model.find_time(p, T0 + 50))
    library(lambda: model.message_at(p, 128))
    results = {}
    for name in jobs.JOBS:  # the board reports an SSError to the page; nothing else may escape
        results[name] = got = library(lambda name=name: jobs.in_process(name, p))
        if isinstance(got, dict):
            json.dumps(got)

    def ran_above(name: str, path: str) -> dict[str, object]:
        got = results[name]
        if isinstance(got, BaseException):
            raise got
        return got  # type: ignore[return-value]

    board = jobs.JobBoard(p, runner=ran_above)
    api = Api(p, board)
    try:
        for route, query in [
            ("messages", {}),
            ("messages", {"before": [str(size + 1)]}),
            ("message", {"offset": ["128"]}),
            ("summary", {}),
        ]:
            try:
                json.dumps(api.handle(route, query))
            except ApiError as err:
                assert err.status in (400, 404, 422) and "\n" not in err.message
    finally:
        board.wait()  # the summary route starts the jobs: let them finish with this file
        board.close()


def check_everything(path: pathlib.Path, data: bytes) -> None:
    path.write_bytes(data)
    check_cli(path)
    check_library(path)
    check_viewer(path)


#: examples per fuzz test: modest by default (the suite stays fast); a long local hunt:
#: SSFILE_FUZZ_EXAMPLES=2000 SSFILE_FUZZ_RANDOM=1 pytest tests/test_hostile_files.py
FUZZ = settings(
    max_examples=int(os.environ.get("SSFILE_FUZZ_EXAMPLES", "25")),
    deadline=None,
    derandomize=not os.environ.get("SSFILE_FUZZ_RANDOM"),
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(data=hostile_files)
def test_hostile_files_never_give_a_traceback(tmp_path, data):
    check_everything(tmp_path / "hostile.ss", data)


@FUZZ
@given(data=header_mutants())
def test_hostile_headers(tmp_path, data):
    check_everything(tmp_path / "header.ss", data)


@FUZZ
@given(data=st.one_of(frame_mutants(), crafted_files()))
def test_hostile_frames(tmp_path, data):
    check_everything(tmp_path / "frame.ss", data)


@pytest.mark.parametrize("cut", interesting_offsets())
def test_truncated_at_every_interesting_offset(tmp_path, cut):
    path = tmp_path / "cut.ss"
    path.write_bytes(BASE[:cut])
    codes = check_cli(path)
    check_library(path)
    if cut > 128:
        assert codes["decode"] == 1 and codes["cat"] == 1  # a torn tail is reported


@pytest.mark.parametrize("data", [b"", b"S", b"Ss", b"Ss\x01", b"\x00", b"\xff" * 128])
def test_tiny_files(tmp_path, data):
    check_everything(tmp_path / "tiny.ss", data)


def test_the_base_file_is_clean(tmp_path):
    """The harness's own baseline: the unmutated file passes everything with exit 0."""
    path = tmp_path / "base.ss"
    path.write_bytes(BASE)
    codes = check_cli(path)
    assert set(codes.values()) == {0}, codes
    assert len(read_all(path)) == len(FRAMES)


# ---- item 5, by name ----------------------------------------------------------------------------

CREATED_AT = 4 + NAME_LEN  # offset of the header's created_at field


def with_created_at(ms: int) -> bytes:
    return put(BASE, CREATED_AT, struct.pack(">Q", ms))


@pytest.mark.parametrize("ms", BIG_TIMES)
def test_created_at_beyond_the_maximum_is_a_field_error(tmp_path, ms):
    path = tmp_path / "late.ss"
    path.write_bytes(with_created_at(ms))
    with pytest.raises(ssfile.FieldError) as info:
        read_all(path)
    assert info.value.offset == CREATED_AT and "created_at" in str(info.value)
    for argv in (["decode"], ["info", "--json"], ["cat"], ["decode", "--format", "ndjson"]):
        rc, out, err = run_cli([*argv, str(path)])
        assert rc == 2, (argv, err)
        assert f"created_at {ms} is beyond" in err and f"offset {CREATED_AT}" in err
    rc, out, err = run_cli(["verify", "--json", str(path)])
    doc = json.loads(out)
    assert rc == 1 and doc["header"]["created_at"] is None
    assert doc["header"]["created_at_ms"] == ms
    assert [(p["code"], p["offset"]) for p in doc["problems"]] == [("bad-header", CREATED_AT)]


def test_the_largest_created_at_is_still_read(tmp_path):
    path = tmp_path / "last.ss"
    path.write_bytes(with_created_at(MAX_TIMESTAMP_MS))
    with ssfile.open(path) as r:
        assert r.header.created_at_ms == MAX_TIMESTAMP_MS
    rc, out, _ = run_cli(["decode", "--format", "ndjson", str(path)])
    assert rc == 0 and b'"created_at":"9999-12-31T23:59:59.999"' in out.splitlines()[0]


def test_verify_json_on_random_bytes(tmp_path):
    path = tmp_path / "noise.bin"
    # bytes 4..11 read as created_at: far beyond the maximum, as random bytes usually are
    path.write_bytes(bytes([0x2A, 0x87, 7, 0]) + b"\xf0" * 8 + bytes(range(256)) * 8)
    rc, out, err = run_cli(["verify", "--json", str(path)])
    doc = json.loads(out)
    assert rc == 2 and doc["readable"] is False and err == ""
    assert doc["header"]["created_at"] is None and doc["header"]["created_at_ms"] > MAX_TIMESTAMP_MS
    rc, _, err = run_cli(["verify", str(path)])
    assert rc == 2 and "not a .ss file: file does not start with b'Ss'" in err
    assert "at offset 0" in err


def with_frame_timestamp(ms: int) -> bytes:
    at = FRAMES[2]
    return put(BASE, at + 1 + BASE[at] + 16, struct.pack(">Q", ms))


def test_a_frame_timestamp_of_2_63_never_crashes(tmp_path):
    path = tmp_path / "ts.ss"
    path.write_bytes(with_frame_timestamp((1 << 63) - 1))
    where = f"offset {FRAMES[2]}"
    for argv in (["decode"], ["cat"], ["decode", "--format", "ndjson"]):
        rc, out, err = run_cli([*argv, str(path)])
        assert rc == 1 and "timestamp 9223372036854775807 out of range" in err and where in err
        assert out.count(b"\n") >= 2  # the two messages before it stay printed
    rc, out, _ = run_cli(["info", "--json", str(path)])
    doc = json.loads(out)
    # info reads past the bad frame (issue 12 item 4): every other message counts, the frame
    # is a damaged range named with its reason
    assert rc == 1 and doc["messages"] == len(FRAMES) - 1
    assert [r["offset"] for r in doc["damaged_ranges"]] == [FRAMES[2]]
    assert "timestamp 9223372036854775807 out of range" in doc["damaged_ranges"][0]["reason"]
    with pytest.raises(ssfile.FieldError) as info:
        ssfile.to_pandas(path)
    assert info.value.offset == FRAMES[2]
    api = Api(str(path), jobs.JobBoard(str(path), runner=jobs.in_process))
    page = api.handle("messages", {})  # the viewer steps over the bad frame
    assert [m["offset"] for m in page["messages"]][:2] == FRAMES[:2]
    assert FRAMES[2] not in [m["offset"] for m in page["messages"]]


def test_timestamps_out_of_range_are_printed_without_raising():
    from ssfile.cli.render import LogRenderer, NdjsonRenderer, header_json
    from ssfile.format.records import FileHeader
    from ssfile.timefmt import format_timestamp, timestamp_json

    for ms in (*BIG_TIMES, -1):
        assert format_timestamp(ms) == f"<out of range: {ms} ms>"
        assert timestamp_json(ms) is None
        msg = Message("a", 0, 1, ms, b"p")
        assert str(ms) in repr(msg)
        log, nd = [], []
        LogRenderer().render([Message("a", 0, 0, 5, b"x"), msg], log)
        NdjsonRenderer().render([msg], nd)
        assert b"".join(log).endswith(f"[<out of range: {ms} ms> | a | 1 | 0] p\n".encode())
        assert json.loads(nd[0])["header"]["timestamp"] is None
        header = FileHeader("f", ms, 1024)
        assert json.loads(header_json(header))["created_at"] is None
        assert header.to_json_dict()["created_at"] is None
        assert header.to_json_dict()["created_at_ms"] == ms
    assert format_timestamp(MAX_TIMESTAMP_MS) == "9999-12-31T23:59:59.999"
    assert timestamp_json(0) == "1970-01-01T00:00:00.0"


# ---- repair: a header not read as written is never "nothing lost" ---------------------------


def repair_cli(tmp_path, data: bytes, *extra: str) -> tuple[int, str, str, pathlib.Path]:
    src, dst = tmp_path / "src.ss", tmp_path / "dst.ss"
    src.write_bytes(data)
    if dst.exists():
        dst.unlink()
    rc, out, err = run_cli(["repair", str(src), "-o", str(dst), *extra])
    return rc, out.decode(), err, dst


@pytest.mark.parametrize("version", [0, 2, 3, 129, 255])
def test_repair_refuses_another_version(tmp_path, version):
    rc, out, err, dst = repair_cli(tmp_path, put(BASE, 2, bytes([version])))
    assert rc == 2 and not dst.exists() and out == ""
    assert err.count("\n") == 1 and f"format version {version} is not 1" in err
    assert "--as-version-1" in err and "offset 2" in err
    rc, out, err, dst = repair_cli(tmp_path, put(BASE, 2, bytes([version])), "--as-version-1")
    assert rc == 3 and len(read_all(dst)) == len(FRAMES)
    assert f"lost: the header was not read as written: format version {version}" in out
    assert "offset 2" in out and out.rstrip().endswith("recovered with loss")


@pytest.mark.parametrize(
    ("what", "offset", "value"),
    [
        ("bad magic", 0, b"PK"),
        ("created_at", CREATED_AT, struct.pack(">Q", (1 << 63) - 1)),
        ("file name length", 3, b"\xc8"),
        ("file name", 4, b"\xff\xfe"),
        ("beacon interval", 12 + NAME_LEN, struct.pack(">I", 1024)),
        ("beacon interval", 12 + NAME_LEN, struct.pack(">I", 7)),
    ],
)
def test_repair_says_when_the_header_was_not_read_as_written(tmp_path, what, offset, value):
    rc, out, err, dst = repair_cli(tmp_path, put(BASE, offset, value))
    assert rc == 3, (what, out, err)
    assert "lost: the header was not read as written: " in out, out
    assert "nothing lost" not in out and out.rstrip().endswith("recovered with loss")
    assert len(read_all(dst)) == len(FRAMES)  # every message is still salvaged
    rc, out, _, dst = repair_cli(tmp_path, put(BASE, offset, value), "--json")
    doc = json.loads(out)
    assert rc == 3 and doc["lost"] is True and doc["header_problems"]


def test_repair_of_a_clean_file_still_loses_nothing(tmp_path):
    rc, out, err, dst = repair_cli(tmp_path, BASE)
    assert rc == 0 and err == "" and out.rstrip().endswith("nothing lost")
    rc, out, err, dst = repair_cli(tmp_path, put(BASE, 100, b"\x07"))  # padding: a warning only
    assert rc == 0 and out.rstrip().endswith("nothing lost")


# ---- real processes: what a user's terminal shows ----------------------------------------------


@pytest.mark.parametrize(
    ("argv", "data", "code"),
    [
        (["decode"], with_created_at((1 << 63) - 1), 2),
        (["info", "--json"], with_created_at((1 << 63) - 1), 2),
        (["verify", "--json"], bytes(range(7, 256)) * 20, 2),
        (["cat"], with_frame_timestamp((1 << 63) - 1), 1),
        (["repair", "-o", "{out}"], put(BASE, 2, b"\x02"), 2),
    ],
)
def test_in_a_real_process(tmp_path, argv, data, code):
    path = tmp_path / "in.ss"
    path.write_bytes(data)
    args = [a.format(out=tmp_path / "out.ss") for a in argv]
    proc = subprocess.run(
        [sys.executable, "-m", "ssfile", args[0], str(path), *args[1:]],
        capture_output=True,
        timeout=60,
    )
    err = proc.stderr.decode()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    check_error_line(err, args[0], str(path))


# ---- found here, fixed on another branch -------------------------------------------------------


def test_verify_on_an_empty_file_exits_2(tmp_path):
    path = tmp_path / "empty.ss"
    path.write_bytes(b"")
    assert run_cli(["verify", str(path)])[0] == 2


def test_relay_errors_name_the_file(tmp_path):
    path = tmp_path / "ts.ss"
    path.write_bytes(with_frame_timestamp((1 << 63) - 1))
    rc, _, err = run_cli(
        ["relay", "--no-follow", "--output", "stdio:///", "--input", f"file://{path}/a"]
    )
    assert rc == 1
    check_error_line(err, "relay", str(path))
