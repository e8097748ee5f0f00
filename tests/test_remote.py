"""Remote recordings: s3:// on moto's S3 server (the `s3` service) through s3fs, and
http:// on a range-capable server; seeks fetch only the ranges the bisection needs."""

from __future__ import annotations

import pytest

import ssfile
from ssfile.file import remote
from ssfile.file.seek import HEAD_READ, SCAN_CHUNK

T0 = 1_767_225_600_000
INTERVAL = 16384


def write(path, n=60_000, keys=("a", "b", "c"), interval=INTERVAL):
    with ssfile.open(path, "w", beacon_interval=interval, created_at=T0) as w:
        for i in range(n):
            w.write(b'{"i": %d}' % i, stream_key=keys[i % len(keys)], timestamp=T0 + i)
    return path


def rows(source, **options):
    with ssfile.open(source, **options) as r:
        return [(m.stream_key, m.sequence, m.timestamp_ms, m.offset, m.payload) for m in r]


def budget(size, visited):
    """What a seek may fetch: the header block, the first interval (the EOS check), the
    beacons visited (one small read each) and about one interval scanned, plus the last
    scan read's overshoot."""
    return remote.HEAD + INTERVAL + visited * HEAD_READ + INTERVAL + SCAN_CHUNK


# ---- http(s):// --------------------------------------------------------------------------------


def test_http_reader_reads_every_message(http_files, tmp_path):
    path = write(http_files.root / "r.ss", n=5000)
    assert rows(f"{http_files.url}/r.ss") == rows(path)


@pytest.mark.parametrize("target", range(5))
def test_http_seek_fetches_only_what_bisection_needs(http_files, target):
    path = write(http_files.root / "r.ss")
    size = path.stat().st_size
    beacons = size // INTERVAL
    when = T0 + [1, 17_000, 30_001, 45_555, 59_999][target]
    with ssfile.open(path) as local:
        want = local.seek_time(when)
    with ssfile.open(f"{http_files.url}/r.ss") as r:
        http_files.reset()
        before = r._file.bytes_fetched
        got = r.seek_time(when)
        sent, requests = http_files.bytes_sent, http_files.requests
        assert (got.sequence, got.offset) == (want.sequence, want.offset)
        assert sent == r._file.bytes_fetched - before  # the client counts what the server sent
        bisection = beacons.bit_length() + 2  # beacons a bisection visits, at most
        assert r.seek_bytes <= INTERVAL + bisection * HEAD_READ  # first interval + beacons
        assert sent <= r.seek_bytes + INTERVAL + SCAN_CHUNK  # + about one interval scanned
        assert sent <= budget(size, bisection), (sent, size)
        assert requests <= bisection + 2 + (2 * INTERVAL + SCAN_CHUNK) // SCAN_CHUNK + 1
        assert sent < size / 10
        nxt = next(iter(r))
        assert nxt.sequence == want.sequence  # reading on from there works


def test_http_seek_sequence(http_files):
    path = write(http_files.root / "r.ss")
    with ssfile.open(f"{http_files.url}/r.ss") as r:
        http_files.reset()
        got = r.seek_sequence("b", 0, 15_000)
        assert (got.stream_key, got.sequence) == ("b", 15_000)
        assert http_files.bytes_sent < path.stat().st_size / 10


def test_http_to_pandas_and_missing_file(http_files):
    path = write(http_files.root / "r.ss", n=3000)
    df = ssfile.to_pandas(f"{http_files.url}/r.ss", since=T0 + 1000)
    assert df["sequence"].tolist() == [s for _k, s, ts, _o, _p in rows(path) if ts >= T0 + 1000]
    with pytest.raises(FileNotFoundError):
        ssfile.open(f"{http_files.url}/nothing.ss")


# ---- s3:// ---------------------------------------------------------------------------------------


def test_s3_glob_to_arrow_and_pandas(s3, tmp_path):
    fs, bucket, options = s3
    a = write(tmp_path / "a.ss", n=2000, keys=("x",))
    b = write(tmp_path / "b.ss", n=1000, keys=("y", "z"))
    fs.put(str(b), f"{bucket}/day/2.ss")
    fs.put(str(a), f"{bucket}/day/1.ss")
    fs.put(str(a), f"{bucket}/other/3.ss")
    t = ssfile.to_arrow(f"s3://{bucket}/day/*.ss", storage_options=options)
    names = [f"s3://{bucket}/day/1.ss", f"s3://{bucket}/day/2.ss"]
    assert t.column("file").to_pylist() == [names[0]] * 2000 + [names[1]] * 1000
    assert t.column("payload").to_pylist() == [p for *_r, p in rows(a)] + [p for *_r, p in rows(b)]
    df = ssfile.to_pandas(f"s3://{bucket}/day/*.ss", storage_options=options, streams="z")
    assert df["file"].astype(str).unique().tolist() == [names[1]]
    assert df["sequence"].tolist() == list(range(1, 501))
    listed = ssfile.to_numpy(
        [f"s3://{bucket}/other/3.ss", str(b)], storage_options=options, payload=False
    )
    assert listed.files == sorted([f"s3://{bucket}/other/3.ss", str(b)])


def test_s3_seek_byte_counts(s3, tmp_path):
    fs, bucket, options = s3
    path = write(tmp_path / "r.ss")
    fs.put(str(path), f"{bucket}/r.ss")
    size = path.stat().st_size
    with ssfile.open(f"s3://{bucket}/r.ss", storage_options=options) as r:
        f = r._file
        before = f.bytes_fetched
        got = r.seek_time(T0 + 33_333)
        assert got.timestamp_ms == T0 + 33_333
        fetched = f.bytes_fetched - before
        assert fetched <= budget(size, (size // INTERVAL).bit_length() + 2)
        assert fetched < size / 10
    assert rows(f"s3://{bucket}/r.ss", storage_options=options) == rows(path)
