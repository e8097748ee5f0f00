"""The C field extractor (``json_field`` in ssfile/_speedups.c) against its reference.

For each payload both must give the same status (value, missing, not JSON, binary) and, for
a value, the same float64 bit for bit as :func:`ssfile.export.series.field_one` (``json.loads``
then the path walk).  The payloads are hypothesis-made JSON text (strings with escaped
quotes, brackets and unicode, nested objects and arrays, duplicate and escaped keys, random
whitespace, numbers in every JSON form and Python's NaN/Infinity), and that text broken
(cut, a byte changed or inserted).  The pure-Python batch path (json's scanner over the
whole buffer) is held to the same reference.  With SSFILE_PURE=1 the C half checks that the
accelerator is absent.
"""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ssfile
from ssfile.codec import accel
from ssfile.export import series
from ssfile.export.series import BINARY, MISSING, NOT_JSON, VALUE, c_parts, field_one, parse_path

C = accel.speedups
C_BUILT = not accel.pure_forced()
KEYS = ["qty", "reading", "temp", "items", "price", "a", 'q"t', "é", "[0]", ""]
PATHS = ["qty", "reading.temp", "items[0].price", "items[1]", "a.a.a", "é", "[0]", "a[2].qty"]


def test_the_extractor_is_there_unless_pure_is_forced():
    assert (C is not None and hasattr(C, "json_field")) == C_BUILT


ws = st.text(alphabet=" \t\n\r", max_size=3)
number = st.one_of(
    st.from_regex(r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,24})?([eE][-+]?[0-9]{1,4})?", fullmatch=True),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "-0", "-0.0", "1e400", "-1e400", "0e999"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**30), 10**30).map(str),
)
string = st.one_of(
    st.text(max_size=8).map(lambda s: json.dumps(s, ensure_ascii=False)),
    st.text(max_size=8).map(json.dumps),
    st.sampled_from(['"a\\"b"', '"[{]}"', '"\\\\"', '"\\u00e9\\ud83d\\ude00"', '"\x7f"']),
)


def key_text(k: str) -> st.SearchStrategy[str]:
    plain = json.dumps(k, ensure_ascii=False)
    escaped = "".join(f"\\u{ord(c):04x}" if c.isascii() else c for c in k)
    return st.sampled_from([plain, plain, plain, plain, f'"{escaped}"'])


def value(depth: int = 0) -> st.SearchStrategy[str]:
    leaf = st.one_of(number, string, st.sampled_from(["true", "false", "null"]))
    if depth >= 3:
        return leaf
    inner = st.deferred(lambda: value(depth + 1))
    member = st.tuples(st.sampled_from(KEYS).flatmap(key_text), ws, ws, inner, ws)
    obj = st.lists(member, max_size=4).map(
        lambda ms: "{" + ",".join(f"{k}{a}:{b}{v}{c}" for k, a, b, v, c in ms) + "}"
    )
    arr = st.lists(st.tuples(ws, inner), max_size=4).map(
        lambda xs: "[" + ",".join(f"{a}{v}" for a, v in xs) + "]"
    )
    return st.one_of(leaf, obj, obj, arr)


def member(draw, k: str, v: str) -> str:
    return f"{draw(key_text(k))}{draw(ws)}:{draw(ws)}{v}{draw(ws)}"


@st.composite
def on_path(draw, keys: tuple) -> str:
    """A JSON object with a value (often a number) at ``keys`` among other members."""
    if not keys:
        return draw(st.one_of(number, number, number, value(2)))
    inner = draw(on_path(keys[1:]))
    k = keys[0]
    if isinstance(k, int):
        items = draw(st.lists(value(2), min_size=k, max_size=k)) + [inner]
        items += draw(st.lists(value(2), max_size=2))
        return "[" + ",".join(f"{draw(ws)}{x}" for x in items) + "]"
    names = draw(st.lists(st.sampled_from([k, *KEYS]), max_size=3))  # duplicates of k too
    others = [member(draw, o, draw(st.one_of(number, value(2)))) for o in names]
    others.insert(draw(st.integers(0, len(others))), member(draw, k, inner))
    return "{" + ",".join(others) + "}"


@st.composite
def payloads(draw, keys: tuple) -> bytes:
    top = draw(on_path(keys) if draw(st.integers(0, 4)) < 4 else value())
    text = draw(ws) + top + draw(ws)
    raw = text.encode("utf-8", "surrogatepass")
    how = draw(st.integers(0, 9))
    if how == 9 and raw:  # cut
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif how == 8:  # a byte changed or inserted (control bytes, bad UTF-8, brackets, quotes)
        at = draw(st.integers(0, len(raw)))
        b = draw(
            st.sampled_from([0, 1, 9, 10, 0x1F, 0x7F, 0x80, 0xC0, 0xED, 0xFF, 34, 91, 93, 125])
        )
        raw = raw[:at] + bytes([b]) + raw[at + draw(st.integers(0, 1)) :]
    return raw


def same(a: tuple[int, float], b: tuple[int, float]) -> bool:
    return a[0] == b[0] and (a[0] != VALUE or struct.pack("<d", a[1]) == struct.pack("<d", b[1]))


def c_batch(raws: list[bytes], path: str) -> list[tuple[int, float]]:
    v, s = series.field_values(b"".join(raws), np.array([len(r) for r in raws]), parse_path(path))
    return list(zip(s.tolist(), v.tolist()))


def raw_c(raws: list[bytes], path: str) -> list[int]:
    """The C function's own status codes (4: left to the Python twin)."""
    v = np.empty(len(raws))
    s = np.empty(len(raws), np.uint8)
    C.json_field(
        b"".join(raws), np.array([len(r) for r in raws], np.int64), c_parts(parse_path(path)), v, s
    )
    return s.tolist()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from(PATHS))
def test_the_extractor_equals_json_loads(data, path):
    keys = parse_path(path)
    raws = data.draw(st.lists(payloads(keys), min_size=1, max_size=8))
    want = [field_one(r, keys) for r in raws]
    got = c_batch(raws, path)
    assert all(same(g, w) for g, w in zip(got, want)), (raws, path, got, want)
    bounds = np.concatenate([[0], np.cumsum([len(r) for r in raws])]).tolist()
    v, s = series._values_py(b"".join(raws), bounds, keys, np)
    assert all(same(g, w) for g, w in zip(zip(s.tolist(), v.tolist()), want))


@pytest.mark.parametrize(
    "raw,path,want",
    [
        (b'{"qty": 5}', "qty", (VALUE, 5.0)),
        (b' {"qty" : true}\n', "qty", (VALUE, 1.0)),
        (b'{"qty": -0}', "qty", (VALUE, 0.0)),
        (b'{"qty": -0.0}', "qty", (VALUE, -0.0)),
        (b'{"qty": 0.1000000000000000055511151231257827}', "qty", (VALUE, 0.1)),
        (b'{"qty": 123456789012345678901}', "qty", (VALUE, 1.2345678901234568e20)),
        (b'{"qty": 1e400}', "qty", (MISSING, math.nan)),
        (b'{"qty": NaN}', "qty", (MISSING, math.nan)),
        (b'{"qty": 1, "qty": null}', "qty", (MISSING, math.nan)),
        (b'{"a": {"b": 1}, "a": 7}', "a.b", (MISSING, math.nan)),
        (b'{"q\\u0074y": 3}', "qty", (VALUE, 3.0)),  # an escaped key (the Python twin decides)
        (b'{"items": [{"price": 1}, {"price": 2.5}]}', "items[1].price", (VALUE, 2.5)),
        (b'{"s": "}\\"]", "qty": 4}', "qty", (VALUE, 4.0)),
        (b'{"\xc3\xa9": 8}', "\u00e9", (VALUE, 8.0)),
        (b"[1]", "qty", (NOT_JSON, math.nan)),
        (b'{"qty": 1,}', "qty", (NOT_JSON, math.nan)),
        (b'{"qty": 01}', "qty", (NOT_JSON, math.nan)),
        (b'{"qty": "\x01"}', "qty", (BINARY, math.nan)),  # not JSON, a control byte
        (b'{"qty": "\x7f"}', "qty", (MISSING, math.nan)),  # DEL is allowed in a string
        (b'{"qty": 1}\xff', "qty", (BINARY, math.nan)),
        (b'{"qty": "\xed\xa0\x80"}', "qty", (BINARY, math.nan)),  # a UTF-8 surrogate
        (b'{"a":' * 70 + b"1" + b"}" * 70, "qty", (MISSING, math.nan)),  # deep: Python decides
        (b'{"qty": ' + b"9" * 5000 + b"}", "qty", (NOT_JSON, math.nan)),  # int digit limit
    ],
)
def test_known_payloads(raw, path, want):
    assert same(field_one(raw, parse_path(path)), want)
    assert same(c_batch([raw], path)[0], want)


def test_the_c_function_hands_back_only_the_rare_cases():
    if not C_BUILT:  # SSFILE_PURE=1: nothing to hand back
        assert C is None
        return
    raws = [b'{"q\\u0074y": 3}', b'{"a":' * 70 + b"1" + b"}" * 70, b'{"qty": ' + b"9" * 700 + b"}"]
    assert raw_c(raws, "qty") == [4, 4, 4]
    assert raw_c([b'{"qty": 1.5}', b'{"qty": 0.1000000000000000055511}'], "qty") == [0, 0]


# ---- the full read in pieces ----------------------------------------------------------------

T0 = 1_700_000_000_000


def series_file(path, start: int, n: int, mode: str = "w") -> None:
    opts = {"beacon_interval": 1024, "created_at": T0} if mode == "w" else {}
    with ssfile.open(path, mode, **opts) as w:
        for i in range(start, start + n):
            raw = (b'{"v": %d, "pad": "%s"}' % (i, b"y" * (i % 50))) if i % 7 else b"\x00\xff"
            w.write(raw, stream_key=("s", "t")[i % 3 == 0], timestamp=T0 + i)
        w.close(eos=False)


def as_tuple(s):
    return (
        s.timestamp_ms.tolist(),
        s.value.tolist(),
        s.offset.tolist(),
        s.messages,
        s.missing,
        s.not_json,
        s.binary,
        s.resume,
        s.ended,
        s.stopped,
    )


def read_with_pieces(monkeypatch, size, fn, *args):
    monkeypatch.setattr(series, "CHUNK_BYTES", size)
    return as_tuple(fn(*args))


def test_a_read_in_pieces_equals_a_read_in_one(tmp_path, monkeypatch):
    path = str(tmp_path / "p.ss")
    series_file(path, 0, 3000)
    whole = read_with_pieces(monkeypatch, 1 << 40, series.field_series, path, "s", "v")
    assert len(series._pieces(path, None)) == 1
    monkeypatch.setattr(series, "CHUNK_BYTES", 5000)
    assert len(series._pieces(path, None)) > 20
    assert read_with_pieces(monkeypatch, 5000, series.field_series, path, "s", "v") == whole
    assert whole[0] == [T0 + i for i in range(3000) if i % 3 and i % 7]
    first = series.field_series(path, "s", "v")  # extending, in pieces
    series_file(path, 3000, 2000, mode="a")
    grown = as_tuple(series.extend(first, path))
    assert read_with_pieces(monkeypatch, 1 << 40, series.field_series, path, "s", "v") == grown
    # damage in the middle: both stop at the same frame, with the same points before it
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0x55
    open(path, "wb").write(bytes(data))
    whole = read_with_pieces(monkeypatch, 1 << 40, series.field_series, path, "s", "v")
    assert whole[-1] and len(whole[0]) < len(grown[0])  # stopped at the damage
    assert read_with_pieces(monkeypatch, 5000, series.field_series, path, "s", "v") == whole
