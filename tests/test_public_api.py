"""The public surface later issues and users rely on: ``ssfile.__all__`` and its shapes."""

import datetime as dt
import inspect
import os
import subprocess
import sys

import pytest

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
    "ConsumerMode",
    "ConsumerOptions",
    "connect",  # issue 14: the streamer's entry points at the top level
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


def _loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_import_ssfile_loads_almost_nothing():
    """``import ssfile`` is the errors and the facade; the rest loads on first use."""
    loaded = _loaded_after("import ssfile")
    assert {m for m in loaded if m.startswith("ssfile")} == {"ssfile", "ssfile.errors"}
    for heavy in ("numpy", "pandas", "construct", "asyncio", "ssfile.check", "ssfile.streamer"):
        assert heavy not in loaded, heavy


def test_lazy_names_resolve_to_their_modules():
    from ssfile.check import verify
    from ssfile.file.reader import Reader
    from ssfile.streamer import ConsumerMode, ConsumerOptions, connect

    assert (ssfile.verify, ssfile.Reader) == (verify, Reader)
    assert (ssfile.connect, ssfile.ConsumerOptions, ssfile.ConsumerMode) == (
        connect,
        ConsumerOptions,
        ConsumerMode,
    )
    assert set(ssfile.__all__) <= set(dir(ssfile))
    try:
        ssfile.no_such_name  # noqa: B018
    except AttributeError as err:
        assert "no_such_name" in str(err)
    else:
        raise AssertionError("no AttributeError")


def test_a_cli_command_loads_only_its_own_module():
    """``ssfile cat`` parses its arguments without the checker, the streamer or asyncio."""
    loaded = _loaded_after("from ssfile.cli import build_parser; build_parser(['cat'])")
    assert "ssfile.cli.cat" in loaded
    for other in ("ssfile.cli.verify", "ssfile.cli.relay", "ssfile.check", "asyncio", "numpy"):
        assert other not in loaded, other
    loaded = _loaded_after("from ssfile.cli import build_parser; build_parser(['--help'])")
    assert {"ssfile.cli.cat", "ssfile.cli.verify", "ssfile.cli.relay"} <= loaded


def test_version_names_the_codec(capsys):
    from ssfile.cli import main
    from ssfile.codec.accel import speedups

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    codec = "C accelerator" if speedups is not None else "pure Python"
    assert capsys.readouterr().out.strip() == f"ssfile {ssfile.__version__} (codec: {codec})"
    forced = subprocess.run(
        [sys.executable, "-m", "ssfile", "--version"],
        capture_output=True,
        text=True,
        env={**os.environ, "SSFILE_PURE": "1"},
    )
    assert forced.stdout.strip() == f"ssfile {ssfile.__version__} (codec: pure Python)"
