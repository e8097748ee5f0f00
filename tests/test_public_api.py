"""The public surface later issues and users rely on: ``ssfile.__all__`` and its shapes."""

import asyncio
import datetime as dt
import inspect
import os
import pathlib
import re
import subprocess
import sys

import pytest

import ssfile

PUBLIC = [
    "AsyncReader",
    "FollowError",
    "Slice",
    "aopen",  # issue 3: asyncio reader, follow errors, slices
    "concat",
    "filter",
    "merge",
    "split",  # issue 15: recording surgery
    "Diagnosis",
    "repair",
    "verify",  # issue 4: verify and repair
    "BackendError",
    "BadMagic",
    "BufferFull",  # issue 18: a producer at its bound
    "Beacon",
    "ChecksumMismatch",
    "ConsumerMode",
    "ConsumerOptions",
    "connect",  # issue 14: the streamer's entry points at the top level
    "DamageWarning",  # issue 12: on_damage="skip"
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
    "ProducerOptions",  # issue 18: the bound on unacknowledged messages
    "Reader",
    "SSError",
    "SeekError",
    "StreamError",
    "TruncatedError",
    "UnsupportedVersion",
    "UsageError",
    "WriteFailed",  # issue 12: a failed write or fsync stops the writer
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
        "BufferFull",
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
        "WriteFailed",
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
    assert issubclass(ssfile.BufferFull, ssfile.StreamError)
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


def test_dir_shows_only_the_public_names():
    """dir(ssfile) (and so tab completion) is the curated API: no typing helpers, imported
    modules or private names, also once lazy names and submodules have been loaded."""
    import ssfile.file.writer  # noqa: F401 - puts the subpackage ssfile.file in the namespace

    ssfile.Reader  # noqa: B018 - a lazy name, now cached in the module
    assert dir(ssfile) == sorted(ssfile.__all__)


def test_a_cli_command_loads_only_its_own_module():
    """``ssfile cat`` parses its arguments without the checker, the streamer or asyncio."""
    loaded = _loaded_after("from ssfile.cli import build_parser; build_parser(['cat'])")
    assert "ssfile.cli.cat" in loaded
    for other in ("ssfile.cli.verify", "ssfile.cli.relay", "ssfile.check", "asyncio", "numpy"):
        assert other not in loaded, other
    loaded = _loaded_after("from ssfile.cli import build_parser; build_parser(['--help'])")
    assert {"ssfile.cli.cat", "ssfile.cli.verify", "ssfile.cli.relay"} <= loaded
    loaded = _loaded_after("from ssfile.cli import build_parser; build_parser(['--version'])")
    assert not {m for m in loaded if m.startswith("ssfile.cli.")}


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


def _public_callables():
    """(name, function) for every public function and public method of a public class."""
    from ssfile.export.arrays import Columns
    from ssfile.export.stats import Stats
    from ssfile.streamer.api import Consumer, Producer, Receipt, Streamer

    objects = {name: getattr(ssfile, name) for name in ssfile.__all__}
    objects.update(
        Columns=Columns,
        Stats=Stats,
        Consumer=Consumer,
        Producer=Producer,
        Receipt=Receipt,
        Streamer=Streamer,
    )
    for name, obj in objects.items():
        if inspect.isfunction(obj):
            yield name, obj
        elif inspect.isclass(obj):
            for attr, value in vars(obj).items():
                if attr.startswith("_") and attr not in ("__aenter__", "__enter__"):
                    continue
                fn = value.fget if isinstance(value, property) else value
                if inspect.isfunction(fn):
                    yield f"{name}.{attr}", fn


def test_no_any_on_public_return_types():
    found = list(_public_callables())
    assert len(found) > 50 and "to_pandas" in dict(found) and "Reader.seek_time" in dict(found)
    leaking = [
        (name, str(inspect.signature(fn).return_annotation))
        for name, fn in found
        if "Any" in str(inspect.signature(fn).return_annotation)
    ]
    assert leaking == []


@pytest.mark.slow
def test_open_overloads_tell_reader_from_writer(tmp_path):
    """What a type checker infers, asked from mypy itself (reveal_type)."""
    code = tmp_path / "use.py"
    code.write_text(
        "import ssfile\n"
        "async def main() -> None:\n"
        "    reveal_type(ssfile.open('a.ss'))\n"
        "    reveal_type(ssfile.open('a.ss', 'a', beacon_interval=1024))\n"
        "    reveal_type(ssfile.open('a.ss', str()))\n"
        "    async with await ssfile.connect('file:///x.ss') as s:\n"
        "        reveal_type(s)\n"
        "        async with await s.create_producer('k') as p:\n"
        "            reveal_type(p)\n"
        "        async with await s.create_consumer(['k']) as c:\n"
        "            reveal_type(c)\n"
        "    reveal_type(ssfile.to_numpy('a.ss').stream_key())\n"
    )
    root = pathlib.Path(ssfile.__file__).parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(code)],
        capture_output=True,
        text=True,
        cwd=root,
    )
    revealed = re.findall(r'Revealed type is "([^"]+)"', done.stdout)
    assert revealed[:6] == [
        "ssfile.file.reader.Reader",
        "ssfile.file.writer.Writer",
        "ssfile.file.reader.Reader | ssfile.file.writer.Writer",
        "ssfile.streamer.api.Streamer",
        "ssfile.streamer.api.Producer",
        "ssfile.streamer.api.Consumer",
    ], done.stdout
    assert len(revealed) == 7 and re.fullmatch(r"numpy\.ndarray\[.*numpy\.object_\]\]", revealed[6])


def test_producers_flush_and_consumers_close_on_exit():
    from ssfile.streamer.api import Consumer, Producer, Receipt

    calls = []

    class P(Producer):
        def send(self, payload):
            calls.append(("send", payload))
            return Receipt(fields=("k", 0, 1, 0, payload))

        async def flush(self):
            calls.append("flush")

        async def end(self):
            calls.append("end")

    class C(Consumer):
        async def next(self):
            raise ssfile.StreamError("unused")

        async def close(self):
            calls.append("close")

    async def main():
        async with P() as p:
            p.send(b"x")
        with pytest.raises(KeyError):  # the body's error goes through, after the flush
            async with P() as p:
                p.send(b"y")
                raise KeyError("boom")
        async with C() as c:
            assert isinstance(c, C)

    asyncio.run(main())
    assert calls == [("send", b"x"), "flush", ("send", b"y"), "flush", "close"]


def test_file_backend_in_async_with(tmp_path):
    """Leaving a producer's block stores what it sent but does not end the file (no EOS)."""
    path = tmp_path / "cm.ss"

    async def main():
        opts = ssfile.ConsumerOptions(auto_stream_reset="earliest", follow=False)
        async with await ssfile.connect(f"file://{path}") as s:
            async with await s.create_producer("clock") as p:
                for i in range(3):
                    p.send(b"%d" % i)
            with ssfile.open(path) as r:
                assert [m.payload for m in r] == [b"0", b"1", b"2"] and not r.ended
            async with await s.create_producer("other") as p:
                p.send(b"more")
            async with await s.create_consumer(["clock", "other"], opts) as c:
                return [m.payload async for m in c]

    assert asyncio.run(main()) == [b"0", b"1", b"2", b"more"]
    with ssfile.open(path) as r:
        assert len(list(r)) == 4 and not r.ended


def _messages(path, n, keys):
    with ssfile.open(path, "w", beacon_interval=4096) as w:
        for i in range(n):
            w.write(
                b'{"i": %d}' % i, stream_key=keys[i % len(keys)], timestamp=1_700_000_000_000 + i
            )


def test_reprs_stay_small_whatever_the_size(tmp_path):
    small, big = tmp_path / "small.ss", tmp_path / "big.ss"
    _messages(small, 10, keys=("alpha", "beta"))
    _messages(big, 20_000, keys=("alpha", "beta"))
    for path, n in ((small, 10), (big, 20_000)):
        cols = ssfile.to_numpy(path, payload=True)
        text = repr(cols)
        assert len(text) < 300 and f"{n} messages" in text and "'alpha'" in text, text
        assert "2023-11-14T22:13:20" in text and "array(" not in text
        st = ssfile.stats(path)
        assert repr(st).startswith(f"<ssfile.Stats 2 (stream, shard) pairs, {n} messages")
        diag = ssfile.verify(path)
        text = repr(diag)
        assert len(text) < 300 and f"clean, {n} intact messages" in text, text


def test_html_reprs(tmp_path):
    path = tmp_path / "rec.ss"
    _messages(path, 100, keys=("orders", "prices"))
    with ssfile.open(path) as r:
        next(iter(r))
        html = r._repr_html_()
        m = next(iter(r))  # showing it left the reader where it was: at the second message
        assert (m.stream_key, m.sequence) == ("prices", 1)
    assert "<table>" in html and "rec.ss" in html and "4096 bytes" in html
    assert "<td>orders</td><td>0</td><td>50</td><td>1…50</td>" in html
    assert "2023-11-14T22:13:20.0" in html
    cols = ssfile.to_numpy(path)
    assert "<td>orders</td><td>50</td>" in cols._repr_html_()
    assert "<table" in ssfile.stats(path)._repr_html_()
    data = bytearray(path.read_bytes())
    data[300] ^= 0xFF  # inside the first frames: verify lists the damage, escaped
    bad = tmp_path / "bad.ss"
    bad.write_bytes(bytes(data))
    diag = ssfile.verify(bad)
    html = diag._repr_html_()
    assert not diag.clean and "DAMAGED" in html and "<td>error</td>" in html
    assert "offset" in html and str(diag.sorted_problems()[0].offset) in html


def test_html_cells_are_escaped():
    from ssfile.display import table

    assert table(["a<b"], [["<script>&"]]) == (
        "<table><thead><tr><th>a&lt;b</th></tr></thead>"
        "<tbody><tr><td>&lt;script&gt;&amp;</td></tr></tbody></table>"
    )
