"""Issue 12, item 3: the reserved key SEA_STREAMER_INTERNAL is never written as data.

Every writing path (the encoder under both codec paths, Writer.write, ``ssfile encode``,
``ssfile clock`` and every backend's producer) refuses it with EncodeError before writing a
byte; only the end-of-stream frame carries it, once, at the end (spec 2.3, 6).
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys

import pytest
from servers import kafka_bootstrap, redis_addr  # noqa: F401

import ssfile
from ssfile.codec import encoder as encoder_module
from ssfile.codec.accel import speedups
from ssfile.errors import EncodeError, SSError
from ssfile.format import constants as K
from ssfile.streamer import connect

INTERNAL = K.INTERNAL_KEY


@pytest.fixture(params=["pure", "c"])
def codec_path(request, monkeypatch):
    """Run the test with the pure encoder and with the C fast path."""
    if request.param == "pure":
        monkeypatch.setattr(encoder_module, "_ENCODE_FRAME", None)
    else:
        assert speedups is not None, "the C accelerator is not built (run ./scripts/bootstrap)"
        monkeypatch.setattr(encoder_module, "_ENCODE_FRAME", speedups.encode_frame)
    return request.param


def read_all(path):
    with ssfile.open(path) as r:
        return [(m.stream_key, m.payload) for m in r], r.ended


@pytest.mark.parametrize("payload", [b"EOS", b"data", b""])
def test_writer_refuses_the_reserved_key(tmp_path, codec_path, payload):
    path = tmp_path / "w.ss"
    with ssfile.open(path, "w", beacon_interval=256) as w:
        w.write(b"a", stream_key="k")
        before = path.stat().st_size, w.offset
        for _ in range(3):  # also once the key is known to the encoder's state
            with pytest.raises(EncodeError, match="reserved"):
                w.write(payload, stream_key=INTERNAL)
        w.flush()
        assert w.offset == before[1]  # nothing was encoded
        w.write(b"b" * 300, stream_key="k")  # crosses a beacon: the state is intact
    # readers stop at the first EOS: the message after the refused ones proves there is none
    # before it, and the file ends with the one written at close
    assert read_all(path) == ([("k", b"a"), ("k", b"b" * 300)], True)


def test_write_eos_is_the_only_way_and_is_final(tmp_path, codec_path):
    path = tmp_path / "e.ss"
    w = ssfile.open(path, "w")
    w.write(b"a", stream_key="k")
    w.write_eos(timestamp=1_700_000_000_000)
    with pytest.raises(SSError, match="end-of-stream"):
        w.write(b"late", stream_key="k")
    with pytest.raises(SSError, match="end-of-stream"):
        w.write_eos()
    w.close()  # no second EOS
    data = path.read_bytes()
    assert data.count(INTERNAL.encode()) == 1 and data.endswith(b"EOS" + data[-3:])
    assert read_all(path) == ([("k", b"a")], True)


def test_encoder_refuses_it_on_both_paths(codec_path):
    from ssfile.format.records import FileHeader

    enc = encoder_module.Encoder(FileHeader("t.ss", 0, 1024))
    enc.start()
    enc.encode("k", 0, 1, 1, b"x")
    n = enc.offset
    with pytest.raises(EncodeError, match="reserved"):
        enc.encode(INTERNAL, 0, 0, 1, b"EOS")
    assert enc.offset == n and (INTERNAL, 0) not in enc.streams
    enc.end_of_stream(2)
    assert (INTERNAL, 0) in enc.streams  # its pair enters the marker state (spec 6)
    with pytest.raises(EncodeError, match="reserved"):
        enc.encode(INTERNAL, 0, 0, 1, b"EOS")


def run_cli(*args, stdin=b""):
    return subprocess.run(
        [sys.executable, "-m", "ssfile", *args], input=stdin, capture_output=True, timeout=60
    )


def test_cli_encode_names_the_line(tmp_path):
    out = tmp_path / "o.ss"
    lines = b"[k] a\n[@5 | SEA_STREAMER_INTERNAL | 0 | 0] EOS-not\n[k] b\n"
    got = run_cli("encode", str(out), stdin=lines)
    err = got.stderr.decode()
    assert got.returncode == 1, err
    assert "line 2" in err and "reserved" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert read_all(out) == ([("k", b"a")], False)  # everything before the line, no EOS


def test_cli_encode_still_takes_a_final_eos_line(tmp_path):
    out = tmp_path / "o.ss"
    got = run_cli("encode", str(out), stdin=b"[k] a\n[@5 | SEA_STREAMER_INTERNAL | 0 | 0] EOS\n")
    assert got.returncode == 0, got.stderr
    assert read_all(out) == ([("k", b"a")], True)


@pytest.mark.parametrize("scheme", ["file", "stdio"])
def test_cli_clock_refuses_it(tmp_path, scheme):
    uri = f"file://{tmp_path / 'c.ss'}/{INTERNAL}" if scheme == "file" else f"stdio:///{INTERNAL}"
    got = run_cli("clock", "--stream", uri, "--count", "3", "--interval", "0s")
    err = got.stderr.decode()
    assert got.returncode != 0 and "reserved" in err and "Traceback" not in err, err
    assert got.stdout == b""
    if scheme == "file":
        assert (
            not (tmp_path / "c.ss").exists()
            or INTERNAL.encode() not in (tmp_path / "c.ss").read_bytes()
        )


def _refused(uri: str, **options: object) -> None:
    async def main():
        s = await connect(uri, **options)
        try:
            with pytest.raises(EncodeError, match="reserved"):
                await s.create_producer(INTERNAL)
            p = await s.create_producer("fine")  # an ordinary key still works
            assert p.stream_key == "fine"
        finally:
            await s.disconnect()

    asyncio.run(main())


def test_file_producer_refuses_it(tmp_path):
    _refused(f"file://{tmp_path / 'p.ss'}")
    with ssfile.open(tmp_path / "p.ss") as r:
        assert list(r) == []


def test_stdio_producer_refuses_it():
    _refused("stdio:///", stdout=io.BytesIO(), stdin=io.BytesIO())


def test_redis_producer_refuses_it(redis_addr):  # noqa: F811
    host, port = redis_addr
    _refused(f"redis://{host}:{port}/")


def test_kafka_producer_refuses_it(kafka_bootstrap):  # noqa: F811
    _refused(f"kafka://{kafka_bootstrap}/")
