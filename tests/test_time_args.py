"""One time argument everywhere: every API that takes a time goes through
``ssfile.timefmt.to_ms`` and takes int ms, datetime (naive = UTC), pandas.Timestamp,
numpy.datetime64 and text; the CLI's time options also take times relative to now."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd
import pytest

import ssfile
from ssfile.cli import main
from ssfile.cli.demo import START_MS, record
from ssfile.errors import UsageError
from ssfile.timefmt import parse_relative, to_ms

T = START_MS + 500_000  # 2026-01-01T00:08:20Z, 500 s into the demo (one message per 50 ms)
TEXT = "2026-01-01T00:08:20Z"

#: the same instant in every accepted form
SAME_INSTANT = [
    T,
    np.int64(T),
    dt.datetime(2026, 1, 1, 0, 8, 20),  # naive = UTC
    dt.datetime(2026, 1, 1, 1, 8, 20, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    pd.Timestamp("2026-01-01T00:08:20"),
    pd.Timestamp("2026-01-01T00:08:20Z"),
    np.datetime64("2026-01-01T00:08:20"),
    np.datetime64("2026-01-01T00:08:20.000000000"),  # ns unit
    TEXT,
    "2026-01-01T00:08:20",  # no zone = UTC
    "2026-01-01T00:08:20.000",  # upstream's format
    "2026-01-01T01:08:20+01:00",
    str(T),  # epoch ms as digits
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("t") / "demo.ss")
    record(path, 20_000)
    return path


@pytest.mark.parametrize("value", SAME_INSTANT, ids=repr)
def test_to_ms_takes_every_form(value):
    assert to_ms(value) == T


def test_to_ms_date_is_midnight_utc_and_truncates_below_a_millisecond():
    assert to_ms(dt.date(2026, 1, 1)) == START_MS
    assert to_ms(dt.datetime(2026, 1, 1, 0, 0, 0, 999_999)) == START_MS + 999
    assert to_ms(pd.Timestamp("2026-01-01T00:00:00.001999999")) == START_MS + 1
    assert to_ms(np.datetime64("2026-01-01", "D")) == START_MS


@pytest.mark.parametrize(
    "value, error, words",
    [
        (True, TypeError, "since must be int milliseconds"),
        (1.5, TypeError, "since must be"),
        (b"2026", TypeError, "since must be"),
        ("yesterday", UsageError, "since: invalid time 'yesterday'"),
        ("99999999999999999", UsageError, "out of range"),
        (pd.NaT, UsageError, "since: NaT"),
        (np.datetime64("NaT"), UsageError, "since: NaT"),
    ],
    ids=repr,
)
def test_to_ms_refuses_what_is_not_a_time_naming_the_argument(value, error, words):
    with pytest.raises(error, match=words):
        to_ms(value, "since")


def test_to_ms_imports_neither_numpy_nor_pandas():
    code = (
        "import sys, datetime; from ssfile.timefmt import to_ms; "
        "to_ms('2026-01-01T00:08:20Z'); to_ms(datetime.datetime(2026, 1, 1)); to_ms(5); "
        "print(sorted(m for m in ('numpy', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("value", SAME_INSTANT, ids=repr)
def test_seek_time_takes_every_form(demo, value):
    with ssfile.open(demo) as r:
        m = r.seek_time(value)
        assert m is not None and m.timestamp_ms == T
        assert next(iter(r)).timestamp_ms == T


def test_async_seek_time_takes_text(demo):
    async def go() -> int:
        async with ssfile.aopen(demo) as r:
            m = await r.seek_time(TEXT)
            assert m is not None
            return m.timestamp_ms

    assert asyncio.run(go()) == T


@pytest.mark.parametrize("since", [TEXT, pd.Timestamp(TEXT), np.datetime64("2026-01-01T00:08:20")])
def test_slice_takes_every_form_and_keeps_ms(demo, since):
    s = ssfile.Slice(since=since, until="2026-01-01T00:08:21Z")
    assert (s.since, s.until) == (T, T + 1000)
    with ssfile.open(demo) as r:
        got = [m.timestamp_ms for m in s.messages(r)]
    assert got == list(range(T, T + 1000, 50))


def test_slice_names_a_bad_time():
    with pytest.raises(UsageError, match="until: invalid time"):
        ssfile.Slice(until="later")


@pytest.mark.parametrize("fn", ["to_numpy", "to_pandas", "to_arrow", "stats"])
@pytest.mark.parametrize(
    "since, until",
    [
        (TEXT, T + 1000),
        (pd.Timestamp(TEXT), np.datetime64("2026-01-01T00:08:21")),
        (dt.datetime(2026, 1, 1, 0, 8, 20), "2026-01-01T00:08:21.000"),
    ],
    ids=["text+int", "pandas+numpy", "datetime+upstream"],
)
def test_exports_take_every_form(demo, fn, since, until):
    got = getattr(ssfile, fn)(demo, since=since, until=until)
    n = {"to_numpy": lambda c: len(c), "to_pandas": len, "to_arrow": lambda t: t.num_rows}.get(
        fn, lambda st: int(st.streams["count"].sum())
    )(got)
    assert n == 20


def test_writer_timestamps_take_every_form(tmp_path):
    path = tmp_path / "w.ss"
    with ssfile.open(path, "w", created_at=TEXT) as w:
        for value in SAME_INSTANT:
            w.write(b"x", stream_key="k", timestamp=value)
        w.write_eos(timestamp=pd.Timestamp(TEXT))
    with ssfile.open(path) as r:
        assert r.header.created_at_ms == T
        assert [m.timestamp_ms for m in r] == [T] * len(SAME_INSTANT)


def test_writer_refuses_a_bad_timestamp_and_writes_nothing_for_it(tmp_path):
    path = tmp_path / "w.ss"
    with ssfile.open(path, "w") as w:
        # a writer refuses with EncodeError (a ValueError), whatever the converter said
        with pytest.raises(ssfile.EncodeError, match="timestamp: invalid time"):
            w.write(b"x", stream_key="k", timestamp="soon")
        with pytest.raises(ssfile.EncodeError, match="timestamp must be"):
            w.write(b"x", stream_key="k", timestamp=1.5)
        with pytest.raises(ssfile.EncodeError, match="created_at"):
            ssfile.open(tmp_path / "other.ss", "w", created_at=True)
    with ssfile.open(path) as r:
        assert list(r) == []


def test_file_consumer_seek_takes_text(demo):
    async def go() -> int:
        streamer = await ssfile.connect(f"file://{demo}")
        try:
            options = ssfile.ConsumerOptions(auto_stream_reset="earliest", follow=False)
            consumer = await streamer.create_consumer(["clock", "orders", "sensors"], options)
            await consumer.seek(TEXT)
            return (await consumer.next()).timestamp_ms
        finally:
            await streamer.disconnect()

    assert asyncio.run(go()) == T


# ---- relative times (command line) -----------------------------------------------------------


@pytest.mark.parametrize(
    "text, want",
    [
        ("now", 1_000_000_000),
        ("-10m", 1_000_000_000 - 600_000),
        ("10m", 1_000_000_000 - 600_000),  # no sign: ago
        ("+10m", 1_000_000_000 + 600_000),
        ("-1.5h", 1_000_000_000 - 5_400_000),
        ("2d", 1_000_000_000 - 172_800_000),
        ("1w", 1_000_000_000 - 604_800_000),
        ("250ms", 1_000_000_000 - 250),
        ("30s", 1_000_000_000 - 30_000),
        ("10", None),  # epoch ms, not relative
        ("-10", None),
        ("10x", None),
        (TEXT, None),
    ],
)
def test_parse_relative(text, want):
    assert parse_relative(text, now_ms=1_000_000_000) == want


@pytest.fixture
def recent(tmp_path) -> tuple[str, int]:
    """Messages stamped 30, 20, 5 and 1 minutes ago."""
    now = time.time_ns() // 1_000_000
    path = str(tmp_path / "recent.ss")
    with ssfile.open(path, "w") as w:
        for minutes in (30, 20, 5, 1):
            w.write(f"{minutes}m ago".encode(), stream_key="k", timestamp=now - minutes * 60_000)
    return path, now


@pytest.mark.parametrize(
    "argv, want",
    [
        (["--since", "-10m"], [b"5m ago", b"1m ago"]),  # a separate argument starting with -
        (["--since=-10m"], [b"5m ago", b"1m ago"]),
        (["--since", "10m"], [b"5m ago", b"1m ago"]),
        (["--since", "-25m", "--until", "-2m"], [b"20m ago", b"5m ago"]),
        (["--until", "now"], [b"30m ago", b"20m ago", b"5m ago", b"1m ago"]),
        (["--since", "+1h"], []),
    ],
)
def test_cat_takes_relative_times(recent, capsysbinary, argv, want):
    path, _ = recent
    code = main(["cat", path, "--format", "raw", *argv])
    out = capsysbinary.readouterr().out
    assert code == 0 and out.splitlines() == want


def test_every_time_option_takes_relative_times(recent, tmp_path, capsysbinary):
    path, now = recent
    out = tmp_path / "r.parquet"
    assert main(["convert", path, str(out), "--since", "-10m", "--no-progress"]) == 0
    assert len(pd.read_parquet(out)) == 2
    relayed = tmp_path / "relayed.ss"
    code = main(
        ["relay", "--input", f"file://{path}/k", "--output", f"file://{relayed}/k"]
        + ["--offset", "-10m", "--no-follow", "--keep-headers", "--no-progress"]
    )
    assert code == 0
    with ssfile.open(relayed) as r:
        assert [m.payload for m in r] == [b"5m ago", b"1m ago"]
    lines = tmp_path / "in.txt"
    lines.write_bytes(b"[k] a\n")
    enc = tmp_path / "enc.ss"
    assert main(["encode", str(enc), "--input", str(lines), "--created-at", "-1h"]) == 0
    with ssfile.open(enc) as r:
        assert abs(r.header.created_at_ms - (now - 3_600_000)) < 600_000


def test_a_bad_time_option_says_what_is_accepted(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["cat", "x.ss", "--since", "soon"])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert "invalid time 'soon'" in err and "-10m" in err


def test_help_says_what_a_sign_less_relative_time_means(capsys):
    with pytest.raises(SystemExit):
        main(["cat", "--help"])
    assert "10m (ten minutes ago)" in capsys.readouterr().out


def test_no_damage_warning_leaks(demo):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ssfile.open(demo) as r:
            assert r.seek_time(dt.date(2026, 1, 1)).timestamp_ms == START_MS
