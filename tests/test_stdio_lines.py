"""Batches of stdio lines: the C twins (parse_lines, line_payload_ok, format_lines in
ssfile/_speedups.c) against their Python definitions in ssfile.lines, and the stdio backend
on both paths giving the same messages, lines and errors."""

from __future__ import annotations

import asyncio
import io

import pytest
import ssfile._speedups as C  # built by scripts/bootstrap
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssfile import lines
from ssfile.adapters import stdio
from ssfile.adapters.stdio import StdioStreamer
from ssfile.lines import WHITESPACE
from ssfile.types import MAX_TIMESTAMP_MS, MAX_U64, format_timestamp

KEY_CHARS = "abcXYZ019._-"
SPACES = st.sampled_from([" ", "  ", "\t", "", "\u3000", "\xa0", "\x0b"])
timestamps = st.integers(0, MAX_TIMESTAMP_MS)


@st.composite
def meta_parts(draw: st.DrawFn) -> str:
    """One part of a meta block: mostly what the grammar takes, sometimes almost."""
    return draw(
        st.one_of(
            timestamps.map(lambda ms: format_timestamp(ms).rstrip(".0") or "x"),
            timestamps.map(format_timestamp),
            st.from_regex(
                r"[+-]?[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,12})?",
                fullmatch=True,
            ),
            st.text(KEY_CHARS, min_size=1, max_size=8),
            st.text(KEY_CHARS, min_size=248, max_size=251),
            st.integers(0, MAX_U64 + 2).map(str),
            st.integers(0, 10).map(lambda n: f"+{n}"),
            st.sampled_from(["@1714557600000", "2024-05-01T10:00:00Z", "-12", "", "é", "k\u2000"]),
        )
    )


@st.composite
def text_lines(draw: st.DrawFn) -> str:
    parts = draw(st.lists(meta_parts(), min_size=0, max_size=5))
    meta = "|".join(draw(SPACES) + p + draw(SPACES) for p in parts)
    payload = draw(st.text(st.characters(blacklist_characters="\n"), max_size=12))
    shape = draw(st.sampled_from(["meta", "meta", "meta", "raw", "open"]))
    if shape == "raw":
        return payload
    if shape == "open":
        return "[" + meta + payload.replace("]", "")
    return f"[{meta}]{draw(SPACES)}{payload}"


raw_lines = st.one_of(
    text_lines().map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")),
    st.binary(max_size=12).map(lambda b: b"[k] " + b.replace(b"\n", b"")),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(raw_lines, max_size=8))
def test_parse_lines_c_answers_what_python_answers(raws):
    pure = lines.parse_lines(raws)
    fast = C.parse_lines(raws)
    assert len(fast) == len(raws)
    for raw, p, c in zip(raws, pure, fast):
        assert c is None or c == p, raw
        if p is not None:  # the Python definition: parse_line on the text
            parsed = lines.parse_line(raw.decode("utf-8"))
            assert p == (*parsed[:4], parsed.payload.encode("utf-8"))


@settings(deadline=None)
@given(
    st.one_of(st.none(), timestamps),
    st.text(KEY_CHARS, min_size=1, max_size=20),
    st.one_of(st.none(), st.integers(0, MAX_U64)),
    st.integers(0, MAX_U64),
    st.text(
        st.characters(blacklist_characters="\n" + WHITESPACE, blacklist_categories=["Cs"]),
        max_size=20,
    ),
    SPACES,
)
def test_parse_lines_c_takes_the_common_shapes(ts, key, seq, shard, payload, space):
    """Every shape the backend meets most (ASCII spacing, a payload not starting with
    Unicode whitespace) is parsed in C, not handed back."""
    space = space if space.isascii() else " "
    parts = ([format_timestamp(ts)] if ts is not None else []) + [key]
    if seq is not None:
        parts += [str(seq), str(shard)]
    raw = f"[{f'{space}|{space}'.join(parts)}]{space}{payload}".encode()
    expected = lines.parse_raw(raw)
    assert expected is not None
    assert C.parse_lines([raw]) == [expected]
    assert C.parse_lines([payload.encode()]) == [lines.parse_raw(payload.encode())]


@settings(deadline=None)
@given(
    st.one_of(
        st.binary(max_size=16),
        st.text(max_size=12).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.tuples(SPACES, st.text(max_size=4)).map(
            lambda x: (x[0] + x[1]).encode("utf-8", "surrogatepass")
        ),
        st.text(WHITESPACE, max_size=4).map(lambda t: t.encode("utf-8")),
    )
)
def test_line_payload_ok_is_unrepresentable_none(payload):
    assert C.line_payload_ok(payload) is lines.line_payload_ok(payload)


items = st.tuples(
    st.text(KEY_CHARS, min_size=1, max_size=249),
    st.integers(0, MAX_U64),
    st.integers(0, MAX_U64),
    timestamps,
    st.one_of(
        st.text(st.characters(blacklist_characters="\n"), max_size=20),
        st.text(WHITESPACE.replace("\n", ""), max_size=3),
    ).map(lambda t: t.encode("utf-8", "surrogatepass")),
).filter(lambda item: lines.line_payload_ok(item[4]))


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(items, max_size=6))
def test_format_lines_c_is_the_python_bytes_and_parses_back(batch):
    data = C.format_lines(batch)
    assert data == lines.format_lines(batch)
    assert data == "".join(lines.format_line(*i) + "\n" for i in batch).encode("utf-8")
    back = lines.parse_lines(data.split(b"\n")[:-1])
    assert back == [(ts, key, seq, shard, payload) for key, shard, seq, ts, payload in batch]


@pytest.mark.parametrize(
    "item",
    [
        ("k", 0, 0, -1, b"x"),  # out of range: Python's "<out of range ...>"
        ("k", 0, 0, MAX_TIMESTAMP_MS + 1, b"x"),
        ("k", -1, 0, 0, b"x"),
        ("k", 0, MAX_U64 + 1, 0, b"x"),
        ("k", 0, 0, 0, bytearray(b"x")),
        ("ké", 0, 0, 0, b"x"),
        ("k", 0, 0, 0, b"\xff"),
    ],
)
def test_format_lines_c_leaves_the_unusual_to_python(item):
    assert C.format_lines([("k", 0, 0, 0, b"ok"), item]) is None


def relay_through(monkeypatch, pure: bool, data: bytes, sends: list[bytes]):
    if pure:
        monkeypatch.setattr(stdio, "_PARSE_LINES", lines.parse_lines)
        monkeypatch.setattr(stdio, "_PAYLOAD_OK", lines.line_payload_ok)
        monkeypatch.setattr(stdio, "_FORMAT_LINES", lines.format_lines)
        monkeypatch.setattr(stdio, "_LINE_MESSAGES", None)
    out, err = io.BytesIO(), io.StringIO()
    monkeypatch.setattr(stdio, "_now_ms", lambda: 1_700_000_000_123)

    async def main():
        s = StdioStreamer(stdin=io.BytesIO(data), stdout=out, stderr=err)
        c = await s.create_consumer(["a", "b"])
        got = [(m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.payload) async for m in c]
        p = await s.create_producer("out")
        refused = []
        for payload in sends:
            try:
                p.send(payload)
            except Exception as exc:  # noqa: BLE001 -- compared between the two paths
                refused.append(str(exc))
        await p.flush()
        await s.disconnect()
        return got, refused

    got, refused = asyncio.run(asyncio.wait_for(main(), 30))
    monkeypatch.undo()
    return got, refused, out.getvalue(), err.getvalue()


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(raw_lines, max_size=12),
    st.lists(st.one_of(raw_lines, st.sampled_from([b"\tx", b"a\nb", b" ", b""])), max_size=6),
)
def test_backend_same_on_both_paths(monkeypatch, raws, sends):
    tail = b"[a | 18446744073709551615] last\n[a] none left\n[a | 3 | 1] x\r\n[b | 2] y\n[b] z"
    data = b"".join(r + b"\n" for r in raws) + tail
    assert relay_through(monkeypatch, True, data, sends) == relay_through(
        monkeypatch, False, data, sends
    )


@pytest.mark.parametrize("pure", [False, True])
def test_backend_errors_keep_line_numbers(monkeypatch, pure):
    data = (
        b"[a] 1\n[a||] 2\n[a] \xff\n[a | 18446744073709551616] 4\n[b] 5\n"
        b"[b | 18446744073709551615] 6\n[b] 7\n[b | 1] 8\n[b] 9\n[c] 10\n11"
    )
    got, _, _, err = relay_through(monkeypatch, pure, data, [])
    assert [g[4] for g in got] == [b"1", b"5", b"6", b"8", b"9", b"11"]
    assert [g[2] for g in got] == [0, 0, 18446744073709551615, 1, 2, 0]
    assert [g[0] for g in got][-1] == "broadcast"
    assert [line.split(" skipped")[0] for line in err.splitlines()] == [
        "ssfile: stdin line 2",
        "ssfile: stdin line 3",
        "ssfile: stdin line 4",
        "ssfile: stdin line 7",
    ]


@pytest.mark.parametrize(
    "ts",
    [
        "2024-00-01T00:00:00",
        "2024-13-01T00:00:00",
        "2024-12-00T00:00:00",
        "2024-12-32T00:00:00",
        "2023-02-29T00:00:00",
        "2024-02-29T00:00:00",
        "1900-02-29T00:00:00",
        "2000-02-29T00:00:00",
        "2100-02-29T12:00:00",
        "2024-04-31T00:00:00",
        "2024-01-01T24:00:00",
        "2024-01-01T23:60:00",
        "2024-01-01T23:59:60",
        "1969-12-31T23:59:59.999",
        "1970-01-01T00:00:00",
        "0000-01-01T00:00:00",
        "9999-12-31T23:59:59.999999999999",
        "2024-01-01T00:00:00.",
        "2024-01-01T00:00:00.1",
        "2024-01-01T00:00:00.12",
        "2024-01-01T00:00:00.0009",
        "+2024-01-01T00:00:00",
        "2024-1-01T00:00:00",
        "2024-01-01t00:00:00",
        "2024-01-01T00:00:00x",
    ],
)
def test_parse_lines_c_timestamp_edges(ts):
    for raw in (f"[{ts}] x".encode(), f"[ {ts} | k | 1 ] x".encode()):
        (expected,) = lines.parse_lines([raw])
        (got,) = C.parse_lines([raw])
        assert got == expected or (got is None and not ts[0].isdigit()), raw
