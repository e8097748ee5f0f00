"""``ssfile.dask.read_ss`` (issue 13, item 4): computed, it equals ``to_pandas`` of the same
files row for row (index, dtypes, order), however the files are split at beacons.

The oracle is ``to_pandas`` (tested against the reader in test_export and test_on_damage).
Files are cut into many partitions (tiny block sizes, so partitions start at most beacons),
with frames spliced across several beacons, with and without EOS, with an EOS in the middle
followed by more frames, damaged (``on_damage`` raise and skip) and torn.  Most tests use
the synchronous scheduler (warnings reach the test); the rest run on a real
``distributed.LocalCluster`` with two worker processes, on local files, a glob and S3 (moto).
"""

from __future__ import annotations

import os
import random
import sys
import warnings

import dask
import pandas as pd
import pytest

import ssfile
import ssfile.dask
from ssfile.codec.encoder import Encoder
from ssfile.errors import DamageWarning, FormatError, MissingDependency, TruncatedError
from ssfile.export.partitions import Beacons, beacon_indices, parse_blocksize
from ssfile.format.records import FileHeader

T0 = 1_700_000_000_000
KEYS = [("a", 0), ("b", 1), ("sensor.x", 0), ("b", 2)]


def messages(n, seed, big_every=0, big=3000):
    """(key, shard, seq, ts, payload): mixed sizes; every ``big_every``-th payload has
    ``big`` bytes (chosen to span several beacon intervals)."""
    rng = random.Random(seed)
    seqs = dict.fromkeys(KEYS, 0)
    out = []
    for i in range(n):
        key = KEYS[rng.randrange(len(KEYS))]
        seqs[key] += 1
        size = big if big_every and i % big_every == big_every - 1 else rng.randrange(0, 120)
        payload = bytes(rng.randrange(256) for _ in range(size))
        out.append((key[0], key[1], seqs[key], T0 + i * 7 + rng.randrange(5), payload))
    return out


def encode(path, interval, msgs, eos=True, eos_after=None):
    """Write ``msgs`` with the encoder; ``eos_after``: an EOS after that many messages
    (the rest follows it, as upstream's append can leave it), ``eos``: one at the end."""
    enc = Encoder(FileHeader("dask.ss", T0, interval))
    enc.start()
    for i, m in enumerate(msgs):
        if i == eos_after:
            enc.end_of_stream(T0 + 5)
        enc.encode(*m)
    if eos:
        enc.end_of_stream(T0 + 10**6)
    data = enc.take()
    with open(path, "wb") as f:
        f.write(data)
    return data


def same(got, want):
    assert list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(got, want)  # values, order, index, dtypes (categories too)


def sync(ddf):
    return ddf.compute(scheduler="sync")


def damage_of(caught):
    return [r for w in caught if issubclass(w.category, DamageWarning) for r in w.message.ranges]


def compare(source, blocksizes, **options):
    """read_ss == to_pandas for each block size, warnings included; returns the
    partition counts."""
    counts = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            want = ssfile.to_pandas(source, **options)
        except FormatError as err:
            want = err
    for bs in blocksizes:
        with warnings.catch_warnings(record=True) as mine:
            warnings.simplefilter("always")
            ddf = ssfile.dask.read_ss(source, blocksize=bs, **options)
            counts.append(ddf.npartitions)
            if isinstance(want, FormatError):
                with pytest.raises(type(want)) as err:
                    sync(ddf)
                assert str(err.value) == str(want) and err.value.offset == want.offset
                continue
            got = sync(ddf)
        same(got, want)
        assert damage_of(mine) == damage_of(caught), bs
    return counts


# ---- splitting intact files -----------------------------------------------------------------


@pytest.mark.parametrize("interval", [128, 1024, 4096])
@pytest.mark.parametrize("eos", [True, False])
def test_split_at_beacons_equals_to_pandas(tmp_path, interval, eos):
    path = tmp_path / "x.ss"
    n = {128: 90, 1024: 350, 4096: 500}[interval]
    data = encode(path, interval, messages(n, interval, big_every=30, big=3 * interval), eos=eos)
    counts = compare(str(path), [None, len(data) // 3, 5000, 1])
    assert counts[0] == 1 and counts[1] >= 3
    assert counts[-1] == (len(data) - 1) // interval + 1  # a partition at every beacon


def test_selection_and_columns(tmp_path):
    path = tmp_path / "x.ss"
    data = encode(path, 1024, messages(400, 5, big_every=40))
    since, until = T0 + 1500, T0 + 4000
    compare(str(path), [1, 2000], streams=["b"], since=since, until=until)
    compare(str(path), [3000], shards=0, check_crc=False)
    ddf = ssfile.dask.read_ss(str(path), blocksize=len(data) // 4, columns=["sequence", "offset"])
    want = ssfile.to_pandas(str(path), payload=False)[["sequence", "offset"]]
    same(sync(ddf), want)


def test_boundaries_are_the_first_frame_after_each_beacon(tmp_path):
    path = tmp_path / "x.ss"
    data = encode(path, 256, messages(400, 9, big_every=25))
    offsets = ssfile.to_pandas(str(path), payload=False)["offset"].tolist()
    cut = Beacons(lambda at, n: data[at : at + n], len(data), 256)
    for k in range(1, cut.count() + 1):
        want = next((o for o in offsets if o >= k * 256), None)
        got = cut.boundary(k)
        # the frame after the last message is the EOS (not in to_pandas): usable as well
        assert got == want or (want is None and got is not None and got > offsets[-1])


def test_meta_dtypes_and_divisions(tmp_path):
    for i in range(2):
        encode(tmp_path / f"f{i}.ss", 1024, messages(50, i))
    glob = str(tmp_path / "*.ss")
    ddf = ssfile.dask.read_ss(glob, blocksize=2000)
    want = ssfile.to_pandas(glob)
    assert list(ddf.columns) == list(want.columns)
    assert [str(t) for t in ddf.dtypes] == [str(t) for t in want.dtypes]
    assert list(ddf.file.cat.categories) == list(want.file.cat.categories)  # known
    assert not ddf.known_divisions
    same(sync(ddf), want)
    single = ssfile.dask.read_ss(str(tmp_path / "f0.ss"))
    assert "file" not in single.columns and single.npartitions == 1


def test_bad_arguments():
    for bad, err in [("12 parsecs", ValueError), (0, ValueError), (True, TypeError)]:
        with pytest.raises(err, match="blocksize"):
            ssfile.dask.read_ss("x.ss", blocksize=bad)
    assert parse_blocksize("256MiB") == 256 << 20 and parse_blocksize("64 MB") == 64_000_000
    with pytest.raises(ValueError, match="on_damage"):
        ssfile.dask.read_ss("x.ss", on_damage="ignore")
    with pytest.raises(FileNotFoundError):
        ssfile.dask.read_ss("/nonexistent/x.ss")


def test_unknown_column(tmp_path):
    encode(tmp_path / "x.ss", 1024, messages(5, 1))
    with pytest.raises(ValueError, match="unknown column"):
        ssfile.dask.read_ss(str(tmp_path / "x.ss"), columns=["file"])  # one file: no file column


def test_beacon_indices_cover_the_file():
    assert beacon_indices(10_000, 1024, 3000) == [0, 3, 6, 9]
    assert beacon_indices(10_000, 1024, 1) == list(range(10))
    assert beacon_indices(1000, 1024, 1) == [0]


# ---- EOS, torn tails, damage ----------------------------------------------------------------


def test_eos_in_the_middle_ends_the_file(tmp_path):
    path = tmp_path / "x.ss"
    msgs = messages(300, 3, big_every=60)
    encode(path, 512, msgs, eos=True, eos_after=120)
    want = ssfile.to_pandas(str(path))
    assert len(want) == 120
    compare(str(path), [1, 700, 4000])
    # garbage after the EOS is not part of the file either: no error for it
    data = bytearray(path.read_bytes())
    data[-3000:-2000] = bytes(1000)
    path.write_bytes(bytes(data))
    compare(str(path), [1, 4000])


def test_torn_tail(tmp_path):
    path = tmp_path / "x.ss"
    data = encode(path, 1024, messages(250, 4, big_every=30), eos=False)
    path.write_bytes(data[:-100])
    with pytest.raises(TruncatedError):
        ssfile.to_pandas(str(path))
    compare(str(path), [1, 5000])
    compare(str(path), [1, 5000], tolerate_truncation=True)


def damaged_files(data, interval, seed, count):
    """Copies of ``data`` with 1-3 damaged spots each: zeroed runs, flipped bytes, a
    zeroed beacon, anywhere after the header."""
    rng = random.Random(seed)
    for _ in range(count):
        out = bytearray(data)
        for _ in range(rng.randrange(1, 4)):
            kind = rng.randrange(3)
            if kind == 0:
                at, n = rng.randrange(128, len(out) - 1), rng.randrange(1, 300)
                out[at : at + n] = bytes(len(out[at : at + n]))
            elif kind == 1:
                at = rng.randrange(128, len(out))
                out[at] ^= 1 << rng.randrange(8)
            else:
                k = rng.randrange(1, (len(out) - 1) // interval + 1)
                out[k * interval + 1 : k * interval + 9] = b"\xff" * 8
        yield bytes(out)


@pytest.mark.parametrize("on_damage", ["raise", "skip"])
def test_damage_as_to_pandas(tmp_path, on_damage):
    """raise: the same (first) error; skip: every intact message exactly once, each
    damaged range reported once, as to_pandas does."""
    interval = 1024
    data = encode(tmp_path / "orig.ss", interval, messages(250, 11, big_every=45))
    path = tmp_path / "x.ss"
    for i, bad in enumerate(damaged_files(data, interval, 7, 8)):
        path.write_bytes(bad)
        try:
            compare(str(path), [1, len(bad) // 3], on_damage=on_damage)
        except AssertionError as err:
            raise AssertionError(f"damaged file {i}: {err}") from err


def test_skip_counts_every_intact_message_once(tmp_path):
    interval = 1024
    data = bytearray(encode(tmp_path / "orig.ss", interval, messages(250, 12, big_every=45)))
    want_all = ssfile.to_pandas(str(tmp_path / "orig.ss"))
    data[5 * interval - 40 : 5 * interval + 40] = bytes(80)  # across a partition boundary
    path = tmp_path / "x.ss"
    path.write_bytes(bytes(data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = sync(ssfile.dask.read_ss(str(path), blocksize=1, on_damage="skip"))
    assert got["offset"].is_unique
    assert set(got["offset"]) < set(want_all["offset"])
    lost = len(want_all) - len(got)
    assert 1 <= lost <= 6  # the frames the 80 bytes touch, not an interval's worth
    assert len(damage_of(caught)) == 1


# ---- a real cluster: worker processes, local files, a glob, S3 --------------------------------


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


def test_local_cluster_many_files(tmp_path, client):
    for i in range(3):
        encode(tmp_path / f"r{i}.ss", 1024, messages(150 + 100 * i, 20 + i, big_every=33))
    glob = str(tmp_path / "r*.ss")
    ddf = ssfile.dask.read_ss(glob, blocksize=8000)
    assert ddf.npartitions > 6
    same(ddf.compute(), ssfile.to_pandas(glob))
    listed = [str(tmp_path / "r2.ss"), str(tmp_path / "r0.ss")]
    selected = ssfile.dask.read_ss(listed, blocksize=6000, streams="a")
    counts = ssfile.dask.read_ss(glob, blocksize=8000).groupby("stream_key").size()
    got, sizes = dask.compute(selected, counts)  # one round trip
    same(got, ssfile.to_pandas(listed, streams="a"))
    assert sizes.to_dict() == ssfile.to_pandas(glob).groupby("stream_key").size().to_dict()
    workers = client.run(os.getpid)
    assert len(set(workers.values()) - {os.getpid()}) == 2  # two other processes


def test_local_cluster_errors_reach_the_client(tmp_path, client):
    data = bytearray(encode(tmp_path / "orig.ss", 1024, messages(400, 3)))
    data[len(data) // 2 : len(data) // 2 + 50] = bytes(50)
    path = tmp_path / "x.ss"
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError) as want:
        ssfile.to_pandas(str(path))
    with pytest.raises(FormatError) as got:
        ssfile.dask.read_ss(str(path), blocksize=2000).compute()
    assert str(got.value) == str(want.value) and got.value.offset == want.value.offset
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DamageWarning)
        same(
            ssfile.dask.read_ss(str(path), blocksize=2000, on_damage="skip").compute(),
            ssfile.to_pandas(str(path), on_damage="skip"),
        )


def test_s3_on_the_cluster(s3, tmp_path, client):
    fs, bucket, options = s3
    for i in range(2):
        local = tmp_path / f"s{i}.ss"
        encode(local, 2048, messages(200, 40 + i, big_every=20), eos=bool(i))
        fs.put(str(local), f"{bucket}/rec/s{i}.ss")
    url = f"s3://{bucket}/rec/*.ss"
    want = ssfile.to_pandas(url, storage_options=options)
    assert len(want) == 400 and want["file"].nunique() == 2
    ddf = ssfile.dask.read_ss(url, blocksize=7000, storage_options=options)
    assert ddf.npartitions >= 6
    same(ddf.compute(), want)
    same(
        ssfile.dask.read_ss(
            url, blocksize=9000, storage_options=options, since=T0 + 400, until=T0 + 1000
        ).compute(),
        ssfile.to_pandas(url, storage_options=options, since=T0 + 400, until=T0 + 1000),
    )


def test_s3_damaged(s3, tmp_path):
    fs, bucket, options = s3
    data = encode(tmp_path / "orig.ss", 1024, messages(150, 50, big_every=30))
    for i, bad in enumerate(damaged_files(data, 1024, 3, 1)):
        fs.pipe(f"{bucket}/d{i}.ss", bad)
        url = f"s3://{bucket}/d{i}.ss"
        for on_damage in ("raise", "skip"):
            compare(url, [4000], storage_options=options, on_damage=on_damage)


# ---- the extra ------------------------------------------------------------------------------


def test_missing_dask_names_the_extra(monkeypatch, tmp_path):
    for name in [m for m in sys.modules if m == "dask" or m.startswith("dask.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(MissingDependency, match=r"ssfile\[dask\]"):
        ssfile.dask.read_ss(str(tmp_path / "x.ss"))
