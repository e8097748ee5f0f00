"""Renderers of ``ssfile decode``: serde_json-compatible JSON and the log/ndjson line rules.

Expected JSON texts follow serde_json's documented behaviour: ``Value`` maps are BTreeMaps
(keys sorted) unless the ``preserve_order`` feature is on; numbers that fit u64/i64 stay
integers, others become f64; f64 is printed by the ``ryu`` crate (fixed notation for
decimal exponents -5 < e <= 16, scientific ``1e16`` / ``1.5e-7`` otherwise, always a ``.0``
on integral values); the serializer escapes only ``"``, ``\\`` and control characters; the
parser rejects NaN/Infinity, lone surrogates, numbers beyond f64 and nesting past 127.
"""

from __future__ import annotations

import random

import pytest

from ssfile.cli.render import (
    LogRenderer,
    NdjsonRenderer,
    Stamps,
    format_f64,
    header_json,
    payload_json,
)
from ssfile.codec.events import EndOfStream
from ssfile.format.records import Beacon, FileHeader, Marker, MessageHeader
from ssfile.types import Message, format_timestamp


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"b":1,"a":{"d":[1,2],"c":null}}', '{"a":{"c":null,"d":[1,2]},"b":1}'),
        ('{ "z" : true ,\n\t"y": false }', '{"y":false,"z":true}'),
        ('{"a":1,"a":2}', '{"a":2}'),  # last duplicate wins
        ('{"\u00e9":1,"z":2,"Z":3}', '{"Z":3,"z":2,"\u00e9":1}'),  # byte order, not locale
        (" 42 ", "42"),
        ("true", "true"),
        ("null", "null"),
        ('"x"', '"x"'),
        ('"\\/"', '"/"'),
        ('"\\u0001\\u001f\\b\\f\\n\\r\\t\\"\\\\"', '"\\u0001\\u001f\\b\\f\\n\\r\\t\\"\\\\"'),
        ('"\u007f\u00e9\u2028"', '"\u007f\u00e9\u2028"'),  # not escaped by serde_json
        ('"\\ud83d\\ude00"', '"\U0001f600"'),  # a surrogate pair is one char
        ("[]", "[]"),
        ("{}", "{}"),
        ("[[],{}]", "[[],{}]"),
    ],
)
def test_json_reserialised_like_serde(text, expected):
    assert payload_json(text.encode()) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0", "0"),
        ("-0", "-0.0"),
        ("-0.0", "-0.0"),
        ("0.0", "0.0"),
        ("1.0", "1.0"),
        ("1e2", "100.0"),
        ("1E+2", "100.0"),
        ("2.50", "2.5"),
        ("18446744073709551615", "18446744073709551615"),  # u64::MAX stays an integer
        ("18446744073709551616", "1.8446744073709552e19"),  # beyond u64: f64
        ("-9223372036854775808", "-9223372036854775808"),  # i64::MIN stays an integer
        ("-9223372036854775809", "-9.223372036854776e18"),
        ("1e15", "1000000000000000.0"),
        ("1e16", "1e16"),
        ("1.5e300", "1.5e300"),
        ("0.0001", "0.0001"),
        ("0.00001", "0.00001"),
        ("0.000001", "1e-6"),
        ("0.0000123", "0.0000123"),
        ("1.5e-7", "1.5e-7"),
        ("123.456", "123.456"),
        ("1e-400", "0.0"),
        ("5e-324", "5e-324"),
        ("1.7976931348623157e308", "1.7976931348623157e308"),
    ],
)
def test_numbers_as_serde_prints_them(text, expected):
    assert payload_json(text.encode()) == expected


@pytest.mark.parametrize(
    "text",
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "[NaN]",
        "1e400",
        "-1e400",
        "1" * 400,
        '"\\ud800"',
        '"\\udc00"',
        '{"\\ud800":1}',  # lone surrogates
        "[1,]",
        "{'a':1}",
        "01",
        "1.",
        ".5",
        "+1",
        "",
        "   ",
        "\ufeff1",
        '"a\tb"',
        "[1] x",
        "[" * 128 + "]" * 128,  # serde_json's recursion limit
    ],
)
def test_not_serde_json_becomes_a_string(text):
    expected = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t") + '"'
    assert payload_json(text.encode()) == expected


def test_nesting_up_to_the_limit_is_json():
    text = "[" * 127 + "]" * 127
    assert payload_json(text.encode()) == text


def test_non_utf8_payload_is_an_array_of_bytes():
    assert payload_json(b"\xff\x00a") == "[255,0,97]"
    assert payload_json(b"\xed\xa0\x80") == "[237,160,128]"  # an encoded surrogate is not UTF-8


def test_format_f64_agrees_with_repr_on_random_doubles():
    rng = random.Random(5)
    for _ in range(2000):
        value = rng.choice(
            [rng.uniform(-1e6, 1e6), rng.expovariate(1e-3) * 10 ** rng.randint(-30, 30)]
        )
        assert float(format_f64(value)) == value


def test_header_json_escapes_the_file_name():
    header = FileHeader('a"b\\c\n\u00e9.ss', 1_691_686_154_740, 1024)
    assert header_json(header) == (
        '{"file_name":"a\\"b\\\\c\\n\u00e9.ss",'
        '"created_at":"2023-08-10T16:49:14.74","beacon_interval":1024}'
    )


# ---- line rules ------------------------------------------------------------------------------

T0 = 1_691_686_154_745


def msg(seq: int, payload: bytes = b"p", key: str = "k", ts: int = T0) -> Message:
    return Message(key, 1, seq, ts, payload, 0)


def beacon(index: int, seq: int = 0) -> Beacon:
    markers = (Marker(MessageHeader("k", 1, seq, T0), 7),) if seq else ()
    return Beacon(index * 1024, index, 0, markers)


def render(renderer, events):
    out: list[bytes] = []
    ended = renderer.render(events, out)
    return ended, b"".join(out).decode().splitlines()


def test_beacon_printed_after_the_message_it_was_read_with():
    events = [
        FileHeader("f", T0, 1024),
        msg(1),
        beacon(1, 1),
        msg(2),
        msg(3),
        beacon(2),
        beacon(3, 3),
        msg(4),
        msg(5),
    ]
    ended, lines = render(LogRenderer(), events)
    stamp = format_timestamp(T0)
    assert not ended
    assert lines == [
        '# {"file_name":"f","created_at":"2023-08-10T16:49:14.745","beacon_interval":1024}',
        f"[{stamp} | k | 1 | 1] p",
        f"[{stamp} | k | 2 | 1] p",
        f'# [{{"header":{{"stream_key":"k","shard_id":1,"sequence":1,"timestamp":"{stamp}"}},'
        '"running_checksum":7}]',
        f"[{stamp} | k | 3 | 1] p",
        f"[{stamp} | k | 4 | 1] p",
        f'# [{{"header":{{"stream_key":"k","shard_id":1,"sequence":3,"timestamp":"{stamp}"}},'
        '"running_checksum":7}]',  # only the last of beacons 2 and 3
        f"[{stamp} | k | 5 | 1] p",
    ]


def test_state_carries_across_batches_and_eos_stops():
    r = NdjsonRenderer(header_only=True)
    _, first = render(r, [FileHeader("f", T0, 1024), msg(1), beacon(1)])
    ended, second = render(r, [EndOfStream(msg(0, b"EOS", "SEA_STREAMER_INTERNAL")), msg(9)])
    assert first[0].startswith("/* {") and first[0].endswith("} */")
    assert len(first) == 2 and second[1] == "/* [] */" and len(second) == 2
    assert second[0].endswith('"payload":null}') and '"SEA_STREAMER_INTERNAL"' in second[0]
    assert ended and r.ended


@pytest.mark.parametrize(
    "payload, shown",
    [
        (b"plain", b"plain"),
        (b"\x00\x01\tctl\r", b"\x00\x01\tctl\r"),
        ("\u00e9\u4e2d".encode(), "\u00e9\u4e2d".encode()),
        (b"\xff", b"<BINARY BLOB>"),
        (b"\xc0\x80", b"<BINARY BLOB>"),
        (b"\xed\xa0\x80", b"<BINARY BLOB>"),
        (b"", b""),
    ],
)
def test_log_payload_raw_if_utf8_else_blob(payload, shown):
    out: list[bytes] = []
    LogRenderer().render([msg(1, payload)], out)
    assert b"".join(out) == b"[" + format_timestamp(T0).encode() + b" | k | 1 | 1] " + shown + b"\n"


def test_log_timestamps_match_format_timestamp_everywhere():
    rng = random.Random(9)
    stamps = sorted(rng.randrange(0, 253_402_300_799_999) for _ in range(300))
    stamps += [0, 999, 1000, 1001, 59_999, 60_000, 253_402_300_799_999, T0, T0]
    r = LogRenderer(header_only=True)
    out: list[bytes] = []
    r.render([msg(1, ts=ts) for ts in stamps], out)
    lines = b"".join(out).decode().splitlines()
    assert lines == [f"[{format_timestamp(ts)} | k | 1 | 1]" for ts in stamps]


def test_cached_stamps_equal_format_timestamp():
    rng = random.Random(3)
    values = [rng.randrange(0, 253_402_300_799_999) for _ in range(200)]
    values += [T0 + i for i in range(-1500, 1500, 7)] + [0, 999, 1000, 0]
    stamps = Stamps()
    assert [stamps(ms) for ms in values] == [format_timestamp(ms) for ms in values]
