"""to_arrow: exact types, the same rows as to_numpy/to_pandas, zero-copy payloads, many files,
and polars/DuckDB reading both the table and the Parquet that `ssfile convert` writes."""

from __future__ import annotations

import json
import sys

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ss_strategies import encode_file, small_files

import ssfile
from ssfile.cli import main
from ssfile.export import arrow
from ssfile.export.chunks import scan_chunks
from ssfile.export.columns import scan

T0 = 1_767_225_600_000


def write(path, n=300, keys=("a", "b", "c"), interval=1024, start=T0, json_payload=False):
    with ssfile.open(path, "w", beacon_interval=interval, created_at=T0) as w:
        for i in range(n):
            payload = b'{"i": %d, "k": {"x": %d}}' % (i, i % 7) if json_payload else b"p%d" % i
            w.write(payload, stream_key=keys[i % len(keys)], shard_id=i % 2, timestamp=start + i)
    return path


def table_rows(t):
    d = t.to_pydict()
    ts = t.column("timestamp").cast("int64").to_pylist()
    return list(zip(d["stream_key"], d["shard_id"], d["sequence"], ts, d["offset"], d["payload"]))


def reader_rows(path):
    with ssfile.open(path) as r:
        return [
            (m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.offset, m.payload) for m in r
        ]


def test_schema_types_are_exact(tmp_path):
    t = ssfile.to_arrow(write(tmp_path / "a.ss"))
    assert t.schema.remove_metadata() == pa.schema(
        [
            ("stream_key", pa.dictionary(pa.int32(), pa.string())),
            ("shard_id", pa.uint64()),
            ("sequence", pa.uint64()),
            ("timestamp", pa.timestamp("ms", tz="UTC")),
            ("offset", pa.int64()),
            ("payload", pa.large_binary()),
        ]
    )
    assert "payload" not in ssfile.to_arrow(tmp_path / "a.ss", payload=False).column_names


def test_metadata_carries_the_header(tmp_path):
    t = ssfile.to_arrow(write(tmp_path / "a.ss", interval=2048))
    meta = json.loads(t.schema.metadata[b"ssfile"])
    assert meta == {
        "file_name": "a.ss",
        "created_at_ms": T0,
        "beacon_interval": 2048,
        "ended": True,
        "torn_tail": None,
    }


@pytest.mark.parametrize("name", ["multi-256", "spanning", "binary-unicode", "appended", "empty"])
def test_rows_equal_the_reader(name):
    path = f"{ssfile.__path__[0]}/../fixtures/{name}.ss"
    assert table_rows(ssfile.to_arrow(path)) == reader_rows(path)


def test_golden_rows_equal_the_reader(golden_dir):
    for path in sorted(golden_dir.glob("*.ss")):
        assert table_rows(ssfile.to_arrow(path)) == reader_rows(path), path


def test_filters_as_to_pandas(tmp_path):
    path = write(tmp_path / "a.ss", n=2000)
    args = dict(streams=["a", "c"], shards=1, since=T0 + 100, until=T0 + 1500)
    t = ssfile.to_arrow(path, **args)
    df = ssfile.to_pandas(path, **args)
    assert len(t) == len(df) > 0
    assert t.column("sequence").to_pylist() == df["sequence"].tolist()
    assert t.column("stream_key").to_pylist() == df["stream_key"].astype(str).tolist()
    assert t.column("payload").to_pylist() == df["payload"].tolist()


@pytest.mark.parametrize("use_c", [True, False])
def test_payload_wraps_the_scan_buffers_without_copying(tmp_path, monkeypatch, use_c):
    from ssfile.export import columns

    monkeypatch.setattr(columns, "USE_C", use_c)  # the C scan gives one piece, numpy one a window
    path = write(tmp_path / "a.ss", n=5000)
    seen = []

    def spy(*args, **kwargs):
        got = scan(*args, **kwargs, window=8192)  # several windows: several pieces
        seen.append(got)
        return got

    monkeypatch.setattr(arrow, "scan", spy)
    t = ssfile.to_arrow(path)
    pieces = seen[0].payloads
    assert len(pieces) >= 1 if use_c else len(pieces) > 3
    chunks = t.column("payload").chunks
    assert [c.buffers()[2].address for c in chunks] == [p.ctypes.data for p in pieces]
    assert sum(len(c) for c in chunks) == 5000
    assert table_rows(t) == reader_rows(path)


def test_columns_to_table_wraps_to_numpy_buffers(tmp_path):
    cols = ssfile.to_numpy(write(tmp_path / "a.ss"))
    t = arrow.columns_to_table(cols)
    assert t.column("payload").chunks[0].buffers()[2].address == cols.payload_buffer.ctypes.data
    assert t.column("sequence").chunks[0].buffers()[1].address == cols.sequence.ctypes.data
    assert table_rows(t) == reader_rows(tmp_path / "a.ss")


def test_json_columns_match_to_pandas(tmp_path):
    path = tmp_path / "j.ss"
    with ssfile.open(path, "w", created_at=T0) as w:
        w.write(b'{"a": 1, "b": {"c": "x"}}', stream_key="s", timestamp=T0)
        w.write(b"not json", stream_key="s", timestamp=T0 + 1)
        w.write(b'{"a": 2.5, "d": [1, 2]}', stream_key="s", timestamp=T0 + 2)
        w.write(b'{"a": "mixed"}', stream_key="s", timestamp=T0 + 3)
    t = ssfile.to_arrow(path, json=True)
    df = ssfile.to_pandas(path, json=True)
    assert t.column_names == list(df.columns)
    assert t.column("payload").to_pylist() == [None, b"not json", None, None]
    assert t.column("payload.b.c").to_pylist() == ["x", None, None, None]
    assert t.column("payload.d").to_pylist() == [None, None, [1, 2], None]
    # 1, 2.5 and "mixed" share no Arrow type: the column holds their JSON text
    assert t.column("payload.a").to_pylist() == ["1", None, "2.5", '"mixed"']


def test_glob_and_list_add_the_file_column_in_sorted_order(tmp_path):
    write(tmp_path / "b.ss", n=10, start=T0)
    write(tmp_path / "a.ss", n=5, keys=("z",), start=T0 + 100)
    t = ssfile.to_arrow(str(tmp_path / "*.ss"))
    files = t.column("file").to_pylist()
    assert files == [str(tmp_path / "a.ss")] * 5 + [str(tmp_path / "b.ss")] * 10
    assert t.column("stream_key").to_pylist()[:6] == ["z"] * 5 + ["a"]
    listed = ssfile.to_arrow([tmp_path / "b.ss", str(tmp_path / "a.ss"), str(tmp_path / "a.ss")])
    assert listed.column("file").to_pylist() == files  # sorted, each file once
    assert table_rows(t) == reader_rows(tmp_path / "a.ss") + reader_rows(tmp_path / "b.ss")
    meta = json.loads(t.schema.metadata[b"ssfile"])
    assert [f["file"] for f in meta["files"]] == [str(tmp_path / "a.ss"), str(tmp_path / "b.ss")]
    df = ssfile.to_pandas(str(tmp_path / "*.ss"))
    assert df["file"].astype(str).tolist() == files
    assert list(df.columns)[0] == "file"
    cols = ssfile.to_numpy(str(tmp_path / "*.ss"), payload=False)
    assert cols.file().tolist() == files


def test_a_single_path_has_no_file_column(tmp_path):
    path = write(tmp_path / "a.ss")
    assert "file" not in ssfile.to_arrow(path).column_names
    assert "file" not in ssfile.to_pandas(path).columns
    assert "file" not in ssfile.to_arrow("file://" + str(path)).column_names


def test_glob_without_match_and_empty_list_are_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file matches"):
        ssfile.to_arrow(str(tmp_path / "*.ss"))
    with pytest.raises(ValueError, match="empty list"):
        ssfile.to_pandas([])


def test_memory_url(tmp_path):
    import fsspec

    path = write(tmp_path / "a.ss")
    fs = fsspec.filesystem("memory")
    fs.pipe("/rec/x1.ss", path.read_bytes())
    fs.pipe("/rec/x2.ss", path.read_bytes())
    t = ssfile.to_arrow("memory://rec/x*.ss")
    assert t.column("file").unique().to_pylist() == ["memory:///rec/x1.ss", "memory:///rec/x2.ss"]
    assert table_rows(t) == reader_rows(path) * 2
    one = ssfile.to_numpy("memory://rec/x1.ss")
    assert one.files is None and len(one) == 300


def test_errors_in_a_remote_copy_name_the_url(tmp_path):
    import fsspec

    data = bytearray(write(tmp_path / "a.ss").read_bytes())
    data[data.index(b"p5")] ^= 0x20  # a payload byte ("P5"): checksum mismatch
    fsspec.filesystem("memory").pipe("/bad/x.ss", bytes(data))
    with pytest.raises(ssfile.ChecksumMismatch, match="memory://bad/x.ss"):
        ssfile.to_arrow("memory://bad/x.ss")


def test_polars_and_duckdb_read_the_table(tmp_path):
    write(tmp_path / "a.ss", n=100)
    write(tmp_path / "b.ss", n=50, keys=("q",))
    t = ssfile.to_arrow(str(tmp_path / "*.ss"))
    df = pl.from_arrow(t)
    assert df.schema["timestamp"] == pl.Datetime("ms", "UTC")
    counts = df.group_by("stream_key").len().sort("stream_key")
    assert counts.rows() == [("a", 34), ("b", 33), ("c", 33), ("q", 50)]
    got = duckdb.sql(
        "select file, count(*), max(sequence) from t group by file order by file"
    ).fetchall()
    assert got == [(str(tmp_path / "a.ss"), 100, 17), (str(tmp_path / "b.ss"), 50, 25)]


def test_polars_and_duckdb_read_the_converted_parquet(tmp_path):
    src = write(tmp_path / "a.ss", n=1000, json_payload=True)
    assert main(["convert", str(src), str(tmp_path / "a.parquet")]) == 0
    t = pq.read_table(tmp_path / "a.parquet")
    assert t.schema.remove_metadata() == arrow.schema(pa)
    assert table_rows(t) == reader_rows(src)
    assert pq.ParquetFile(tmp_path / "a.parquet").metadata.row_group(0).column(0).compression == (
        "ZSTD"
    )
    df = pl.read_parquet(tmp_path / "a.parquet")
    assert df["sequence"].sum() == ssfile.to_pandas(src)["sequence"].sum()
    path = str(tmp_path / "a.parquet")
    got = duckdb.sql(
        f"select stream_key, count(*), min(timestamp) from read_parquet('{path}') "
        "group by stream_key order by stream_key"
    ).fetchall()
    assert [(k, n) for k, n, _ in got] == [("a", 334), ("b", 333), ("c", 333)]
    assert got[0][2].timestamp() * 1000 == T0


def test_missing_pyarrow_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ssfile.MissingDependency, match="arrow"):
        ssfile.to_arrow(write(tmp_path / "a.ss"))


def test_missing_fsspec_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "fsspec", None)
    with pytest.raises(ssfile.MissingDependency, match="remote"):
        ssfile.to_numpy("s3://bucket/x.ss")


def test_on_damage_skip_gives_the_skipping_readers_rows(tmp_path):
    path = write(tmp_path / "a.ss", n=2000)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 128] = bytes(128)  # zeroed bytes in the middle
    path.write_bytes(bytes(data))
    with pytest.raises(ssfile.FormatError):
        ssfile.to_arrow(path)
    with pytest.warns(ssfile.DamageWarning):
        table = ssfile.to_arrow(path, on_damage="skip")
    with pytest.warns(ssfile.DamageWarning), ssfile.open(path, on_damage="skip") as r:
        want = [
            (m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.offset, m.payload) for m in r
        ]
    assert 0 < len(want) < 2000
    assert table_rows(table) == want
    with pytest.raises(ValueError, match="on_damage"):
        ssfile.to_arrow(path, on_damage="ignore")


# ---- the chunked scan behind `ssfile convert` ------------------------------------------------


def outcome(make_scans):
    try:
        rows, ended, torn = [], False, None
        for got in make_scans():
            c = got.columns
            payloads = [p for part in got.payloads for p in part]
            keys = [got.keys[i] for i in c["code"].tolist()]
            rows += list(zip(keys, c["sequence"].tolist(), c["offset"].tolist(), payloads))
            ended, torn = got.ended, got.torn_tail
        return rows, ended, torn
    except ssfile.SSError as err:
        return type(err), err.offset


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(small_files(), st.integers(1, 3000))
def test_chunked_scan_equals_the_whole_scan(tmp_path, case, chunk):
    interval, messages, eos = case
    data = encode_file(interval, messages, eos)
    for cut in (len(data), max(128, len(data) - 7)):
        path = tmp_path / "c.ss"
        path.write_bytes(data[:cut])
        for tolerate in (False, True):
            whole = outcome(lambda: [scan(path, payload="bytes", tolerate_truncation=tolerate)])
            parts = outcome(
                lambda: scan_chunks(
                    path,
                    payload="bytes",
                    tolerate_truncation=tolerate,
                    chunk_bytes=chunk,
                    window=512,
                )
            )
            assert parts == whole


def test_chunked_scan_yields_many_chunks(tmp_path):
    path = write(tmp_path / "a.ss", n=20000)
    chunks = list(scan_chunks(path, payload="buffer", chunk_bytes=16384, window=4096))
    assert len(chunks) > 10
    assert sum(len(c.columns["sequence"]) for c in chunks) == 20000
    np.testing.assert_array_equal(
        np.concatenate([c.columns["offset"] for c in chunks]),
        [r[4] for r in reader_rows(path)],
    )


def test_a_file_named_like_a_glob_is_read_as_itself(tmp_path):
    path = write(tmp_path / "rec[1].ss", n=7)
    write(tmp_path / "rec1.ss", n=3)
    assert ssfile.to_arrow(str(path)).num_rows == 7
    assert "file" not in ssfile.to_pandas(str(path)).columns
    assert ssfile.to_arrow([str(path)]).column("file").to_pylist() == [str(path)] * 7
