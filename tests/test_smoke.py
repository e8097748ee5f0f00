import ssfile
from ssfile.codec.decoder import decode_bytes
from ssfile.codec.encoder import Encoder
from ssfile.codec.events import EndOfStream
from ssfile.types import Message

GOLDEN = ["sample-1", "consumer", "multi-stream", "long-payloads", "no-eos"]


def test_golden_reencode_is_byte_identical(golden_dir):
    for name in GOLDEN:
        data = (golden_dir / f"{name}.ss").read_bytes()
        events = decode_bytes(data)
        enc = Encoder(events[0])
        enc.start()
        for ev in events[1:]:
            m = ev.message if isinstance(ev, EndOfStream) else ev
            if isinstance(m, Message):
                enc.encode(m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.payload)
        assert enc.take() == data, name


def test_write_read_roundtrip(tmp_path):
    p = tmp_path / "a.ss"
    with ssfile.open(p, "w", beacon_interval=1024) as w:
        for i in range(500):
            w.write(b"x" * (i % 50), stream_key=f"k{i % 3}", shard_id=i % 2)
    with ssfile.open(p) as r:
        msgs = list(r)
        assert r.ended
    assert len(msgs) == 500
    assert [m.sequence for m in msgs if (m.stream_key, m.shard_id) == ("k0", 0)][:3] == [1, 2, 3]


def test_demo_runs(tmp_path, capsys):
    from ssfile.cli import main
    assert main(["demo", str(tmp_path), "--messages", "2000"]) == 0
    assert "recorded 2000 messages" in capsys.readouterr().out
