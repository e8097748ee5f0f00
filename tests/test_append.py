"""Mode "a": an appended file is byte-for-byte the file one writer session would have made;
torn tails are dropped, an old EOS never hides new messages, damaged files are refused,
and one writer at a time holds a file."""

import os
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ss_strategies import message_lists

import ssfile
from ssfile.codec.events import EndOfStream

CREATED = 1_700_000_000_000


def session(path, msgs, *, mode="a", interval=None, eos_ts=None):
    """One writer session; an EOS with a fixed timestamp if ``eos_ts`` is given."""
    kw = {"created_at": CREATED} if mode == "w" else {}
    if interval is not None:
        kw["beacon_interval"] = interval
    with ssfile.open(path, mode, eos=False, **kw) as w:
        for key, shard, seq, ts, payload in msgs:
            w.write(payload, stream_key=key, shard_id=shard, sequence=seq, timestamp=ts)
        if eos_ts is not None:
            w.write_eos(timestamp=eos_ts)


def read(path):
    with ssfile.open(path) as r:
        return [
            (m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.payload) for m in r
        ], r.ended


@settings(max_examples=50, deadline=None)
@given(
    msgs=message_lists(max_messages=40, max_payload=500),
    interval=st.integers(128, 2048),
    cuts=st.lists(st.integers(0, 40), max_size=3),
    eos_between=st.lists(st.booleans(), min_size=3, max_size=3),
    final_eos=st.booleans(),
)
def test_appended_equals_one_session(msgs, interval, cuts, eos_between, final_eos):
    points = sorted({c % (len(msgs) + 1) for c in cuts})
    bounds = [0, *points, len(msgs)]
    with tempfile.TemporaryDirectory() as tmp:
        one = os.path.join(tmp, "one")
        many = os.path.join(tmp, "many")
        os.mkdir(one)
        os.mkdir(many)
        one, many = os.path.join(one, "f.ss"), os.path.join(many, "f.ss")
        session(one, msgs, mode="w", interval=interval, eos_ts=7 if final_eos else None)
        for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
            last = i == len(bounds) - 2
            eos = (7 if final_eos else None) if last else (5 if eos_between[i % 3] else None)
            session(many, msgs[a:b], mode="w" if i == 0 else "a", interval=interval, eos_ts=eos)
        with open(one, "rb") as f1, open(many, "rb") as f2:
            assert f2.read() == f1.read()


def _msgs(n, key="k", size=30, start=0):
    return [(key, j % 2, j, 1000 + j, bytes([j % 256]) * size) for j in range(start, start + n)]


def test_sequences_continue_after_append(tmp_path):
    path = tmp_path / "seq.ss"
    with ssfile.open(path, "w") as w:
        w.write(b"", stream_key="a")
        w.write(b"", stream_key="a", sequence=41)
        w.write(b"", stream_key="b", shard_id=3)
    with ssfile.open(path, "a") as w:
        assert w.write(b"", stream_key="a") == 42
        assert w.write(b"", stream_key="b", shard_id=3) == 2
        assert w.write(b"", stream_key="c") == 1
    msgs, ended = read(path)
    assert [m[2] for m in msgs] == [1, 41, 1, 42, 2, 1] and ended


def test_append_over_a_torn_tail(tmp_path):
    msgs = _msgs(30, size=90)
    torn, ref = tmp_path / "a" / "f.ss", tmp_path / "b" / "f.ss"
    torn.parent.mkdir()
    ref.parent.mkdir()
    session(torn, msgs, mode="w", interval=512)
    os.truncate(torn, os.path.getsize(torn) - 40)  # tear the last frame
    more = _msgs(10, key="z", start=100)
    session(torn, more, eos_ts=9)
    session(ref, msgs[:-1] + more, mode="w", interval=512, eos_ts=9)
    assert torn.read_bytes() == ref.read_bytes()


def test_append_after_a_cut_exactly_on_a_boundary(tmp_path):
    """The writer died between a boundary and its beacon: an empty beacon is written there."""
    path = tmp_path / "b.ss"
    session(path, [("k", 0, 1, 1, b"x" * 95)], mode="w", interval=256)  # 128 + 128 = 256
    assert os.path.getsize(path) == 256 + 7
    os.truncate(path, 256)
    session(path, [("after", 0, 1, 2, b"y" * 300)])
    data = path.read_bytes()
    assert data[256:263] == b"\x0d\x00\x00\x00\x00\x00\x0d"
    assert read(path) == ([("k", 0, 1, 1, b"x" * 95), ("after", 0, 1, 2, b"y" * 300)], False)


def test_small_file_ending_in_eos_gets_no_message_after_the_eos(tmp_path):
    """Upstream QUIRK (notes §5.8): below the first boundary it keeps the old EOS and appends
    behind it, so readers never see the new messages.  We replace the EOS."""
    path = tmp_path / "small.ss"
    session(path, _msgs(3), mode="w", interval=1 << 20, eos_ts=50)
    assert read(path) == (_msgs(3), True)
    session(path, _msgs(4, start=3), eos_ts=60)
    msgs, ended = read(path)
    assert msgs == _msgs(7) and ended
    with ssfile.open(path) as r:
        eos = [e for e in r.events() if isinstance(e, EndOfStream)]
    assert len(eos) == 1 and eos[0].message.timestamp_ms == 60
    assert path.read_bytes().count(b"SEA_STREAMER_INTERNAL") == 1


@pytest.mark.parametrize("initial", [None, b""])
def test_append_to_a_missing_or_empty_file(tmp_path, initial):
    path = tmp_path / "new.ss"
    if initial is not None:
        path.write_bytes(initial)
    session(path, _msgs(3), interval=256, eos_ts=1)
    with ssfile.open(path) as r:
        assert r.header.beacon_interval == 256 and r.header.file_name == "new.ss"
        assert [m.payload for m in r] == [p for *_, p in _msgs(3)] and r.ended


def test_append_to_a_header_only_file(tmp_path):
    path = tmp_path / "h.ss"
    ssfile.open(path, "w", beacon_interval=640, eos=False).close()
    session(path, _msgs(2))
    assert read(path)[0] == _msgs(2)


def test_append_keeps_the_file_s_interval(tmp_path):
    path = tmp_path / "i.ss"
    session(path, _msgs(1), mode="w", interval=2048)
    with pytest.raises(ssfile.EncodeError, match="2048"):
        ssfile.open(path, "a", beacon_interval=1024)
    session(path, _msgs(1, start=1))  # no interval given: the file's is used
    assert len(read(path)[0]) == 2


def _damage_first_payload(path):
    data = bytearray(path.read_bytes())
    with ssfile.open(path) as r:
        first = next(iter(r))
    data[first.offset + 1 + len(first.stream_key) + 28] ^= 0xFF
    path.write_bytes(bytes(data))
    return first.offset


def test_append_refuses_a_damaged_file_and_leaves_it_alone(tmp_path):
    path = tmp_path / "bad.ss"
    session(path, _msgs(5), mode="w", interval=1024, eos_ts=3)
    offset = _damage_first_payload(path)
    before = path.read_bytes()
    with pytest.raises(ssfile.FormatError) as info:
        ssfile.open(path, "a")
    assert info.value.offset == offset
    assert "damaged" in str(info.value) and "bad.ss" in str(info.value)
    assert path.read_bytes() == before


def test_append_refuses_a_file_with_a_bad_key(tmp_path):
    path = tmp_path / "key.ss"
    session(path, _msgs(5), mode="w", interval=1024)
    data = bytearray(path.read_bytes())
    data[128 + 1] = ord("/")
    path.write_bytes(bytes(data))
    with pytest.raises(ssfile.FieldError) as info:
        ssfile.open(path, "a")
    assert info.value.offset == 128
    assert path.read_bytes() == bytes(data)


def test_append_refuses_a_torn_header(tmp_path):
    path = tmp_path / "torn-header.ss"
    session(path, _msgs(2), mode="w", interval=1024)
    os.truncate(path, 60)
    with pytest.raises(ssfile.TruncatedError, match="header") as info:
        ssfile.open(path, "a")
    assert info.value.offset == 0
    assert os.path.getsize(path) == 60


@pytest.mark.parametrize("second_mode", ["a", "w"])
def test_a_second_writer_is_refused(tmp_path, second_mode):
    path = tmp_path / "locked.ss"
    first = ssfile.open(path, "w", eos=False)
    first.write(b"one", stream_key="k", timestamp=1)
    first.flush()
    before = path.read_bytes()
    with pytest.raises(ssfile.SSError, match="another writer"):
        ssfile.open(path, second_mode)
    assert path.read_bytes() == before  # "w" did not truncate it either
    first.write(b"two", stream_key="k", timestamp=2)
    first.close()
    assert [m[4] for m in read(path)[0]] == [b"one", b"two"]
    ssfile.open(path, "a").close()  # free again once the first writer closed


def test_a_writer_in_another_process_is_refused(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "shared.ss"
    with ssfile.open(path, "w") as w:
        w.write(b"mine", stream_key="k", timestamp=1)
        w.flush()
        code = (
            "import sys, ssfile\n"
            "try:\n    ssfile.open(sys.argv[1], 'a')\n"
            "except ssfile.SSError as e:\n    print(e); sys.exit(3)\n"
        )
        run = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 3, run.stderr
        assert "another writer" in run.stdout and "shared.ss" in run.stdout
    assert [m[4] for m in read(path)[0]] == [b"mine"]
