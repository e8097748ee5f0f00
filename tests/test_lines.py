"""The stdio line grammar (ssfile.lines): every valid shape, every invalid one, the quirks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ssfile.lines import (
    WHITESPACE,
    Line,
    LineError,
    format_line,
    parse_line,
    parse_u64,
    unrepresentable,
)
from ssfile.timefmt import parse_upstream
from ssfile.types import MAX_TIMESTAMP_MS, MAX_U64

TS = "2022-01-02T03:04:05.678"
TS_MS = parse_upstream(TS)


@pytest.mark.parametrize(
    "text, expected",
    [
        (f"[{TS}] x", Line(TS_MS, None, None, None, "x")),
        (f"[{TS} | my-fancy_topic.1] x", Line(TS_MS, "my-fancy_topic.1", None, None, "x")),
        (f"[{TS} | k | 123] x", Line(TS_MS, "k", 123, None, "x")),
        (f"[{TS} | k | 123 | 4] x", Line(TS_MS, "k", 123, 4, "x")),
        ("[k] x", Line(None, "k", None, None, "x")),
        ("[k | 123] x", Line(None, "k", 123, None, "x")),
        ("[k | 123 | 4] x", Line(None, "k", 123, 4, "x")),
        ("[123] x", Line(None, "123", None, None, "x")),  # a numeric first part is a key
        ("[123 | 456] x", Line(None, "123", 456, None, "x")),
        ("[2022-01-02 | 7] x", Line(None, "2022-01-02", 7, None, "x")),  # a date alone is a key
        (f"[{TS} | 5] x", Line(TS_MS, "5", None, None, "x")),
        (
            "[2022-01-01T00:00:00] 12345",
            Line(parse_upstream("2022-01-01T00:00:00"), None, None, None, "12345"),
        ),
        ("[  k\t|\u3000 +0012 |4 ]   payload ", Line(None, "k", 12, 4, "payload ")),
        (f"[k | {MAX_U64} | {MAX_U64}] x", Line(None, "k", MAX_U64, MAX_U64, "x")),
        ("[" + "k" * 249 + "] x", Line(None, "k" * 249, None, None, "x")),
        ("[abc]", Line(None, "abc", None, None, "")),
        ("[abc]   ", Line(None, "abc", None, None, "   ")),  # all whitespace: kept as is
        ("[abc] x\r", Line(None, "abc", None, None, "x\r")),  # \r stays
        ("[abc]\r", Line(None, "abc", None, None, "\r")),
        ("[abc] [def] x", Line(None, "abc", None, None, "[def] x")),
        (f"[{TS}123456789]x", Line(TS_MS, None, None, None, "x")),  # extra fraction digits ignored
    ],
)
def test_valid_shapes(text, expected):
    assert parse_line(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "plain text",
        "[]",
        "[] x",
        "[abc",
        " [a] x",
        '{"a": 1}',
        "]x[",
        "[]]",
    ],
)
def test_raw_lines_are_payload_only(text):
    assert parse_line(text) == Line(None, None, None, None, text)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("[ ]", "empty part 1"),
        ("[a||1] x", "empty part 2"),
        ("[|a] x", "empty part 1"),
        ("[1,2,3]", "expected a timestamp or a stream key"),
        ("[a b] x", "expected a timestamp or a stream key"),
        ("[k | x] p", "expected a sequence number"),
        ("[k | 1 | x] p", "expected a shard id"),
        ("[k | 1 | 2 | 3] p", "too many parts"),
        (f"[{TS} | k | 1 | 2 | 3] p", "too many parts"),
        (f"[{TS} | {TS}] p", "expected a stream key"),
        ("[k | k2] p", "expected a sequence number"),
        ("[k | -1] p", "expected a sequence number"),
        ("[k | 1_000] p", "expected a sequence number"),
        ("[k | \u0661] p", "expected a sequence number"),  # not an ASCII digit
        (f"[k | {MAX_U64 + 1}] p", "sequence exceeds 2^64-1"),
        (f"[k | 1 | {MAX_U64 + 1}] p", "shard id exceeds 2^64-1"),
        ("[" + "k" * 250 + "] x", "longer than 249"),
        ("[Jan 1, 2022] x", "expected a timestamp or a stream key"),
        ("[2022-13-01T00:00:00] x", "invalid timestamp"),
        ("[2022-01-01T00:00:60] x", "invalid timestamp"),
        ("[1969-12-31T23:59:59] x", "outside 1970-01-01"),
        ("[@] x", "expected a timestamp"),
        (f"[@{MAX_TIMESTAMP_MS + 1}] x", "outside 1970-01-01"),
        ("[k | @5] x", "expected a sequence number"),  # a timestamp only comes first
        ("[\u00e9] x", "expected a timestamp or a stream key"),
        ("[a\x1cb] x", "expected a timestamp or a stream key"),  # \x1c is not Rust whitespace
    ],
)
def test_invalid_shapes(text, reason):
    with pytest.raises(LineError) as info:
        parse_line(text, line=7)
    assert reason in str(info.value)
    assert str(info.value).startswith("line 7: ")
    assert info.value.line == 7


@pytest.mark.parametrize(
    "part, ms",
    [
        ("2022-01-02T03:04:05Z", parse_upstream("2022-01-02T03:04:05")),
        ("2022-01-02T05:04:05+02:00", parse_upstream("2022-01-02T03:04:05")),
        ("2022-01-02 03:04:05.5", parse_upstream("2022-01-02T03:04:05.5")),
        ("@1641092645678", 1_641_092_645_678),
        ("@0", 0),
    ],
)
def test_extended_timestamps(part, ms):
    assert parse_line(f"[{part} | k] x") == Line(ms, "k", None, None, "x")
    with pytest.raises(LineError):
        parse_line(f"[{part} | k] x", extended=False)


def test_extensions_never_change_upstream_valid_lines():
    # key-shaped parts that fromisoformat would accept stay stream keys
    for part in ("20220102", "20220102T030405", "2022-01-02", "2022-01-02T03"):
        assert parse_line(f"[{part}] x").stream_key == part


def test_parse_u64_is_rust_like():
    assert [parse_u64(s) for s in ("0", "+7", "007", str(MAX_U64))] == [0, 7, 7, MAX_U64]
    assert [parse_u64(s) for s in ("", "+", "-0", " 1", "1 ", "1_0", "0x1", str(MAX_U64 + 1))] == [
        None
    ] * 8


def test_whitespace_set_is_rusts():
    assert "\x1c" not in WHITESPACE and "\u3000" in WHITESPACE and "\x85" in WHITESPACE
    assert "\u200b" not in WHITESPACE  # zero-width space is not White_Space


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"\xff", "not valid UTF-8"),
        (b"a\nb", "newline"),
        (b" a", "starts with whitespace"),
        ("\u3000a".encode(), "starts with whitespace"),
    ],
)
def test_unrepresentable_payloads(payload, reason):
    assert reason in unrepresentable(payload)
    with pytest.raises(ValueError, match=reason):
        format_line("k", 0, 1, 0, payload)


def test_format_line_rejects_keys_lines_cannot_hold():
    for key in ("", "a b", "k" * 250):
        with pytest.raises(ValueError, match="stream key"):
            format_line(key, 0, 1, 0, b"x")


def test_format_line_shape():
    assert format_line("k", 3, 2, TS_MS, b"x y ") == f"[{TS} | k | 2 | 3] x y "
    assert format_line("k", 3, 2, TS_MS, b"") == f"[{TS} | k | 2 | 3]"
    assert format_line("k", 3, 2, TS_MS, b"  ") == f"[{TS} | k | 2 | 3]  "


keys = st.from_regex(r"[A-Za-z0-9._\-]{1,249}", fullmatch=True)
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40).filter(
    lambda t: "\n" not in t
)


@given(
    keys, st.integers(0, MAX_U64), st.integers(0, MAX_U64), st.integers(0, MAX_TIMESTAMP_MS), texts
)
def test_format_then_parse_round_trips(key, shard, seq, ts, text):
    payload = text.encode()
    if unrepresentable(payload):
        return
    assert parse_line(format_line(key, shard, seq, ts, payload)) == Line(ts, key, seq, shard, text)
