"""The public surface later issues and users rely on: ``ssfile.__all__`` and its shapes."""

import datetime as dt
import inspect

import ssfile

PUBLIC = [
    "AsyncReader",
    "FollowError",
    "Slice",
    "aopen",  # issue 3: asyncio reader, follow errors, slices
    "Diagnosis",
    "repair",
    "verify",  # issue 4: verify and repair
    "BackendError",
    "BadMagic",
    "Beacon",
    "ChecksumMismatch",
    "DEFAULT_BEACON_INTERVAL",
    "EncodeError",
    "EndOfStream",
    "FieldError",
    "FileHeader",
    "FormatError",
    "Marker",
    "Message",
    "MessageHeader",
    "MissingDependency",
    "Reader",
    "SSError",
    "SeekError",
    "StreamError",
    "TruncatedError",
    "UnsupportedVersion",
    "UsageError",
    "Writer",
    "__version__",
    "open",
    "stats",
    "to_arrow",  # issue 13: Arrow tables
    "to_numpy",
    "to_pandas",
]


def test_all_is_pinned():
    """Adding or removing a public name is a decision: update this list with it."""
    assert sorted(ssfile.__all__) == sorted(PUBLIC)
    assert len(set(ssfile.__all__)) == len(ssfile.__all__)
    for name in ssfile.__all__:
        assert hasattr(ssfile, name), name


def test_version_and_constants():
    assert isinstance(ssfile.__version__, str) and ssfile.__version__.count(".") >= 2
    assert ssfile.DEFAULT_BEACON_INTERVAL == 1_048_576


def test_error_tree():
    for name in (
        "BackendError",
        "BadMagic",
        "ChecksumMismatch",
        "EncodeError",
        "FieldError",
        "FormatError",
        "MissingDependency",
        "SeekError",
        "StreamError",
        "TruncatedError",
        "UnsupportedVersion",
        "UsageError",
    ):
        assert issubclass(getattr(ssfile, name), ssfile.SSError), name
    for name in (
        "BadMagic",
        "ChecksumMismatch",
        "FieldError",
        "TruncatedError",
        "UnsupportedVersion",
    ):
        assert issubclass(getattr(ssfile, name), ssfile.FormatError), name
    err = ssfile.TruncatedError("truncated message frame", 4242)
    assert err.offset == 4242 and "4242" in str(err)


def test_open_signature():
    params = inspect.signature(ssfile.open).parameters
    assert list(params)[:2] == ["path", "mode"] and params["mode"].default == "r"
    write = inspect.signature(ssfile.Writer.write).parameters
    assert list(write)[1] == "payload"
    for name, default in (
        ("stream_key", inspect.Parameter.empty),
        ("shard_id", 0),
        ("sequence", None),
        ("timestamp", None),
    ):
        assert write[name].kind is inspect.Parameter.KEYWORD_ONLY and write[name].default == default


def test_the_documented_shape(tmp_path):
    path = tmp_path / "rec.ss"
    with ssfile.open(path, "w", beacon_interval=1024) as w:
        assert isinstance(w, ssfile.Writer)
        w.write(b"payload", stream_key="clock", shard_id=0, sequence=None, timestamp=None)
    with ssfile.open(path) as r:
        assert isinstance(r, ssfile.Reader)
        assert (r.header.file_name, r.header.beacon_interval) == ("rec.ss", 1024)
        assert isinstance(r.header.created_at, dt.datetime)
        (m,) = list(r)
        assert isinstance(m, ssfile.Message) and r.ended
        assert (m.stream_key, m.shard_id, m.sequence, m.payload) == ("clock", 0, 1, b"payload")
        assert isinstance(m.timestamp_ms, int)
        assert m.timestamp.tzinfo is not None and m.timestamp.utcoffset() == dt.timedelta(0)
        assert m.timestamp == dt.datetime.fromtimestamp(m.timestamp_ms / 1000, dt.UTC)


def test_demo_runs(tmp_path, capsys):
    """The README's first command (a recorded, printed and seeked demo)."""
    from ssfile.cli import main

    assert main(["demo", str(tmp_path), "--messages", "2000"]) == 0
    assert "recorded 2000 messages" in capsys.readouterr().out
