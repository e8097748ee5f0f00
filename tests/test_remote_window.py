"""A time window of a remote file (``to_numpy``/``to_pandas``/``to_arrow`` with ``since``/
``until`` on an s3:// or http:// URL) is read with ranged requests: the seek's reads, then
the bytes from the beacon before the window to its end -- not the whole file.

The oracle is the same call on the local file.  Rows, dtypes, the ``file`` column of a
glob, errors (type, offset, message) and DamageWarnings must be identical, for windows
that are empty, before or after the data, one message, the whole file, or cut beacon
intervals in the middle; on files with several streams, frames spanning beacons, no EOS,
an EOS in the middle, a torn tail and damage.  The bytes are counted by the HTTP server.
"""

from __future__ import annotations

import random
import shutil
import warnings

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ssfile
from ssfile.errors import DamageWarning, FormatError
from ssfile.file import remote
from ssfile.file.seek import HEAD_READ, SCAN_CHUNK
from ssfile.format import constants as K

T0 = 1_767_225_600_000
STREAMS = ("ship.gps", "ship.ais", "engine")


def record(path, n, interval, *, seed=1, eos=True, eos_at=None):
    """``n`` messages 5 ms apart on three streams, payloads of 0-200 bytes with every 40th
    of 3 KiB (it spans beacons); ``eos_at``: an EOS after that many messages, then more."""
    rng = random.Random(seed)
    with ssfile.open(path, "w", beacon_interval=interval, created_at=T0, eos=eos) as w:
        for i in range(n):
            if i == eos_at:  # the encoder's own EOS: the writer would refuse more messages
                w._enc.end_of_stream(T0 + 5 * i)
            size = 3072 if i % 40 == 39 else rng.randrange(0, 200)
            body = bytes(rng.randrange(256) for _ in range(size))
            w.write(body, stream_key=STREAMS[i % 3], timestamp=T0 + 5 * i)
    return path


def kinds(tmp_path):
    """name -> (local path, options): the files of the grid."""
    out = {}
    out["intact"] = record(tmp_path / "intact.ss", 900, 1024)
    out["no_eos"] = record(tmp_path / "no_eos.ss", 700, 2048, seed=2, eos=False)
    data = bytearray(out["intact"].read_bytes())
    torn = tmp_path / "torn.ss"
    torn.write_bytes(bytes(record(tmp_path / "t.ss", 700, 1024, eos=False).read_bytes()[:-70]))
    out["torn"] = torn
    damaged = tmp_path / "damaged.ss"
    cut = len(data) // 2
    data[cut : cut + 60] = bytes(60)  # zeroed bytes in the middle of the data
    damaged.write_bytes(bytes(data))
    out["damaged"] = damaged
    beacon = tmp_path / "bad_beacon.ss"
    data = bytearray(out["intact"].read_bytes())
    k = len(data) // 1024 // 3
    data[k * 1024 + 1 : k * 1024 + 9] = b"\xff" * 8  # a damaged beacon a third of the way
    beacon.write_bytes(bytes(data))
    out["bad_beacon"] = beacon
    return out


# ---- running a call locally and remotely -------------------------------------------------


def outcome(call):
    """(result or error, DamageWarning ranges) of ``call()``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            got = call()
        except FormatError as err:
            got = err
    ranges = [w.message.ranges for w in caught if issubclass(w.category, DamageWarning)]
    return got, ranges


def same_error(got, want, local, url):
    assert type(got) is type(want), (got, want)
    assert got.offset == want.offset
    assert url in str(got)  # the remote error names the URL, even where the local one is silent
    assert str(got).replace(f"{url}: ", "") == str(want).replace(f"{local}: ", "")


def same_numpy(got, want):
    assert got.stream_keys == want.stream_keys
    for name in ("stream_codes", "shard_id", "sequence", "timestamp", "offset", "payload_offsets"):
        a, b = getattr(got, name), getattr(want, name)
        if b is None:
            assert a is None
            continue
        assert a.dtype == b.dtype, name
        assert a.tolist() == b.tolist(), name
    assert got.payloads() == want.payloads()
    assert (got.ended, got.torn_tail, got.damage) == (want.ended, want.torn_tail, want.damage)
    assert got.header == want.header


def same_frame(got, want):
    pd.testing.assert_frame_equal(got, want)
    info = {k: v for k, v in want.attrs["ssfile"].items() if k != "files"}
    assert {k: v for k, v in got.attrs["ssfile"].items() if k != "files"} == info


def compare(url, local, options=None, **window):
    """Every export of ``url`` equals that of ``local`` for ``window``."""
    options = options or {}
    on_damage = window.get("on_damage", "raise")
    calls = [
        (ssfile.to_numpy, {}, same_numpy),  # payload buffer
        (ssfile.to_pandas, {}, same_frame),  # payload bytes
        (ssfile.to_arrow, {"payload": on_damage == "skip"}, lambda a, b: a.equals(b, True)),
    ]
    for fn, extra, check in calls:
        want, want_warned = outcome(lambda: fn(str(local), **window, **extra))
        got, warned = outcome(lambda: fn(url, **window, **extra, storage_options=options))
        assert warned == want_warned, (fn.__name__, window)
        if isinstance(want, FormatError):
            same_error(got, want, local, url)
        else:
            assert not isinstance(got, FormatError), (fn.__name__, window, got)
            assert check(got, want) is not False, (fn.__name__, window)


def reader_rows(local, since, until):
    """The messages of ``local`` in ``[since, until)`` as a skipping reader gives them after
    seeking to ``since``."""
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DamageWarning)
        with ssfile.open(str(local), on_damage="skip") as r:
            if since is not None and r.seek_time(since) is None:
                return out
            for m in r:
                if until is not None and m.timestamp_ms >= until:
                    break
                ts = pd.Timestamp(m.timestamp_ms, unit="ms", tz="UTC")
                out.append((m.stream_key, m.shard_id, m.sequence, ts, m.offset, m.payload))
    return out


def windows(local):
    """The grid: (since, until) pairs from the file's own timestamps (None: open)."""
    with ssfile.open(str(local), tolerate_truncation=True, on_damage="skip") as r:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stamps = [m.timestamp_ms for m in r]
    first, last, mid = stamps[0], stamps[-1], stamps[len(stamps) // 2]
    return [
        (mid, mid),  # empty
        (first - 100, first - 1),  # before the data
        (last + 1, last + 100),  # after it
        (mid, mid + 1),  # one message
        (first - 1, last + 1),  # the whole file
        (mid + 2, None),  # to the end
        (None, mid - 3),  # from the start
        (stamps[len(stamps) // 5] + 1, stamps[len(stamps) // 3] + 3),  # cuts intervals
        (stamps[-40], stamps[-3]),  # near the end
    ]


def grid(store_url, files, options=None, pick=None):
    """``compare`` over every window of every file (``pick``: indices of the windows)."""
    for name, local in files.items():
        options_for = (
            [{}, {"tolerate_truncation": True}]
            if name == "torn"
            else [{"on_damage": "raise"}, {"on_damage": "skip"}]
            if name in ("damaged", "bad_beacon")
            else [{}]
        )
        every = windows(local)
        for since, until in every if pick is None else [every[i] for i in pick]:
            for opts in options_for:
                try:
                    compare(store_url(local), local, options, since=since, until=until, **opts)
                except AssertionError as err:
                    raise AssertionError(f"{name} {since}..{until} {opts}: {err}") from err


# ---- http:// ------------------------------------------------------------------------------


def test_http_windows_equal_the_local_file(http_files, tmp_path):
    files = kinds(tmp_path)
    for local in files.values():
        shutil.copy(local, http_files.root / local.name)
    grid(lambda local: f"{http_files.url}/{local.name}", files)


def test_http_eos_in_the_middle(http_files, tmp_path):
    local = record(http_files.root / "mid.ss", 600, 1024, eos_at=250)
    for since, until in [(T0 + 5 * 100, T0 + 5 * 400), (T0 + 5 * 300, None), (None, None)]:
        compare(f"{http_files.url}/mid.ss", local, since=since, until=until)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(-20, 4600), st.integers(0, 4600), st.sampled_from(["intact", "no_eos"]))
def test_http_random_windows(http_files, tmp_path_factory, since, width, name):
    root = http_files.root
    if not (root / "intact.ss").exists():
        record(root / "intact.ss", 900, 1024)
        record(root / "no_eos.ss", 700, 2048, seed=2, eos=False)
    local = root / f"{name}.ss"
    compare(f"{http_files.url}/{name}.ss", local, since=T0 + since, until=T0 + since + width)


def test_damage_in_the_window_raises_with_the_file_offset(http_files, tmp_path):
    local = http_files.root / "d.ss"
    data = bytearray(record(tmp_path / "d.ss", 900, 1024).read_bytes())
    at = len(data) * 2 // 3
    data[at : at + 40] = bytes(40)
    local.write_bytes(bytes(data))
    url = f"{http_files.url}/d.ss"
    window = {"since": T0 + 5 * 500, "until": T0 + 5 * 800}
    with pytest.raises(FormatError) as err:
        ssfile.to_pandas(url, **window)
    assert err.value.offset is not None and err.value.offset > at - 4096
    assert url in str(err.value) and str(err.value.offset) in str(err.value)
    with pytest.warns(DamageWarning) as caught:
        df = ssfile.to_pandas(url, on_damage="skip", **window)
    assert [w.message.path for w in caught] == [url]
    (off, n) = caught[0].message.ranges[0]
    assert off <= at + 40 and off + n >= at
    assert df["offset"].is_monotonic_increasing and len(df) > 0


def test_local_window_behind_a_damaged_beacon_gives_the_readers_rows(tmp_path):
    """The vectorised scan's view of a file ends at a damaged beacon: a window behind one,
    with ``until``, used to come back empty with on_damage="skip"."""
    local = kinds(tmp_path)["bad_beacon"]
    every = windows(local)
    for since, until in [every[3], every[7], every[8]]:
        got, _ = outcome(
            lambda: ssfile.to_pandas(str(local), since=since, until=until, on_damage="skip")
        )
        want = reader_rows(local, since, until)
        assert want and list(got.itertuples(index=False)) == want


# ---- what goes over the wire ----------------------------------------------------------------

INTERVAL = 16384


def budget(size, visited):
    """What one seek may fetch (as tests/test_remote.py bounds it)."""
    return remote.HEAD + INTERVAL + visited * HEAD_READ + INTERVAL + SCAN_CHUNK


def test_http_window_fetches_the_window_not_the_file(http_files):
    local = http_files.root / "big.ss"
    with ssfile.open(local, "w", beacon_interval=INTERVAL, created_at=T0) as w:
        for i in range(60_000):
            w.write(b'{"i": %d}' % i, stream_key=STREAMS[i % 3], timestamp=T0 + i)
    size = local.stat().st_size
    url = f"{http_files.url}/big.ss"
    since, until = T0 + 31_000, T0 + 31_600  # 1% of the time range
    want = ssfile.to_pandas(str(local), since=since, until=until)
    with ssfile.open(local) as r:
        lo, hi = r.seek_time(since).offset, r.seek_time(until).offset
    visited = (size // INTERVAL).bit_length() + 2
    for call in (ssfile.to_pandas, ssfile.to_numpy, ssfile.to_arrow):
        http_files.reset()
        got = call(url, since=since, until=until)
        sent = http_files.bytes_sent
        assert len(got) == len(want) == 600
        # the window, from the beacon before it, the header, and two seeks
        assert sent <= (hi - lo) + INTERVAL + K.HEADER_SIZE + 2 * budget(size, visited), sent
        assert sent < size / 10, (sent, size)
    http_files.reset()
    ssfile.to_pandas(url)  # without since/until the file is read whole
    assert http_files.bytes_sent >= size


# ---- s3:// ------------------------------------------------------------------------------------


def test_s3_windows_equal_the_local_file(s3, tmp_path):
    fs, bucket, options = s3
    files = kinds(tmp_path)
    files = {k: files[k] for k in ("intact", "damaged")}
    for local in files.values():
        fs.put(str(local), f"{bucket}/{local.name}")
    # moto answers each range slowly: empty, one message, to the end, cut intervals
    grid(lambda local: f"s3://{bucket}/{local.name}", files, options, pick=[0, 3, 5, 7])


def test_s3_glob_and_list_keep_the_file_column(s3, tmp_path):
    fs, bucket, options = s3
    a = record(tmp_path / "a.ss", 500, 1024, seed=5)
    b = record(tmp_path / "b.ss", 400, 2048, seed=6, eos=False)
    fs.put(str(a), f"{bucket}/rec/a.ss")
    fs.put(str(b), f"{bucket}/rec/b.ss")
    urls = [f"s3://{bucket}/rec/a.ss", f"s3://{bucket}/rec/b.ss"]
    window = {"since": T0 + 5 * 150, "until": T0 + 5 * 450}
    for source in (f"s3://{bucket}/rec/*.ss", [urls[1], urls[0]]):
        got = ssfile.to_pandas(source, storage_options=options, **window)
        want = ssfile.to_pandas([str(b), str(a)], **window)
        assert got["file"].cat.categories.tolist() == urls
        assert got["file"].cat.codes.tolist() == want["file"].cat.codes.tolist()
        same_frame(got.drop(columns="file"), want.drop(columns="file"))
        table = ssfile.to_arrow(source, storage_options=options, **window)
        assert table.column("file").to_pylist() == got["file"].astype(str).tolist()
        cols = ssfile.to_numpy(source, storage_options=options, **window)
        assert cols.files == urls and cols.file().tolist() == table.column("file").to_pylist()
