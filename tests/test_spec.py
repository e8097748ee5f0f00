"""spec/ss-format.md and spec/vectors/ hold the code to the spec.

(a) the record tables of the spec match the construct declarations in ssfile/format/schema.py
    (field names, order, byte widths, types), and its check-value tables match the code;
(b) every hand-built vector decodes to its .json (Decoder in several chunkings, and ssfile.open),
    errors included, with their offsets;
(c) vectors laid out the way a writer lays them out re-encode to the same bytes;
(d) the checked-in vectors are exactly what spec/vectors/make_vectors.py builds.
"""

from __future__ import annotations

import importlib.util
import io
import json
import pathlib
import re

import construct as c
import pytest

import ssfile
from ssfile.codec.decoder import Decoder
from ssfile.codec.encoder import Encoder
from ssfile.codec.events import EndOfStream
from ssfile.errors import ChecksumMismatch, FormatError
from ssfile.format import constants as K
from ssfile.format import schema
from ssfile.format.crc import crc16, running_update
from ssfile.format.records import Beacon, FileHeader
from ssfile.types import Message

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEC = ROOT / "spec" / "ss-format.md"
VECTORS = ROOT / "spec" / "vectors"
NAMES = sorted(p.stem for p in VECTORS.glob("*.hex"))
LAYOUTS = [
    "FileHeaderLayout",
    "MessageHeaderLayout",
    "MessageFrameLayout",
    "MarkerLayout",
    "BeaconLayout",
]

# ---------------------------------------------------------------------------------------------
# (a) the spec's tables


def spec_tables() -> list[tuple[list[str], list[list[str]], str]]:
    """Every Markdown table of the spec: (header cells, rows, the line just above it)."""
    tables = []
    lines = SPEC.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("|"):
            i += 1
            continue
        above = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        block = []
        while i < len(lines) and lines[i].startswith("|"):
            block.append([cell.strip() for cell in lines[i].strip().strip("|").split("|")])
            i += 1
        tables.append((block[0], block[2:], above))
    return tables


def record_tables() -> dict[str, list[list[str]]]:
    found: dict[str, list[list[str]]] = {}
    for head, rows, above in spec_tables():
        if head != ["Bytes", "Name", "Type", "Description"]:
            continue
        m = re.search(r"`schema\.(\w+)`", above)
        assert m, f"record table without a `schema.<Layout>` line above it: {head} {rows[:1]}"
        assert m.group(1) not in found, f"two tables for {m.group(1)}"
        found[m.group(1)] = rows
    return found


def unwrap(sc: c.Construct) -> c.Construct:
    while isinstance(sc, (c.Renamed, c.Rebuild, c.Default)):
        sc = sc.subcon
    return sc


def type_tokens(sc: c.Construct) -> list[str]:
    """Words the Type cell must contain for this declaration."""
    inner = unwrap(sc)
    if inner is schema.ShortString:
        return ["ShortString"]
    if isinstance(inner, c.FormatField):
        return [{"B": "u8", "H": "u16", "L": "u32", "I": "u32", "Q": "u64"}[inner.fmtstr[-1]]]
    if isinstance(inner, c.Bytes):
        return ["bytes"]
    if isinstance(inner, c.Struct):
        name = next(n for n in LAYOUTS if getattr(schema, n) is inner)
        return [name.removesuffix("Layout")]
    if isinstance(inner, c.FocusedSeq):  # PrefixedArray: count then items
        count, items = inner.subcons
        return type_tokens(count) + type_tokens(items.subcon.subcon)
    raise AssertionError(f"no spec type for {inner!r}")


def fixed_size(sc: c.Construct) -> int | None:
    try:
        return sc.sizeof()
    except c.SizeofError:
        return None


def test_every_layout_has_one_table() -> None:
    assert sorted(record_tables()) == sorted(LAYOUTS)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_table_matches_schema(layout: str) -> None:
    rows = record_tables()[layout]
    subcons = getattr(schema, layout).subcons
    assert [r[1].strip("`") for r in rows] == [sc.name for sc in subcons], "names and order"
    for (width, name, typ, _desc), sc in zip(rows, subcons):
        size = fixed_size(sc)
        if size is None:
            assert not width.isdigit(), f"{layout}.{name} is variable; the table says {width}"
        else:
            assert width == str(size), f"{layout}.{name} is {size} bytes; the table says {width}"
        for token in type_tokens(sc):
            assert token in typ, f"{layout}.{name}: type {typ!r} should name {token}"


def table_with(first: str) -> list[list[str]]:
    matches = [rows for head, rows, _ in spec_tables() if head[0] == first]
    assert len(matches) == 1, f"one table headed {first!r}"
    return matches[0]


def test_crc_check_values() -> None:
    rows = table_with("CRC input")
    assert len(rows) >= 5
    for cell, value in ((r[0], r[1]) for r in rows):
        text = cell.strip("`")
        if text == "(empty)":
            data = b""
        elif text.startswith("hex "):
            data = bytes.fromhex(text[4:])
        else:
            data = text.encode()
        assert crc16(data) == int(value.strip("`"), 16), text


def test_running_checksum_check_values() -> None:
    for crcs, value in table_with("Payload checksums fed"):
        run = 0xFFFF
        for word in crcs.strip("`").split():
            run = running_update(run, int(word, 16))
        assert run == int(value.strip("`"), 16), crcs


def test_marker_count_table() -> None:
    rows = table_with("I")
    assert len(rows) >= 6
    for interval, count in ((r[0], r[1]) for r in rows):
        low = int(interval.split()[0])
        assert K.num_markers(low) == int(count), interval


# ---------------------------------------------------------------------------------------------
# vectors


def read_hex(name: str) -> bytes:
    text = (VECTORS / f"{name}.hex").read_text()
    return bytes.fromhex("".join(re.sub(r"#.*", "", line) for line in text.splitlines()))


def expected(name: str) -> dict[str, object]:
    return json.loads((VECTORS / f"{name}.json").read_text())


def as_json(ev: object) -> object:
    if isinstance(ev, FileHeader):
        return {
            "file_name": ev.file_name,
            "created_at_ms": ev.created_at_ms,
            "beacon_interval": ev.beacon_interval,
        }
    if isinstance(ev, Beacon):
        return {
            "type": "beacon",
            "offset": ev.offset,
            "index": ev.index,
            "remaining_messages_bytes": ev.remaining_messages_bytes,
            "markers": [
                {
                    "stream_key": m.header.stream_key,
                    "shard_id": m.header.shard_id,
                    "sequence": m.header.sequence,
                    "timestamp_ms": m.header.timestamp_ms,
                    "running_checksum": m.running_checksum,
                }
                for m in ev.markers
            ],
        }
    kind = "message"
    if isinstance(ev, EndOfStream):
        ev, kind = ev.message, "eos"
    assert isinstance(ev, Message), ev
    return {
        "type": kind,
        "offset": ev.offset,
        "stream_key": ev.stream_key,
        "shard_id": ev.shard_id,
        "sequence": ev.sequence,
        "timestamp_ms": ev.timestamp_ms,
        "payload_hex": ev.payload.hex(),
    }


def decode(data: bytes, step: int) -> dict[str, object]:
    """Feed ``data`` in ``step``-byte chunks; collect events, a checksum error and what follows
    it, or the final error."""
    dec = Decoder()
    before: list[object] = []
    after: list[object] = []
    got: dict[str, object] = {"error": None}

    def drain() -> None:
        while True:
            out: list[object] = []
            try:
                dec.read_events(out)
            except ChecksumMismatch as err:
                assert got["error"] is None, "one checksum error per vector"
                got["error"] = {"class": "ChecksumMismatch", "offset": err.offset}
                continue
            if not out:
                return
            (before if got["error"] is None else after).extend(out)

    try:
        for i in range(0, len(data), step):
            dec.feed(data[i : i + step])
            drain()
        dec.feed_eof()
        drain()
    except FormatError as err:
        got["error"] = {"class": type(err).__name__, "offset": err.offset}
    header = [as_json(e) for e in before if isinstance(e, FileHeader)]
    got["header"] = header[0] if header else None
    got["events"] = [as_json(e) for e in before if not isinstance(e, FileHeader)]
    got["after_error"] = [as_json(e) for e in after]
    return got


def test_there_are_vectors() -> None:
    assert len(NAMES) >= 15
    assert sorted(p.stem for p in VECTORS.glob("*.json")) == NAMES


@pytest.mark.parametrize("step", [0, 1, 7])
@pytest.mark.parametrize("name", NAMES)
def test_vector_decodes(name: str, step: int) -> None:
    data = read_hex(name)
    want = expected(name)
    assert len(data) == want["size"]
    got = decode(data, step or max(len(data), 1))
    assert got["header"] == want["header"]
    assert got["events"] == want["events"]
    assert got["error"] == want["error"]
    assert got["after_error"] == want.get("after_error", [])


@pytest.mark.parametrize("name", NAMES)
def test_vector_through_open(name: str) -> None:
    data = read_hex(name)
    want = expected(name)
    messages = [e for e in want["events"] if e["type"] == "message"]  # type: ignore[union-attr, index]
    error = want["error"]
    seen: list[object] = []
    try:
        with ssfile.open(io.BytesIO(data)) as r:
            assert as_json(r.header) == want["header"]
            for m in r:
                seen.append(as_json(m))
            assert r.ended == any(e["type"] == "eos" for e in want["events"])  # type: ignore[index, union-attr]
    except FormatError as err:
        assert error == {"class": type(err).__name__, "offset": err.offset}
    else:
        assert error is None
    assert seen == messages


WRITTEN = [n for n in NAMES if expected(n)["writer_output"]]


def test_writer_shaped_vectors_exist() -> None:
    assert {"header-only", "interval-128", "splice-two", "splice-markers"} <= set(WRITTEN)


def data_events(name: str) -> list[dict[str, object]]:
    return [e for e in expected(name)["events"] if e["type"] != "beacon"]  # type: ignore[union-attr, index]


@pytest.mark.parametrize("name", WRITTEN)
def test_encoder_reproduces_vector(name: str) -> None:
    h = expected(name)["header"]
    enc = Encoder(FileHeader(h["file_name"], h["created_at_ms"], h["beacon_interval"]))  # type: ignore[index]
    enc.start()
    for e in data_events(name):
        if e["type"] == "eos":  # the reserved key is written only as the EOS
            enc.end_of_stream(e["timestamp_ms"])  # type: ignore[arg-type]
            continue
        enc.encode(
            e["stream_key"],
            e["shard_id"],
            e["sequence"],
            e["timestamp_ms"],  # type: ignore[arg-type]
            bytes.fromhex(e["payload_hex"]),
        )  # type: ignore[arg-type]
    assert enc.take() == read_hex(name)


@pytest.mark.parametrize("name", WRITTEN)
def test_writer_reproduces_vector(name: str, tmp_path: pathlib.Path) -> None:
    h = expected(name)["header"]
    path = tmp_path / "out.ss"
    with ssfile.open(
        path,
        "w",
        beacon_interval=h["beacon_interval"],
        file_name=h["file_name"],  # type: ignore[index]
        created_at=h["created_at_ms"],
        eos=False,
    ) as w:  # type: ignore[index]
        for e in data_events(name):
            if e["type"] == "eos":
                w.write_eos(timestamp=e["timestamp_ms"])  # type: ignore[arg-type]
                continue
            w.write(
                bytes.fromhex(e["payload_hex"]),
                stream_key=e["stream_key"],  # type: ignore[arg-type]
                shard_id=e["shard_id"],
                sequence=e["sequence"],
                timestamp=e["timestamp_ms"],
            )  # type: ignore[arg-type]
    assert path.read_bytes() == read_hex(name)


def test_vectors_are_current() -> None:
    spec = importlib.util.spec_from_file_location("make_vectors", VECTORS / "make_vectors.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rendered = mod.render()
    on_disk = {p.name: p.read_text() for p in VECTORS.iterdir() if p.suffix in (".hex", ".json")}
    assert sorted(on_disk) == sorted(rendered)
    stale = [n for n in rendered if on_disk[n] != rendered[n]]
    assert not stale, f"run spec/vectors/make_vectors.py: stale {stale}"


def test_spec_names_every_vector() -> None:
    text = SPEC.read_text(encoding="utf-8")
    listed = text[text.index("The vectors:") :]
    assert sorted(re.findall(r"`([a-z0-9-]+)`", listed)) == NAMES
    cited = set(re.findall(r"vector `([a-z0-9-]+)`", text))
    cited |= {row[-1].strip("`") for row in table_with("Case") if row[-1] != "—"}
    assert cited and cited <= set(NAMES), cited - set(NAMES)
