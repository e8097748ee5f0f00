"""``ssfile info``: summaries computed independently from the Reader's events."""

from __future__ import annotations

import json

import pytest

import ssfile
from ssfile.cli import info as info_mod
from ssfile.cli import main
from ssfile.codec.events import EndOfStream

GOLDEN = ["sample-1", "consumer", "multi-stream", "long-payloads", "no-eos"]


def info(capsysbinary, *argv: str):  # type: ignore[no-untyped-def]
    code = main(["info", *argv])
    out, err = capsysbinary.readouterr()
    return code, out, err


def expected(path):  # type: ignore[no-untyped-def]
    streams: dict = {}
    beacons = 0
    eos = False
    with ssfile.open(path) as r:
        for ev in r.events():
            if isinstance(ev, ssfile.Message):
                st = streams.setdefault((ev.stream_key, ev.shard_id), [])
                st.append(ev)
            elif isinstance(ev, ssfile.Beacon):
                beacons += 1
            elif isinstance(ev, EndOfStream):
                eos = True
        header = r.header
    rows = []
    for (key, shard), msgs in sorted(streams.items(), key=lambda kv: (kv[0][0].encode(), kv[0][1])):
        rows.append(
            {
                "stream_key": key,
                "shard_id": shard,
                "messages": len(msgs),
                "first_sequence": msgs[0].sequence,
                "last_sequence": msgs[-1].sequence,
                "first_timestamp_ms": msgs[0].timestamp_ms,
                "last_timestamp_ms": msgs[-1].timestamp_ms,
                "payload_bytes": sum(len(m.payload) for m in msgs),
            }
        )
    return header, rows, beacons, eos


@pytest.mark.parametrize("name", GOLDEN)
def test_json_summary(golden_dir, capsysbinary, name):
    path = golden_dir / f"{name}.ss"
    code, out, err = info(capsysbinary, str(path), "--json")
    assert (code, err) == (0, b"")
    got = json.loads(out)
    header, rows, beacons, eos = expected(path)
    assert got["size"] == path.stat().st_size
    assert got["header"]["file_name"] == header.file_name
    assert got["header"]["beacon_interval"] == header.beacon_interval
    assert got["header"]["created_at_ms"] == header.created_at_ms
    assert got["messages"] == sum(r["messages"] for r in rows)
    assert [
        {k: v for k, v in s.items() if k not in ("first_timestamp", "last_timestamp")}
        for s in got["streams"]
    ] == rows
    assert (got["beacons"], got["eos"], got["torn_tail_bytes"], got["checksum_errors"]) == (
        beacons,
        eos,
        0,
        0,
    )


def test_text_summary(golden_dir, capsysbinary):
    code, out, _ = info(capsysbinary, str(golden_dir / "consumer.ss"))
    text = out.decode()
    assert code == 0
    assert (
        "messages:         100" in text
        and "beacons:          4" in text
        and "eos:              yes" in text
    )
    row = [line.split() for line in text.splitlines() if line.startswith("  hello")]
    assert row == [
        [
            "hello",
            "1",
            "100",
            "0",
            "99",
            "2023-08-10T16:49:14.745",
            "2023-08-10T16:49:14.908",
            "790",
        ]
    ]


def test_torn_tail_and_checksum_errors(golden_dir, capsysbinary, tmp_path):
    data = (golden_dir / "consumer.ss").read_bytes()
    torn = tmp_path / "torn.ss"
    torn.write_bytes(data[:3000])
    with ssfile.Reader(str(torn), tolerate_truncation=True) as r:
        complete = list(r)
        torn_at = r.torn_tail
    code, out, _ = info(capsysbinary, str(torn), "--json")
    got = json.loads(out)
    assert code == 1
    assert got["torn_tail_bytes"] == 3000 - torn_at > 0
    assert got["messages"] == len(complete)

    bad = bytearray(data)
    bad[128 + 37] ^= 0xFF  # inside hello-0's payload
    broken = tmp_path / "crc.ss"
    broken.write_bytes(bytes(bad))
    code, out, _ = info(capsysbinary, str(broken), "--json")
    got = json.loads(out)
    assert code == 1 and got["checksum_errors"] == 1 and got["messages"] == 99 and got["eos"]


def test_not_an_ss_file(capsysbinary, tmp_path):
    bad = tmp_path / "x.ss"
    bad.write_bytes(b"hello world" * 20)
    code, out, err = info(capsysbinary, str(bad))
    assert code == 2 and out == b"" and b"bad magic" in err and err.count(b"\n") == 1


def test_progress_bar_only_on_a_terminal(monkeypatch):
    class Term:
        def __init__(self, tty: bool) -> None:
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

        def write(self, text: str) -> int:
            return len(text)

        def flush(self) -> None:
            pass

    from argparse import Namespace

    from ssfile.cli import progress

    monkeypatch.setattr(progress.sys, "stderr", Term(False))
    assert not progress.show_progress(Namespace(progress=None))
    assert progress.show_progress(Namespace(progress=True))  # --progress
    monkeypatch.setattr(progress.sys, "stderr", Term(True))
    assert progress.show_progress(Namespace(progress=None))
    assert not progress.show_progress(Namespace(progress=False))  # --no-progress
    assert info_mod._progress(10, False) is None
    bar = info_mod._progress(10, True)
    assert bar is not None and bar.total == 10
    bar.close()
