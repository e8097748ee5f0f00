"""CRC-16/CDMA2000 and running checksums (notes §1.5, §1.6)."""

import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssfile.codec.decoder import decode_bytes
from ssfile.format import crc as crcmod
from ssfile.format.crc import TABLE, RunningChecksum, crc16, crc16_bytes, crc16_py, running_update

# check values published by upstream's tests and notes §1.5
CHECK_VALUES = [
    (b"", 0xFFFF),
    (b"123456789", 0x4C06),
    (b"hello, world", 0x8028),
    (b"123456789abcd", 0xA106),
    (b"EOS", 0xED7C),
    (b"PULSE", 0xDDAC),
    (b"hello-0", 0xF556),
    (b"hello-20", 0xEF4D),
    (b"\x00", 0x6B6C),
    (b"\xff", 0xFF00),
]


@pytest.mark.parametrize("data,value", CHECK_VALUES, ids=lambda v: repr(v)[:20])
@pytest.mark.parametrize("fn", [crc16, crc16_py, crc16_bytes], ids=["crc16", "py", "bytes"])
def test_check_values(fn, data, value):
    assert fn(data) == value


def test_table_entries():
    assert (TABLE[0], TABLE[1], TABLE[2], TABLE[3]) == (0, 0xC867, 0x58A9, 0x90CE)
    assert (TABLE[128], TABLE[255]) == (0x5E5A, 0x946C)


def test_residue_is_zero():
    data = b"123456789"
    value = crc16_py(data)
    assert crc16_py(data + value.to_bytes(2, "big")) == 0


def test_accelerated_backend_is_in_use():
    """fastcrc is a runtime dependency; the test env must exercise it (the fallback is tested below)."""
    assert crcmod.ACCELERATED


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.integers(0, 0xFFFF))
def test_fast_equals_pure_python(data, initial):
    assert crc16(data, initial) == crc16_py(data, initial)
    assert crc16(bytearray(data)) == crc16_py(data)
    assert crc16(memoryview(data)) == crc16_py(data)
    assert crc16_bytes(data) == crc16_py(data)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=200))
def test_continuation(a, b):
    assert crc16(b, crc16(a)) == crc16(a + b)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 0xFFFF), max_size=30))
def test_running_is_crc_over_big_endian_checksums(checksums):
    running = RunningChecksum()
    for c in checksums:
        running.update(c)
    joined = b"".join(c.to_bytes(2, "big") for c in checksums)
    assert running.value == crc16_py(joined)
    value = 0xFFFF
    for c in checksums:
        value = running_update(value, c)
    assert value == running.value


def _hello_running(golden_dir):
    events = decode_bytes((golden_dir / "consumer.ss").read_bytes())
    payloads = [ev.payload for ev in events if getattr(ev, "stream_key", None) == "hello"]
    running, values = RunningChecksum(), []
    for p in payloads:
        values.append(running.update(crc16(p)))
    return values


def test_running_checksum_values_of_consumer_ss(golden_dir):
    values = _hello_running(golden_dir)
    assert values[:3] == [0xE2C1, 0x2B27, 0xF6D7]
    assert values[20] == 0x0B47 == 2887
    assert values[-1] == 0xFC17


def test_consumer_ss_markers_hold_the_running_checksum(golden_dir):
    values = _hello_running(golden_dir)
    beacons = [
        ev
        for ev in decode_bytes((golden_dir / "consumer.ss").read_bytes())
        if hasattr(ev, "markers")
    ]
    got = [(b.markers[0].header.sequence, b.markers[0].running_checksum) for b in beacons]
    assert got == [(20, 2887), (42, 61736), (63, 23018), (85, 62781)]
    assert [values[seq] for seq, _ in got] == [r for _, r in got]


FALLBACK_SCRIPT = textwrap.dedent("""
    import sys
    sys.modules["fastcrc"] = None          # any `import fastcrc` now raises ImportError
    import ssfile
    from ssfile.format import crc
    assert not crc.ACCELERATED, "fastcrc still in use"
    assert crc.crc16(b"123456789") == 0x4C06 and crc.crc16_bytes(b"EOS") == 0xED7C
    out = sys.argv[1] + "/fallback.ss"
    with ssfile.open(out, "w", beacon_interval=256) as w:
        for i in range(50):
            w.write(bytes([i]) * i, stream_key="k", timestamp=1000 + i)
    with ssfile.open(out) as r:
        msgs = list(r)
        assert r.ended and [m.payload for m in msgs] == [bytes([i]) * i for i in range(50)]
    with ssfile.open(sys.argv[2]) as r:
        assert len(list(r)) == 100 and r.ended
    print("fallback ok")
""")


def test_ssfile_works_without_fastcrc(tmp_path, golden_dir):
    run = subprocess.run(
        [sys.executable, "-c", FALLBACK_SCRIPT, str(tmp_path), str(golden_dir / "consumer.ss")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "fallback ok" in run.stdout


def test_fallback_files_equal_accelerated_files(tmp_path, monkeypatch):
    """Same bytes whichever CRC backend is active (the encoder/decoder bind it at import)."""
    import ssfile

    def write(path):
        with ssfile.open(
            path, "w", beacon_interval=512, created_at=1, eos=False, file_name="same.ss"
        ) as w:
            for i in range(40):
                w.write(bytes(range(i, 3 * i)), stream_key="s", timestamp=i)

    write(tmp_path / "fast.ss")
    import ssfile.codec.encoder as enc
    import ssfile.file.writer as wr

    monkeypatch.setattr(enc, "crc16_bytes", crc16_py)
    monkeypatch.setattr(wr, "crc16_bytes", crc16_py)
    write(tmp_path / "py.ss")
    fast, slow = (tmp_path / "fast.ss").read_bytes(), (tmp_path / "py.ss").read_bytes()
    assert fast == slow and len(fast) > 512
