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
