"""Hypothesis strategies and small helpers shared by the core tests."""

from __future__ import annotations

import importlib.util
import pathlib
import string
import sys

from hypothesis import strategies as st

from ssfile.codec.decoder import Decoder
from ssfile.codec.encoder import Encoder
from ssfile.format import constants as K
from ssfile.format.records import FileHeader, Marker, MessageHeader
from ssfile.types import MAX_TIMESTAMP_MS

ROOT = pathlib.Path(__file__).resolve().parent.parent
KEY_ALPHABET = string.ascii_letters + string.digits + "._-"
U64 = (1 << 64) - 1

stream_keys = st.one_of(
    st.text(KEY_ALPHABET, max_size=12), st.text(KEY_ALPHABET, min_size=240, max_size=249)
)
u64s = st.integers(0, U64)
timestamps = st.integers(0, MAX_TIMESTAMP_MS)
headers = st.builds(MessageHeader, stream_keys, u64s, u64s, timestamps)
markers = st.builds(Marker, headers, st.integers(0, 0xFFFF))
file_names = st.text(max_size=40).filter(lambda s: len(s.encode()) <= 111)
file_headers = st.builds(FileHeader, file_names, timestamps, st.integers(128, (1 << 32) - 1))


def payloads(max_size: int):
    """Random bytes (drawn small-biased) or a patterned payload of any length up to max_size,
    so that long frames spanning several beacons are common."""
    patterned = st.tuples(st.integers(0, max_size), st.integers(0, 255)).map(
        lambda t: bytes((t[1] + i) & 0xFF for i in range(t[0]))
    )
    return st.one_of(st.binary(max_size=max_size), patterned)


@st.composite
def message_lists(draw, max_messages: int = 40, max_payload: int = 600):
    """Messages over a few (stream, shard) pairs, as (key, shard, seq, ts, payload) tuples."""
    keys = draw(
        st.lists(st.text(KEY_ALPHABET, min_size=1, max_size=8), min_size=1, max_size=4, unique=True)
    )
    n = draw(st.integers(0, max_messages))
    out = []
    for _ in range(n):
        out.append(
            (
                draw(st.sampled_from(keys)),
                draw(st.integers(0, 2)),
                draw(st.integers(0, 1000)),
                draw(st.integers(0, 10**13)),
                draw(payloads(max_payload)),
            )
        )
    return out


@st.composite
def small_files(draw, min_interval: int = 128, max_interval: int = 2048):
    """(interval, messages, eos) with payloads that may span several beacons."""
    interval = draw(st.integers(min_interval, max_interval))
    msgs = draw(message_lists(max_payload=draw(st.sampled_from((40, interval, 3 * interval)))))
    return interval, msgs, draw(st.booleans())


def encode_file(
    interval: int,
    messages,
    eos: bool = True,
    *,
    eos_ts: int = 99,
    name: str = "t.ss",
    created_at: int = 1_700_000_000_000,
) -> bytes:
    """A whole file from the sans-I/O encoder."""
    enc = Encoder(FileHeader(name, created_at, interval))
    enc.start()
    for key, shard, seq, ts, payload in messages:
        if key == K.INTERNAL_KEY:  # an EOS frame mid-file (decoder tests): not a message
            enc.end_of_stream(ts)
        else:
            enc.encode(key, shard, seq, ts, payload)
    if eos:
        enc.end_of_stream(eos_ts)
    return enc.take()


def decode_chunks(chunks) -> list[object]:
    """Every event from feeding ``chunks`` one by one through next_event()."""
    dec = Decoder()
    out: list[object] = []
    for chunk in chunks:
        dec.feed(chunk)
        out += drain(dec)
    dec.feed_eof()
    out += drain(dec)
    return out


def drain(dec: Decoder) -> list[object]:
    from ssfile.codec.events import NEED_DATA

    out = []
    while True:
        ev = dec.next_event()
        if ev is NEED_DATA or ev is None:
            return out
        out.append(ev)


def split(data: bytes, cuts) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def generator():
    """fixtures/generate.py (reference decoder and JSON shapes) as a module."""
    name = "ssfile_fixture_generator"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "fixtures" / "generate.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
