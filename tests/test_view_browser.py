"""``ssfile view`` end to end in headless Chromium (Debian's ``/usr/bin/chromium``, driven by
Playwright; never Playwright's own browser download): open, filter, seek from the timeline,
inspect a payload, follow a live file, open a damaged one.

Screenshots are kept in ``test-artifacts/view/`` (gitignored) for a person to look at.
These tests fail, never skip, when chromium or playwright is missing: scripts/bootstrap
installs both.
"""

from __future__ import annotations

import json
import os
import pathlib
import threading

import pytest

import ssfile
from ssfile.view.server import ViewServer

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = pathlib.Path(__file__).resolve().parent.parent / "test-artifacts" / "view"
T0 = 1_700_000_000_000
STREAMS = ("orders", "prices", "logs")
PAD_LEFT, PAD_RIGHT = 44, 8  # the timeline's plot margins (ssfile/view/static/app.js PAD)
WAIT_MS = 15_000


def payload_for(i: int) -> bytes:
    if i % 11 == 0:
        return bytes([0, 1, 2, 250, i % 256]) * 4
    if i % 5 == 0:
        return f"plain text line {i}".encode()
    return json.dumps({"n": i, "stream": STREAMS[i % 3], "tags": ["a", "b"]}).encode()


def write(path, start: int, n: int, mode: str = "w") -> None:
    opts = {"beacon_interval": 1024, "created_at": T0} if mode == "w" else {}
    with ssfile.open(path, mode, **opts) as w:
        for i in range(start, start + n):
            # a burst in the middle: every third second is busy
            ts = T0 + i * 20 + (0 if (i // 100) % 3 else 5)
            w.write(payload_for(i), stream_key=STREAMS[i % 3], shard_id=i % 2, timestamp=ts)
        w.close(eos=False)


def read_all(path):
    with ssfile.open(path) as r:
        return list(r)


@pytest.fixture(scope="module")
def browser():
    assert os.path.exists(CHROMIUM), (
        f"{CHROMIUM} is missing: run scripts/bootstrap (apt-get install chromium)"
    )
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def serve():
    servers = []

    def start(path):
        srv = ViewServer(str(path))
        threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    ctx.close()
    assert not errors, errors


def wait_js(pg, expr: str, timeout: int = WAIT_MS) -> None:
    """Wait until the JavaScript expression is true (as a function: the page's CSP forbids eval)."""
    pg.wait_for_function(f"() => ({expr})", timeout=timeout)


def shot(pg, name: str) -> None:
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def table(pg) -> list[dict[str, str]]:
    return pg.eval_on_selector_all(
        "#messages tbody tr.msg",
        """rows => rows.map(r => ({
        offset: Number(r.dataset.offset), stream: r.cells[2].textContent, shard: r.cells[3].textContent}))""",
    )


def wait_ready(pg) -> None:
    pg.wait_for_selector("#messages tbody tr.msg", timeout=WAIT_MS)
    wait_js(pg, "document.querySelectorAll('#legend span.swatch').length > 0", timeout=WAIT_MS)
    wait_js(pg, "!document.querySelector('#integrity').classList.contains('pending')")
    wait_js(pg, "document.querySelector('#summary-state').textContent === ''")


def first_offset_is(pg, offset: int) -> None:
    wait_js(
        pg,
        f"(document.querySelector('#messages tbody tr.msg') || {{dataset: {{}}}})"
        f".dataset.offset === '{offset}'",
        timeout=WAIT_MS,
    )


def test_open_filter_and_inspect(browser, page, serve, tmp_path):
    path = tmp_path / "rec.ss"
    write(path, 0, 1200)
    msgs = read_all(path)
    srv = serve(path)
    page.goto(srv.url)
    wait_ready(page)
    shot(page, "01-open")
    assert [r["offset"] for r in table(page)] == [m.offset for m in msgs[:100]]
    assert page.text_content("#integrity") == "integrity: clean"
    assert "rec.ss" in page.text_content("#file-name")

    page.select_option("#stream-filter", ["prices"])
    page.fill("#shard-filter", "1")
    page.dispatch_event("#shard-filter", "change")
    want = [m.offset for m in msgs if m.stream_key == "prices" and m.shard_id == 1][:100]
    # the stream filter applies first (its page also starts at want[0]), then the shard:
    # wait for the whole filtered page, not just its first row and length
    wait_js(
        page,
        "Array.from(document.querySelectorAll('#messages tbody tr.msg'))"
        f".map(r => r.dataset.offset).join(',') === '{','.join(map(str, want))}'",
    )
    assert [r["offset"] for r in table(page)] == want
    shot(page, "02-filtered")

    target = next(m for m in msgs if m.offset == want[2])
    page.click(f"#messages tbody tr.msg[data-offset='{target.offset}']")
    wait_js(
        page,
        f"document.querySelector('#inspector-meta dd') && "
        f"document.querySelector('#inspector-meta dd').textContent === '{target.offset}'",
    )
    view = page.get_attribute("#payload-view", "data-view")
    shown = page.text_content("#payload-view")
    if view == "json":
        assert shown == json.dumps(json.loads(target.payload), indent=2)
    else:
        assert view == "text" and shown == target.payload.decode()
    shot(page, "03-inspect")
    page.click(".tabs button[data-view='hex']")
    assert page.text_content("#payload-view").startswith("00000000  " + target.payload[:4].hex(" "))

    binary = next(m for m in msgs if m.offset in want and m.payload[:1] == b"\x00")
    page.click(f"#messages tbody tr.msg[data-offset='{binary.offset}']")
    wait_js(
        page,
        "document.querySelector('#payload-view').dataset.view === 'hex' && "
        f"document.querySelector('#inspector-meta dd').textContent === '{binary.offset}'",
    )
    assert page.is_disabled(".tabs button[data-view='json']")


def timeline_click_time(page, x: int) -> int:
    """The time the page seeks to for a click at ``x`` px inside the canvas (per the API's bins)."""
    t = page.evaluate(
        "fetch('/api/timeline', {headers: {'X-SSFile-Token': new URLSearchParams("
        "location.search).get('token')}}).then(r => r.json())"
    )["result"]
    width = page.eval_on_selector("#timeline", "c => c.clientWidth")
    f = min(1.0, max(0.0, (x - PAD_LEFT) / (width - PAD_LEFT - PAD_RIGHT)))
    return int(t["start_ms"] + f * (t["end_ms"] - t["start_ms"]))


def test_timeline_click_and_drag_seek(browser, page, serve, tmp_path):
    path = tmp_path / "rec.ss"
    write(path, 0, 3000)
    msgs = read_all(path)
    srv = serve(path)
    page.goto(srv.url)
    wait_ready(page)
    width = page.eval_on_selector("#timeline", "c => c.clientWidth")

    x = PAD_LEFT + (width - PAD_LEFT - PAD_RIGHT) * 6 // 10
    when = timeline_click_time(page, x)
    want = next(m for m in msgs if m.timestamp_ms >= when)
    page.click("#timeline", position={"x": x, "y": 60})
    first_offset_is(page, want.offset)
    shot(page, "04-timeline-click")

    box = page.query_selector("#timeline").bounding_box()
    x0, x1 = PAD_LEFT + 120, PAD_LEFT + 260
    when = timeline_click_time(page, x0)
    want = next(m for m in msgs if m.timestamp_ms >= when)
    page.mouse.move(box["x"] + x1, box["y"] + 50)
    page.mouse.down()
    page.mouse.move(box["x"] + (x0 + x1) // 2, box["y"] + 50)
    page.mouse.move(box["x"] + x0, box["y"] + 50)
    page.mouse.up()
    first_offset_is(page, want.offset)
    shot(page, "05-timeline-drag")

    page.fill("#jump-seq", "500")
    page.select_option("#seq-stream", "logs")
    page.fill("#seq-shard", "0")
    page.click("#seq-form button")
    want = next(m for m in msgs if m.stream_key == "logs" and m.shard_id == 0 and m.sequence >= 500)
    first_offset_is(page, want.offset)
    page.click("#prev")
    wait_js(
        page,
        "Number([...document.querySelectorAll('#messages tbody tr.msg')].pop().dataset.offset)"
        f" < {want.offset}",
    )
    rows = table(page)
    i = next(k for k, m in enumerate(msgs) if m.offset == want.offset)
    assert [r["offset"] for r in rows] == [m.offset for m in msgs[i - 100 : i]]


def test_live_file_shows_new_messages(browser, page, serve, tmp_path):
    path = tmp_path / "live.ss"
    write(path, 0, 400)
    srv = serve(path)
    page.goto(srv.url)
    wait_ready(page)
    page.check("#live")
    last = read_all(path)[-1]
    page.wait_for_selector(f"#messages tbody tr.msg[data-offset='{last.offset}']", timeout=WAIT_MS)
    write(path, 400, 7, mode="a")
    added = read_all(path)[400:]
    page.wait_for_selector(
        f"#messages tbody tr.msg[data-offset='{added[-1].offset}']", timeout=WAIT_MS
    )
    offsets = [r["offset"] for r in table(page)]
    assert offsets[-7:] == [m.offset for m in added]
    shot(page, "06-live")


def test_damaged_file_shows_where(browser, page, serve, tmp_path):
    path = tmp_path / "bad.ss"
    write(path, 0, 1500)
    msgs = read_all(path)
    hit = msgs[800]
    with open(path, "r+b") as f:
        f.seek(hit.offset + 2)
        f.write(b"\xff" * 24)
    srv = serve(path)
    page.goto(srv.url)
    wait_ready(page)
    assert "DAMAGED" in page.text_content("#integrity")
    page.click("#problems li >> nth=0")
    page.wait_for_selector("#messages tbody tr.damage", timeout=WAIT_MS)
    damage_at = int(page.get_attribute("#messages tbody tr.damage", "data-offset"))
    assert damage_at >= hit.offset
    assert page.query_selector("#messages tbody tr.problem") is not None
    after = [r["offset"] for r in table(page) if r["offset"] > damage_at]
    assert after and set(after) <= {m.offset for m in msgs}  # reading resumed on real frames
    shot(page, "07-damaged")


# ---- live: every panel follows a writer in another process -----------------------------------

WRITER = r"""
import json, sys
import ssfile
path, i, t0 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
streams = ("orders", "prices", "logs")
w = ssfile.open(path, "a")
for line in sys.stdin:
    if line.strip() == "end":
        w.close()  # with the end-of-stream frame
        print("closed", flush=True)
        break
    for _ in range(int(line)):
        w.write(json.dumps({"n": i, "qty": i % 50}).encode(), stream_key=streams[i % 3],
                shard_id=i % 2, timestamp=t0 + i * 20)
        i += 1
    w.flush()
    print("ok", flush=True)
"""

PANELS = """() => {
  const num = (s) => Number(String(s).replace(/[^0-9]/g, ''));
  const dl = Object.fromEntries([...document.querySelectorAll('#summary-fields dt')]
    .map(dt => [dt.textContent, dt.nextElementSibling.textContent]));
  const rows = [...document.querySelectorAll('#messages tbody tr.msg')];
  return {
    ticks: Number(document.querySelector('#overview').dataset.ticks || 0),
    through: Number(document.querySelector('#overview').dataset.through || 0),
    summary: Number(dl['messages']),
    streams: [...document.querySelectorAll('#streams tbody td.count')]
      .reduce((a, td) => a + Number(td.textContent), 0),
    integrity: num(document.querySelector('#integrity-text').textContent.split(' intact')[0]),
    legend: [...document.querySelectorAll('#legend > span')]
      .reduce((a, s) => a + Number(s.textContent.split(' · ').pop()), 0),
    last_row: rows.length ? Number(rows[rows.length - 1].dataset.offset) : null,
    state: document.querySelector('#file-state').textContent,
    eos: dl['EOS'],
  };
}"""


def panels(pg) -> dict:
    """Every panel's message count, read in one go (one JavaScript turn: one drawn state)."""
    return pg.evaluate(PANELS)


def agree(p: dict) -> int:
    """The panels agree with each other; their common count."""
    assert p["summary"] == p["streams"] == p["integrity"] == p["legend"], p
    return p["summary"]


def after_one_refresh(pg) -> dict:
    """The panels once a whole refresh has run after now (two more ticks drawn: the first
    may have asked the server before now)."""
    ticks = panels(pg)["ticks"]
    wait_js(pg, f"Number(document.querySelector('#overview').dataset.ticks) >= {ticks + 2}")
    return panels(pg)


def test_live_every_panel_follows_a_writer_process(browser, page, serve, tmp_path):
    import subprocess
    import sys

    path = tmp_path / "live.ss"
    write(path, 0, 400)
    srv = serve(path)
    page.goto(srv.url)
    wait_ready(page)
    assert agree(panels(page)) == 400
    page.check("#live")
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), "400", str(T0)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for burst in (150, 1, 700, 60):
            writer.stdin.write(f"{burst}\n")
            writer.stdin.flush()
            while True:  # sample while the writer writes: the panels agree at every moment
                p = panels(page)
                agree(p)
                assert p["last_row"] is None or p["last_row"] < p["through"]
                line = writer.stdout.readline()
                if line:
                    break
            assert line.strip() == "ok"
            truth = read_all(path)
            p = after_one_refresh(page)
            assert agree(p) == len(truth), (p, len(truth))
            assert p["last_row"] == truth[-1].offset
        writer.stdin.write("end\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "closed"
    finally:
        writer.stdin.close()
        writer.wait(10)
    truth = read_all(path)
    eos_at = ssfile.verify(path).eos_offsets[0]
    p = after_one_refresh(page)
    assert agree(p) == len(truth) == 400 + 150 + 1 + 700 + 60  # the EOS frame is no message
    assert p["last_row"] == truth[-1].offset
    assert f"end-of-stream frame at offset {eos_at}" in p["state"]
    assert p["eos"] == f"at offset {eos_at} (not a message)"
    assert page.text_content("#integrity") == "integrity: clean"
    shot(page, "08-live-all-panels")

    os.truncate(path, truth[500].offset)  # the file loses what the panels counted: say so
    p = after_one_refresh(page)
    assert "truncated" in p["state"] and agree(p) == 500
    shot(page, "09-live-truncated")


# ---- plots --------------------------------------------------------------------------------------


def sensor_file(path, n: int = 600) -> list:
    with ssfile.open(path, "w", beacon_interval=1024, created_at=T0) as w:
        for i in range(n):
            reading = {"reading": {"temp": 20 + (i % 10) * 0.5}, "items": [{"price": i}]}
            w.write(json.dumps(reading).encode(), stream_key="sensor", timestamp=T0 + i * 100)
            w.write(bytes([0, 255, i % 256]), stream_key="blob", timestamp=T0 + i * 100 + 1)
    return [m for m in read_all(path) if m.stream_key == "sensor"]


def plot_answers(pg) -> list:
    return pg.evaluate("() => window.ssfilePlot.series.map(s => s.answer)")


def wait_plotted(pg, n: int, view: str = "true") -> list:
    wait_js(
        pg,
        f"window.ssfilePlot.series.length === {n} && window.ssfilePlot.series.every("
        "s => s.answer && !['pending', 'preview'].includes(s.answer.state) && s.answer.data) && "
        f"({view})",
    )
    return plot_answers(pg)


def add_series(pg, stream: str, field: str) -> None:
    pg.select_option("#plot-stream", stream)
    pg.fill("#plot-field", field)
    pg.click("#plot-form button")


def test_plot_fields_zoom_and_open_a_point(browser, page, serve, tmp_path):
    path = tmp_path / "sensor.ss"
    msgs = sensor_file(path)
    srv = serve(path)
    page.goto(srv.url)
    wait_ready(page)
    add_series(page, "sensor", "reading.temp")
    add_series(page, "sensor", "items[0].price")
    temp, price = wait_plotted(page, 2)
    assert temp["data"]["exact"] and price["data"]["exact"]
    assert temp["data"]["t"] == [m.timestamp_ms for m in msgs]
    assert temp["data"]["v"] == [json.loads(m.payload)["reading"]["temp"] for m in msgs]
    assert price["data"]["v"] == [float(i) for i in range(len(msgs))]
    assert temp["data"]["offset"] == [m.offset for m in msgs]
    # what is drawn: the first series' colour (anti-aliased) where its point is
    color = page.evaluate(
        """() => { const p = window.ssfilePlot.points.find(q => q.si === 0 && q.x > 200);
        const c = document.querySelector('#plot'), g = c.getContext('2d'), r = devicePixelRatio;
        return Array.from(g.getImageData(Math.round(p.x * r), Math.round(p.y * r), 1, 1).data); }"""
    )
    assert max(abs(a - b) for a, b in zip(color, [0x2F, 0x6F, 0xDE])) <= 8 and color[3] > 100
    shot(page, "10-plot")

    add_series(page, "blob", "x")  # binary payloads: the page says why nothing is drawn
    wait_js(page, "document.querySelector('#plot-state').textContent.includes('binary (not UTF-8')")

    lo, hi = page.eval_on_selector("#plot", "c => [Number(c.dataset.lo), Number(c.dataset.hi)]")
    page.click("#plot-zoom-in")
    page.click("#plot-zoom-in")
    want_lo = lo + (hi - lo) * 3 / 8
    temp = wait_plotted(page, 3, f"window.ssfilePlot.series[0].answer.data.lo === {int(want_lo)}")[
        0
    ]
    zlo, zhi = temp["data"]["lo"], temp["data"]["hi"]
    assert abs((zhi - zlo) - (hi - lo) / 4) <= 2
    inside = [m for m in msgs if zlo <= m.timestamp_ms < zhi]
    assert temp["data"]["t"] == [m.timestamp_ms for m in inside] and len(inside) < len(msgs) / 3
    shot(page, "11-plot-zoomed")

    point = page.evaluate("() => window.ssfilePlot.points.find(q => q.si === 1 && q.x > 400)")
    page.click("#plot", position={"x": point["x"], "y": point["y"]})
    wait_js(
        page,
        "document.querySelector('#inspector-meta dd') && "
        f"document.querySelector('#inspector-meta dd').textContent === '{point['offset']}'",
    )
    first_offset_is(page, point["offset"])
    shot(page, "12-plot-click")


def test_a_preview_is_drawn_first_then_replaced_by_the_exact_plot(
    browser, page, serve, tmp_path, monkeypatch
):
    from ssfile.export import series as series_mod
    from ssfile.view import plots

    path = tmp_path / "sensor.ss"
    msgs = sensor_file(path, 2000)
    monkeypatch.setattr(plots, "PREVIEW_BYTES", 0)  # every file counts as large
    monkeypatch.setattr(series_mod, "PREVIEW_WINDOWS", 12)
    monkeypatch.setattr(series_mod, "PREVIEW_PER_WINDOW", 15)
    gate = threading.Event()

    def held(*args):  # the full read waits until the page has drawn the preview
        gate.wait(30)
        return series_mod.field_series(*args)

    monkeypatch.setattr(plots, "field_series", held)
    srv = serve(path)
    page.goto(srv.url)
    wait_ready(page)
    add_series(page, "sensor", "items[0].price")
    wait_js(page, "document.querySelector('#plot').dataset.preview === '1'")
    first = plot_answers(page)[0]
    assert first["state"] == "preview" and first["preview"]
    d = first["data"]
    assert 12 <= len(d["t"]) <= 12 * 15 < len(msgs)  # a sample ...
    by_offset = {m.offset: m for m in msgs}
    for t, v, off in zip(d["t"], d["v"], d["offset"]):  # ... of real messages ...
        assert by_offset[off].timestamp_ms == t and msgs.index(by_offset[off]) == v
    assert d["t"][-1] - d["t"][0] > 0.8 * (msgs[-1].timestamp_ms - msgs[0].timestamp_ms)
    assert "preview" in page.text_content("#plot-state")
    shot(page, "13-plot-preview")
    gate.set()
    (exact,) = wait_plotted(page, 1)
    assert exact["state"] == "ready" and not exact["preview"] and exact["data"]["exact"]
    assert exact["data"]["v"] == [float(i) for i in range(len(msgs))]
    assert exact["data"]["offset"] == [m.offset for m in msgs]
    wait_js(page, "document.querySelector('#plot').dataset.preview === ''")
    assert "preview" not in page.text_content("#plot-state")
    shot(page, "14-plot-exact")
