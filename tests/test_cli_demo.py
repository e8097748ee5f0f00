import re

from ssfile.cli import main


def test_demo_records_inspects_and_seeks(tmp_path, capsys):
    assert main(["demo", str(tmp_path), "--messages", "3000"]) == 0
    out = capsys.readouterr().out
    assert "recorded 3000 messages" in out
    assert re.search(r"messages:\s+3000", out)
    assert re.search(r"eos:\s+yes", out)
    # the seek by time lands on the middle tick (50 ms per message from 2026-01-01)
    after_seek = out.split("== seek to")[1].splitlines()
    assert after_seek[1].startswith("[2026-01-01T00:01:15.0 | ")
    assert "| orders | 100 | 1]" in out
    assert (tmp_path / "demo.ss").stat().st_size > 128
