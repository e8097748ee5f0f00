"""``ssfile view``: the paging model, the JSON API handlers, the HTTP server's security, the CLI.

Expected pages are computed by reading the whole file with the plain Reader and slicing
the list, an independent path from the viewer's seek-and-scan paging.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

import ssfile
from ssfile.view import jobs, model, payload, tally
from ssfile.view.api import Api, ApiError
from ssfile.view.server import ViewServer

T0 = 1_700_000_000_000
STREAMS = ("orders", "prices", "logs")
INTERVAL = 512


def payload_for(i: int) -> bytes:
    if i % 7 == 0:
        return bytes(range(256))[: 20 + i % 50]  # binary
    if i % 5 == 0:
        return f"line {i} plain text".encode()  # text
    if i % 97 == 0:
        return json.dumps({"i": i, "big": "x" * 900}).encode()  # spans beacons
    return json.dumps({"i": i, "v": i * 1.5}).encode()


def write_file(path, n: int, start: int = 0, mode: str = "w", eos: bool = True) -> None:
    opts = {"beacon_interval": INTERVAL, "created_at": T0} if mode == "w" else {}
    with ssfile.open(path, mode, **opts) as w:
        for i in range(start, start + n):
            w.write(
                payload_for(i),
                stream_key=STREAMS[i % 3],
                shard_id=(i // 3) % 2,
                timestamp=T0 + 10 * i,
            )
        w.close(eos=eos)


@pytest.fixture
def rec(tmp_path):
    path = str(tmp_path / "rec.ss")
    write_file(path, 1500)
    return path


def read_all(path):
    with ssfile.open(path) as r:
        return list(r)


def inline_api(path) -> Api:
    board = jobs.JobBoard(path, runner=jobs.in_process)
    board.start()
    board.wait()
    return Api(path, board)


def offsets(rows):
    return [r["offset"] if isinstance(r, dict) else r.offset for r in rows]


# ---- the paging model -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "flt",
    [
        model.Filter(),
        model.Filter(frozenset({"prices"})),
        model.Filter(frozenset({"orders", "logs"}), 1),
    ],
)
def test_forward_pages_chain_to_the_whole_selection(rec, flt):
    want = [m for m in read_all(rec) if flt.keep(m)]
    got, at = [], 0
    while True:
        page = model.page_after(rec, at, flt, limit=37)
        got += page.messages
        if page.at_end:
            break
        assert page.cursor > at
        at = page.cursor
    assert offsets(got) == offsets(want)
    assert [m.payload for m in got] == [m.payload for m in want]


def test_a_scan_budget_gives_short_pages_whose_cursors_still_cover_everything(rec):
    flt = model.Filter(frozenset({"logs"}), 1)
    want = [m for m in read_all(rec) if flt.keep(m)]
    got, at, short = [], 0, 0
    while True:
        page = model.scan_forward(rec, at, flt.keep, limit=50, budget=2048)
        got += page.messages
        short += len(page.messages) < 50 and not page.at_end
        if page.at_end:
            break
        assert page.cursor > at
        at = page.cursor
    assert short and offsets(got) == offsets(want)


@pytest.mark.parametrize("flt", [model.Filter(), model.Filter(frozenset({"logs"}), 0)])
def test_backward_pages_chain_to_the_whole_selection(rec, flt):
    want = [m for m in read_all(rec) if flt.keep(m)]
    got: list[ssfile.Message] = []
    before = os.path.getsize(rec) + 1
    while True:
        page = model.page_before(rec, before, flt, limit=41)
        got = page.messages + got
        if page.at_start:
            break
        before = page.messages[0].offset if page.messages else page.lowest
    assert offsets(got) == offsets(want)


def test_jumps_find_the_first_message_at_or_after(rec):
    msgs = read_all(rec)
    api = inline_api(rec)
    when = T0 + 10 * 777 + 3
    page = api.handle("messages", {"time": [str(when)], "limit": ["5"]})
    want = next(m for m in msgs if m.timestamp_ms >= when)
    assert page["target"] == want.offset and page["messages"][0]["offset"] == want.offset
    page = api.handle("messages", {"seq": ["100"], "seq_stream": ["prices"], "seq_shard": ["1"]})
    want = next(
        m for m in msgs if m.stream_key == "prices" and m.shard_id == 1 and m.sequence >= 100
    )
    assert page["messages"][0]["offset"] == want.offset
    page = api.handle("messages", {"time": [str(T0 + 10**9)], "limit": ["3"]})
    assert offsets(page["messages"]) == offsets(msgs[-3:]) and page["at_end"]


def test_end_page_then_live_growth(tmp_path):
    path = str(tmp_path / "live.ss")
    write_file(path, 300, eos=False)
    api = inline_api(path)
    last = api.handle("messages", {"end": ["1"], "limit": ["10"]})
    assert offsets(last["messages"]) == offsets(read_all(path)[-10:]) and last["at_end"]
    write_file(path, 25, start=300, mode="a", eos=False)
    new = api.handle(
        "messages",
        last["next"] | {"limit": ["100"]}
        if False
        else {"from": [str(last["next"]["from"])], "limit": ["100"]},
    )
    assert offsets(new["messages"]) == offsets(read_all(path)[300:])
    assert new["at_end"] and not new["ended"]


# ---- damage ---------------------------------------------------------------------------------


def corrupt(path, at: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(data)


def test_structural_damage_is_stepped_over_and_reported(rec):
    orig = read_all(rec)
    hit = orig[700]
    corrupt(rec, hit.offset + 2, b"\xff" * 24)  # the frame header: its lengths
    got = model.scan_forward(rec, 0, budget=None)
    assert len(got.damage) == 1
    d = got.damage[0]
    assert d.offset >= hit.offset and d.resume is not None and d.resume > d.offset
    assert d.resume % INTERVAL == 0
    by_offset = {m.offset: m for m in orig}
    assert all(by_offset[m.offset].payload == m.payload for m in got.messages)
    want = [m.offset for m in orig if m.offset < hit.offset or m.offset >= d.resume]
    assert offsets(got.messages) == want
    assert got.at_end and got.ended
    # verify agrees the damage starts in that frame
    diag = ssfile.verify(rec)
    assert any(hit.offset <= p.offset < d.resume for p in diag.errors)


def test_damage_shows_in_api_pages_with_verify_problems(rec):
    orig = read_all(rec)
    hit = orig[400]
    corrupt(rec, hit.offset + 2, b"\xff" * 24)
    bad_crc = orig[1000]
    corrupt(rec, bad_crc.offset + 40, b"\x00\x01")  # in the payload: a checksum mismatch
    api = inline_api(rec)
    page = api.handle("messages", {"from": [str(hit.offset - 200)], "limit": ["30"]})
    assert page["damage"] and page["damage"][0]["offset"] >= hit.offset
    assert any(p["offset"] >= hit.offset for p in page["problems"])
    page = api.handle("messages", {"from": [str(bad_crc.offset)], "limit": ["2"]})
    assert page["messages"][0]["offset"] == bad_crc.offset  # still shown
    assert [p["code"] for p in page["problems"] if p["offset"] == bad_crc.offset]
    detail = api.handle("message", {"offset": [str(bad_crc.offset)]})
    assert detail["problems"]
    summary = api.handle("summary", {})
    overview = summary["overview"]
    assert overview["state"] == "ready" and not overview["result"]["integrity"]["clean"]
    # backward paging across the damage ends at the file start
    before, seen = os.path.getsize(rec) + 1, []
    while True:
        back = api.handle("messages", {"before": [str(before)], "limit": ["100"]})
        seen = back["messages"] + seen
        if back["at_start"]:
            break
        before = back["prev"]["before"]
    assert offsets(seen) == offsets(model.scan_forward(rec, 0, budget=None).messages)


def test_file_cut_inside_a_frame_is_a_torn_tail_not_damage(rec):
    orig = read_all(rec)
    cut = orig[-5].offset + 7
    os.truncate(rec, cut)
    got = model.scan_forward(rec, 0, budget=None)
    assert offsets(got.messages) == offsets(orig[:-5])
    assert got.damage == [] and got.torn_tail == orig[-5].offset


# ---- the overview (tally) and its board --------------------------------------------------------


def test_overview_counts_are_the_readers_and_the_eos_is_no_message(rec):
    t = tally.tally(rec).to_json_dict()
    msgs = read_all(rec)
    assert t["messages"] == t["integrity"]["intact_messages"] == len(msgs)
    assert sum(s["messages"] for s in t["streams"]) == len(msgs)
    assert sum(s["total"] for s in t["timeline"]["streams"]) == len(msgs)
    assert {s["stream_key"]: s["total"] for s in t["timeline"]["streams"]} == {
        k: sum(m.stream_key == k for m in msgs) for k in STREAMS
    }
    assert t["eos"]["offset"] == ssfile.verify(rec).eos_offsets[0]
    assert t["eos"]["after_messages"] == 0 and t["tail"] is None
    assert t["integrity"]["clean"] and t["through"] == os.path.getsize(rec)
    first = {(s["stream_key"], s["shard_id"]): s for s in t["streams"]}
    for (key, shard), st in first.items():
        mine = [m for m in msgs if (m.stream_key, m.shard_id) == (key, shard)]
        assert st["messages"] == len(mine) and st["last_sequence"] == mine[-1].sequence
        assert st["payload_bytes"] == sum(len(m.payload) for m in mine)
    bins = t["timeline"]
    width = (bins["end_ms"] - bins["start_ms"]) // bins["bins"]
    for s in bins["streams"]:  # each message in the bar that covers its time
        want = [0] * bins["bins"]
        for m in msgs:
            if m.stream_key == s["stream_key"]:
                want[(m.timestamp_ms - bins["start_ms"]) // width] += 1
        assert s["counts"] == want


def test_the_overview_reads_only_what_the_file_gained(tmp_path):
    path = str(tmp_path / "grow.ss")
    write_file(path, 10, eos=False)
    t = tally.Tally(path)
    t.check_file()
    t.advance()
    whole = read_all(path)
    for step in range(1, 9):
        write_file(path, 40, start=10 + 40 * step, mode="a", eos=False)
        data = open(path, "rb").read()
        cut = len(data) - 5 * step  # a frame being written: its last bytes are missing
        os.truncate(path, cut)
        t.check_file()
        looked = t.advance()
        assert looked <= len(data) - whole[-1].offset + 4096  # the new bytes, not the file
        whole = [m for m in read_all_tolerant(path)]
        snap = t.to_json_dict()
        assert snap["messages"] == len(whole) and snap["tail"]["offset"] == t.through
        assert snap["integrity"]["clean"] and snap["integrity"]["pending"]
        with open(path, "ab") as f:
            f.write(data[cut:])  # the writer finishes the frame
    t.check_file()
    t.advance()
    full = tally.tally(path).to_json_dict()
    mine = t.to_json_dict()
    for key in ("messages", "streams", "timeline", "beacons", "through", "tail"):
        assert mine[key] == full[key], key
    assert mine["events"] == [] and mine["generation"] == 0  # it only ever grew


def read_all_tolerant(path):
    with ssfile.open(path, tolerate_truncation=True) as r:
        return list(r)


def test_the_overview_says_when_the_file_is_truncated_or_replaced(tmp_path):
    path = str(tmp_path / "rec.ss")
    write_file(path, 300, eos=False)
    t = tally.tally(path)
    msgs = read_all(path)
    os.truncate(path, msgs[100].offset)
    t.check_file()
    t.advance()
    snap = t.to_json_dict()
    assert snap["messages"] == 100 and snap["generation"] == 1
    assert "truncated" in snap["events"][-1]["message"]
    other = str(tmp_path / "other.ss")
    write_file(other, 20)
    os.replace(other, path)
    t.check_file()
    t.advance()
    snap = t.to_json_dict()
    assert snap["messages"] == 20 and snap["eos"] and snap["generation"] == 2
    assert "replaced" in snap["events"][-1]["message"] and len(snap["events"]) == 2
    with open(path, "r+b") as f:  # same inode, same size, other bytes where we already read
        f.seek(200)
        b = f.read(1)
        f.seek(200)
        f.write(bytes([b[0] ^ 1]))
    os.utime(path, ns=(0, 0))
    t.check_file()
    assert t.generation == 2  # bytes before ``through`` other than its last 64 are not compared
    with open(path, "r+b") as f:
        f.seek(t.through - 3)
        f.write(b"xyz")
    t.check_file()
    assert t.generation == 3 and "rewritten" in t.events[-1]["message"]


def test_the_overview_counts_past_damage_and_after_the_eos(rec):
    orig = read_all(rec)
    corrupt(rec, orig[300].offset + 2, b"\xff" * 24)
    size = os.path.getsize(rec)
    room = INTERVAL - size % INTERVAL - 1  # two frames that end before the next beacon
    k = next(k for k in range(1, 200) if orig[k + 2].offset - orig[k].offset <= room)
    with open(rec, "ab") as f:  # data after the EOS: no reader sees it
        f.write(open(rec, "rb").read()[orig[k].offset : orig[k + 2].offset])
    t = tally.tally(rec).to_json_dict()
    diag = ssfile.verify(rec)
    assert not t["integrity"]["clean"] and t["integrity"]["unreadable"] == [
        list(r) for r in diag.unreadable
    ]
    assert t["messages"] == sum(s["total"] for s in t["timeline"]["streams"])
    assert t["messages"] > len(orig) - 50
    assert t["eos"]["after_messages"] == 2
    codes = {p["code"] for p in t["integrity"]["problems"]}
    assert {"unreadable", "data-after-eos"} <= codes


def test_the_board_reads_in_a_child_then_the_growth_in_place(tmp_path):
    path = str(tmp_path / "rec.ss")
    write_file(path, 1000, eos=False)
    board = jobs.JobBoard(path)
    try:
        board.start()
        board.wait(60)
        st = board.status()
        assert st["state"] == "ready" and st["result"]["messages"] == 1000
        write_file(path, 30, start=1000, mode="a")
        time.sleep(jobs.MIN_REFRESH_S)  # the board looks at the file at most this often
        st = board.status()
        assert not st["refreshing"] and st["result"]["messages"] == 1030
        assert st["result"]["eos"] is not None
    finally:
        board.close()


def test_a_live_page_reads_up_to_the_overviews_offset(rec):
    api = inline_api(rec)
    msgs = read_all(rec)
    stop = msgs[40].offset
    page = api.handle("messages", {"from": ["0"], "stop": [str(stop)], "limit": ["1000"]})
    assert offsets(page["messages"]) == offsets(msgs[:40])
    with pytest.raises(ApiError):
        api.handle("messages", {"end": ["1"], "stop": ["400"]})


# ---- plots --------------------------------------------------------------------------------------


def sensor_values(path, stream, get):
    out = []
    for m in read_all(path):
        if m.stream_key != stream:
            continue
        try:
            v = get(json.loads(m.payload))
        except (ValueError, KeyError, IndexError, TypeError):
            continue
        if isinstance(v, (int, float)):
            out.append((m.timestamp_ms, float(v), m.offset))
    return out


def series_of(api, stream, field, **extra):
    query = {"stream": [stream], "field": [field]} | {k: [str(v)] for k, v in extra.items()}
    api.handle("series", query)  # starts reading the series
    api.plots.wait()
    return api.handle("series", query)


def test_series_of_a_field_equals_the_readers_values(rec):
    api = inline_api(rec)
    got = series_of(api, "prices", "v")
    want = sensor_values(rec, "prices", lambda d: d["v"])
    d = got["data"]
    assert got["state"] == "ready" and d["exact"]
    assert list(zip(d["t"], d["v"], d["offset"])) == want
    n = sum(m.stream_key == "prices" for m in read_all(rec))
    assert got["messages"] == n and got["values"] == len(want)
    assert got["binary"] == sum(
        m.stream_key == "prices" and payload.kind_of(m.payload) == "binary" for m in read_all(rec)
    )
    assert got["missing"] + got["not_json"] + got["binary"] == n - len(want)


def test_series_downsampling_keeps_every_buckets_min_and_max(tmp_path):
    import random

    path = str(tmp_path / "many.ss")
    rng = random.Random(7)
    values = [rng.uniform(-5, 5) + (i % 300) / 30 for i in range(5000)]
    with ssfile.open(path, "w", created_at=T0) as w:
        for i, v in enumerate(values):
            w.write(json.dumps({"a": {"b": [v]}}).encode(), stream_key="s", timestamp=T0 + i)
    api = inline_api(path)
    got = series_of(api, "s", "a.b[0]", width=100)
    d = got["data"]
    assert not d["exact"] and d["points"] == 5000 and len(d["t"]) <= 200
    lo, hi = d["lo"], d["hi"]
    for k in range(100):  # every bucket: its min and its max are drawn
        inside = [(T0 + i, v) for i, v in enumerate(values) if k <= (i * 100) // (hi - lo) < k + 1]
        drawn = [v for t, v in zip(d["t"], d["v"]) if (t - lo) * 100 // (hi - lo) == k]
        assert min(drawn) == min(v for _, v in inside) and max(drawn) == max(v for _, v in inside)
    zoom = series_of(api, "s", "a.b[0]", width=100, from_ms=T0 + 1000, to_ms=T0 + 1150)
    assert zoom["data"]["exact"] and zoom["data"]["v"] == values[1000:1150]


def test_series_say_why_nothing_is_plotted(tmp_path):
    path = str(tmp_path / "bin.ss")
    with ssfile.open(path, "w", created_at=T0) as w:
        for i in range(50):
            w.write(bytes([0, 200, i]), stream_key="raw", timestamp=T0 + i)
            w.write(b"hello", stream_key="txt", timestamp=T0 + i)
            w.write(b'{"x": "text"}', stream_key="js", timestamp=T0 + i)
    api = inline_api(path)
    assert "binary (not UTF-8 text)" in series_of(api, "raw", "x")["reason"]
    assert "is a JSON object" in series_of(api, "txt", "x")["reason"]
    assert "has a number at 'x'" in series_of(api, "js", "x")["reason"]
    assert "has no messages" in series_of(api, "nope", "x")["reason"]
    assert api.handle("fields", {"stream": ["js"]})["fields"] == []


@pytest.mark.parametrize(
    "query,words",
    [
        ({"stream": ["a"]}, "are required"),
        ({"stream": ["a"], "field": ["a..b"]}, "bad field path"),
        ({"stream": ["a"], "field": ["x"], "width": ["5"]}, "between 10 and"),
        ({"stream": ["a"], "field": ["x"], "from_ms": ["soon"]}, "whole number"),
    ],
)
def test_bad_series_requests_are_400(rec, query, words):
    api = Api(rec, jobs.JobBoard(rec, runner=jobs.in_process))
    with pytest.raises(ApiError) as info:
        api.handle("series", query)
    assert info.value.status == 400 and words in info.value.message


def test_a_series_grows_with_the_file(tmp_path):
    path = str(tmp_path / "grow.ss")
    write_file(path, 300, eos=False)
    api = inline_api(path)
    first = series_of(api, "prices", "v")
    write_file(path, 300, start=300, mode="a")
    api.plots.wait()
    grown = series_of(api, "prices", "v")
    want = sensor_values(path, "prices", lambda d: d["v"])
    assert len(want) > first["values"] and grown["values"] == len(want)
    assert list(zip(grown["data"]["t"], grown["data"]["v"])) == [(t, v) for t, v, _ in want] or (
        not grown["data"]["exact"]
    )


def test_a_large_file_answers_first_with_a_preview_then_the_exact_series(tmp_path, monkeypatch):
    import threading

    from ssfile.export import series as series_mod
    from ssfile.view import plots

    path = str(tmp_path / "big.ss")
    with ssfile.open(path, "w", beacon_interval=1024, created_at=T0) as w:
        for i in range(4000):
            w.write(b'{"t": %d, "pad": "%s"}' % (i, b"x" * 40), stream_key="s", timestamp=T0 + i)
    monkeypatch.setattr(plots, "PREVIEW_BYTES", 0)  # every file counts as large
    monkeypatch.setattr(series_mod, "PREVIEW_WINDOWS", 10)
    monkeypatch.setattr(series_mod, "PREVIEW_PER_WINDOW", 20)
    gate = threading.Event()

    def held(*args):  # the full read waits until the preview has been seen
        gate.wait(30)
        return series_mod.field_series(*args)

    monkeypatch.setattr(plots, "field_series", held)
    api = inline_api(path)
    query = {"stream": ["s"], "field": ["t"], "width": ["100"]}
    first = api.handle("series", query)
    assert first["state"] == "preview" and first["preview"] and first["reason"] is None
    d = first["data"]
    assert 100 <= d["points"] <= 200 and d["exact"]  # 10 windows of at most 20 messages
    assert all(v == t - T0 for t, v in zip(d["t"], d["v"]))  # real messages, in time order
    assert d["t"] == sorted(d["t"]) and d["t"][-1] - d["t"][0] > 3000  # spread over the file
    assert api.handle("series", query)["state"] == "preview"  # still reading
    gate.set()
    api.plots.wait()
    exact = api.handle("series", query)
    assert exact["state"] == "ready" and not exact["preview"] and exact["values"] == 4000
    assert exact["data"]["points"] == 4000 and not exact["data"]["exact"]


# ---- payloads ---------------------------------------------------------------------------------


def test_payload_kinds_and_views():
    j = payload.describe(b'{"a": [1, 2.5, "x"]}')
    assert (
        j["kind"] == "json"
        and json.loads(j["json"]) == {"a": [1, 2.5, "x"]}
        and "\n  " in j["json"]
    )
    t = payload.describe("héllo\nworld".encode())
    assert t["kind"] == "text" and t["text"] == "héllo\nworld" and t["json"] is None
    b = payload.describe(b"\x00\x01abc\xff")
    assert b["kind"] == "binary" and b["text"] is None
    assert b["hex"] == "00000000  00 01 61 62 63 ff" + " " * 30 + "  |..abc.|"
    assert payload.kind_of(b"NaN") == "text" and payload.kind_of(b"") == "text"
    huge = ("é" * (payload.INSPECT_LIMIT // 2 + 10)).encode()
    assert payload.kind_of(huge) == "text" and payload.kind_of(b"\x00" + huge) == "binary"
    cut = payload.describe(huge)
    assert cut["kind"] == "text" and cut["truncated"] and cut["json"] is None
    assert len(cut["text"].encode()) >= payload.INSPECT_LIMIT - 3
    big = payload.describe(b"x" * 1000, limit=100)
    assert big["truncated"] and big["hex"].count("\n") == 6
    assert len(payload.preview(b"y" * 10_000)) == payload.PREVIEW_CHARS


# ---- API errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "route,query,status,words",
    [
        ("nope", {}, 404, "no such API route"),
        ("messages", {"lmit": ["3"]}, 400, "unknown parameter 'lmit'"),
        ("messages", {"limit": ["-1"]}, 400, "whole number"),
        ("messages", {"limit": ["100000"]}, 400, "between 1 and 1000"),
        ("messages", {"limit": ["1", "2"]}, 400, "given 2 times"),
        ("messages", {"from": ["1"], "before": ["9"]}, 400, "at most one of"),
        ("messages", {"time": ["yesterday"]}, 400, "invalid time"),
        ("messages", {"seq": ["4"]}, 400, "seq_stream"),
        ("messages", {"shard": ["x"]}, 400, "'shard'"),
        ("message", {}, 400, "'offset' is required"),
        ("message", {"offset": ["129"]}, 404, "no message starts at offset 129"),
        ("summary", {"x": ["1"]}, 400, "unknown parameter"),
        ("messages", {"stop": ["x"]}, 400, "'stop'"),
    ],
)
def test_bad_requests_are_4xx_with_a_reason(rec, route, query, status, words):
    api = Api(rec, jobs.JobBoard(rec, runner=jobs.in_process))
    with pytest.raises(ApiError) as info:
        api.handle(route, query)
    assert info.value.status == status and words in info.value.message


def test_unreadable_header_is_422_on_pages(tmp_path):
    path = tmp_path / "junk.ss"
    path.write_bytes(b"not a recording at all" * 20)
    api = Api(str(path), jobs.JobBoard(str(path), runner=jobs.in_process))
    with pytest.raises(ApiError) as info:
        api.handle("messages", {})
    assert info.value.status == 422
    assert api.handle("summary", {})["error"]


# ---- the HTTP server --------------------------------------------------------------------------


@pytest.fixture
def server(rec):
    srv = ViewServer(rec, jobs=jobs.JobBoard(rec, runner=jobs.in_process))
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def request(srv, path, *, token=True, method="GET", host=None, raw=None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        if raw is not None:
            conn.connect()
            conn.sock.sendall(raw)
            resp = http.client.HTTPResponse(conn.sock)
            resp.begin()
            return resp.status, resp.read(), resp
        headers = {"Host": host or f"127.0.0.1:{srv.port}"}
        if token is True:
            headers["X-SSFile-Token"] = srv.token
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read(), resp
    finally:
        conn.close()


def test_server_binds_loopback_and_serves_the_page_with_the_token(server):
    assert server.server_address[0] == "127.0.0.1"
    status, body, resp = request(server, f"/?token={server.token}", token=False)
    assert status == 200 and resp.getheader("Content-Type").startswith("text/html")
    assert f"app.js?token={server.token}".encode() in body and b"__TOKEN__" not in body
    status, body, _ = request(
        server, f"/app.js?token={urllib.parse.quote(server.token)}", token=False
    )
    assert status == 200 and b"X-SSFile-Token" in body
    status, body, _ = request(server, "/api/messages?limit=2")
    assert status == 200 and len(json.loads(body)["messages"]) == 2


@pytest.mark.parametrize(
    "path,token",
    [
        ("/", False),
        ("/api/summary", False),
        ("/?token=wrong", False),
        ("/app.js", False),
    ],
)
def test_requests_without_the_right_token_are_refused(server, path, token):
    status, body, resp = request(server, path, token=token)
    assert status == 403 and "token" in json.loads(body)["error"]
    assert resp.getheader("Content-Type").startswith("application/json")


def test_foreign_host_header_is_refused(server):
    status, body, _ = request(server, "/api/summary", host=f"evil.example:{server.port}")
    assert status == 403 and "Host" in json.loads(body)["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/../pyproject.toml",
        "/%2e%2e/pyproject.toml",
        "//etc/passwd",
        "/viewer/app.js",
        "/README.md",
        "/./index.html",
        "/api/../app.js",
        "/api/summary/../../etc/passwd",
    ],
)
def test_no_path_reaches_the_file_system(server, path):
    sep = "&" if "?" in path else "?"
    status, body, _ = request(server, f"{path}{sep}token={server.token}", token=False)
    assert status == 404 and json.loads(body)["error"]
    assert b"[project]" not in body and b"root:" not in body


def test_other_methods_and_malformed_requests_get_json_4xx(server):
    status, body, _ = request(server, "/api/summary", method="POST")
    assert status == 405 and "GET only" in json.loads(body)["error"]
    status, body, _ = request(
        server,
        "/api/summary?limit=%zz&&",
    )
    assert status == 400 and "query" in json.loads(body)["error"]
    status, body, _ = request(server, "", raw=b"GET /x HTTP/1.1 extra\r\n\r\n")
    assert status == 400 and json.loads(body)["error"]


# ---- the command ------------------------------------------------------------------------------


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "ssfile", *args], capture_output=True, text=True, timeout=30
    )


def test_cli_missing_file_is_a_one_line_error(tmp_path):
    got = run_cli("view", str(tmp_path / "none.ss"), "--no-browser")
    assert got.returncode == 2 and got.stderr.count("\n") == 1 and "no such file" in got.stderr


def test_cli_taken_port_and_directory_are_one_line_errors(rec, tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        got = run_cli("view", rec, "--no-browser", "--port", str(taken.getsockname()[1]))
    assert got.returncode == 2 and got.stderr.count("\n") == 1 and "cannot listen" in got.stderr
    got = run_cli("view", str(tmp_path), "--no-browser")
    assert got.returncode == 2 and "not a regular file" in got.stderr


def test_cli_serves_until_interrupted(rec):
    child = subprocess.Popen(
        [sys.executable, "-m", "ssfile", "view", rec, "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()
        url = urllib.parse.urlsplit(line.split(" at ")[1].split()[0])
        assert url.hostname == "127.0.0.1"
        token = urllib.parse.parse_qs(url.query)["token"][0]
        conn = http.client.HTTPConnection("127.0.0.1", url.port, timeout=10)
        conn.request("GET", "/api/summary", headers={"X-SSFile-Token": token})
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["name"] == "rec.ss"
        conn.close()
    finally:
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=20)
    assert child.returncode == 130 and "Traceback" not in err, err  # Ctrl-C: 130, as every command
