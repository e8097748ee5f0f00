"""Issues 9 and 20: ``ssfile view`` on a >= 1 GiB file, a growing file, a 10 M-message plot.

    .venv/bin/python bench/view.py                  # everything, markdown on stdout
    .venv/bin/python bench/view.py --quick          # smaller files, fewer samples
    .venv/bin/python bench/view.py --only live,plot # some sections (pages, live, plot)

Issue 20 (``live``, ``plot``):

* the live refresh cost per tick: a copy of the 1 GiB file grows by 1 MB/s (a writer
  process appends 1 KiB messages and flushes every 100 ms); once a second the bench asks
  ``/api/summary`` (what the page's live tick asks first: it reads the new bytes and
  returns every panel) and times it; the reference, in the same run, is what a rescan per
  tick would cost: ``to_numpy(payload=False, check_crc=False)`` and ``ssfile.verify`` of the
  whole file;
* the time to the first plot on 10,000,000 messages: the first ``/api/series`` of
  ``reading.temp`` (a preview on a large file), then polls until the exact series is ready
  (with a table page each time, to see the server answer meanwhile), then the requests of
  a session (everything, zooms, pans, at 1200 px); the reference is ``to_numpy`` of the
  same file, and the field extraction alone, C against Python, on its first 2 M payloads.
  The plot file is made once into ``--plot-dir`` (default /tmp/ssfile-bench) and reused.

* time to the first page: ``ssfile view FILE --no-browser`` started as a process, then the
  page, its assets and the first ``/api/messages`` fetched over HTTP; and in headless
  Chromium, navigation to the first table row drawn;
* seek round trips over one keep-alive HTTP connection: jump to a time, to a sequence, a
  page forward from a random offset, a page backward, the last page; measured while the
  background jobs run and after they finish;
* a timeline click in Chromium until the new first row is drawn (timed inside the page);
* how long the background jobs (summary, timeline, verify) take on the file.

The file is bench/seek.py's (1 KiB payloads over 4 streams, default 1 MiB beacon interval),
generated once into bench/data/; it was just written or read, so it is in the page cache.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from seek import T0, big_file  # noqa: E402

import ssfile  # noqa: E402

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


class Viewer:
    """``ssfile view FILE --no-browser`` as a child process."""

    def __init__(self, path: str) -> None:
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ssfile", "view", path, "--no-browser"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        line = self.proc.stdout.readline()
        self.url = line.split(" at ")[1].split()[0]
        parts = urllib.parse.urlsplit(self.url)
        self.port = parts.port
        self.token = urllib.parse.parse_qs(parts.query)["token"][0]
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def get(self, path: str) -> bytes:
        self.conn.request("GET", path, headers={"X-SSFile-Token": self.token})
        resp = self.conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{path}: {resp.status} {body[:200]!r}")
        return body

    def api(self, route: str, **query: object) -> dict:
        return json.loads(self.get(f"/api/{route}?{urllib.parse.urlencode(query)}"))

    def close(self) -> None:
        self.conn.close()
        self.proc.terminate()
        self.proc.wait(10)


def first_page_http(path: str) -> dict[str, float]:
    v = Viewer(path)
    try:
        listening = time.perf_counter() - v.t0
        v.get(f"/?token={v.token}")
        v.get(f"/app.js?token={v.token}")
        v.get(f"/style.css?token={v.token}")
        t = time.perf_counter()
        page = v.api("messages", limit=100)
        api_ms = (time.perf_counter() - t) * 1000
        assert len(page["messages"]) == 100
        return {
            "listening_s": listening,
            "first_page_s": time.perf_counter() - v.t0,
            "api_ms": api_ms,
        }
    finally:
        v.close()


def stats(samples: list[float]) -> tuple[float, float, float]:
    s = sorted(samples)
    return statistics.median(s), s[max(0, int(len(s) * 0.95) - 1)], s[-1]


def seek_round_trips(v: Viewer, n: int, size: int, count: int) -> dict[str, list[float]]:
    rng = random.Random(9)
    out: dict[str, list[float]] = {
        k: [] for k in ("time", "sequence", "forward", "backward", "end")
    }
    streams = ["orders", "prices", "quotes", "trades"]
    for _ in range(n):
        for kind in out:
            if kind == "time":
                q = {"time": T0 + rng.randrange(count)}
            elif kind == "sequence":
                q = {"seq": rng.randrange(1, count // 4), "seq_stream": rng.choice(streams)}
            elif kind == "forward":
                q = {"from": rng.randrange(128, size)}
            elif kind == "backward":
                q = {"before": rng.randrange(128, size)}
            else:
                q = {"end": 1}
            t = time.perf_counter()
            page = v.api("messages", limit=100, **q)
            out[kind].append((time.perf_counter() - t) * 1000)
            assert page["messages"], (kind, q)
    return out


def jobs_done(v: Viewer, timeout: float = 600) -> dict[str, float]:
    """When the overview (summary, streams, integrity, timeline: one tally) was ready."""
    while time.perf_counter() - v.t0 < timeout:
        o = v.api("summary")["overview"]
        if o["state"] != "pending" and not o["refreshing"]:
            return {"overview (summary, streams, integrity, timeline)": time.perf_counter() - v.t0}
        time.sleep(0.2)
    return {}


# ---- issue 20: the live refresh cost per tick --------------------------------------------------

GROWER = r"""
import sys, time
import ssfile
path, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
payload = bytes(range(256)) * 4  # 1 KiB
per_flush = max(1, rate // 10 // 1065)
w = ssfile.open(path, "a")
t0 = time.monotonic()
i = 0
while time.monotonic() - t0 < seconds:
    for _ in range(per_flush):
        w.write(payload, stream_key=("orders", "prices", "quotes", "trades")[i & 3])
        i += 1
    w.flush()
    time.sleep(max(0.0, t0 + i * 1065 / rate - time.monotonic()))
w.close()
print(i)
"""


def live_ticks(path: str, ticks: int, rate: int = 1_000_000) -> dict[str, object]:
    """A copy of ``path`` grows by ``rate`` bytes/s; /api/summary once a second."""
    import shutil

    copy = os.path.join(os.path.dirname(path), "live-copy.ss")
    shutil.copyfile(path, copy)
    eos = ssfile.verify(copy).eos_offsets
    if eos:  # a writer appending would remove the EOS: the viewer would (rightly) start over
        os.truncate(copy, eos[0])
    t = time.perf_counter()
    ssfile.to_numpy(copy, payload=False, check_crc=False)
    rescan_numpy = time.perf_counter() - t
    t = time.perf_counter()
    ssfile.verify(copy)
    rescan_verify = time.perf_counter() - t
    v = Viewer(copy)
    try:
        first = jobs_done(v)
        grower = subprocess.Popen(
            [sys.executable, "-c", GROWER, copy, str(rate), str(ticks + 2)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        costs, grown, inline = [], [], 0
        before = v.api("summary")["overview"]["result"]["through"]
        time.sleep(1.0)
        for _ in range(ticks):
            t = time.perf_counter()
            o = v.api("summary")["overview"]
            costs.append((time.perf_counter() - t) * 1000)
            inline += not o["refreshing"]
            through = o["result"]["through"]
            grown.append(through - before)
            before = through
            time.sleep(max(0.0, 1.0 - (time.perf_counter() - t)))
        written = int(grower.stdout.read() or 0)
        grower.wait(30)
    finally:
        v.close()
        os.remove(copy)
    return {
        "size": os.path.getsize(path),
        "first_s": next(iter(first.values()), float("nan")),
        "costs_ms": costs,
        "grown": grown,
        "inline": inline,
        "written": written,
        "rescan_numpy_s": rescan_numpy,
        "rescan_verify_s": rescan_verify,
    }


# ---- issue 20: the first plot on 10,000,000 messages -------------------------------------------


def plot_file(n: int, where: str) -> str:
    """``n`` messages of one stream, JSON ``{"i": .., "reading": {"temp": ..}}`` (~40 bytes),
    generated once into ``where`` (10 M messages take minutes) and reused."""
    path = os.path.join(where, f"plot-{n}.ss")
    if os.path.exists(path):
        return path
    os.makedirs(where, exist_ok=True)
    tmp = path + ".tmp"
    with ssfile.open(tmp, "w", created_at=T0) as w:
        for i in range(n):
            temp = 20 + (i % 1000) / 100 + (i // 100_000)
            w.write(
                b'{"i":%d,"reading":{"temp":%.2f}}' % (i, temp),
                stream_key="sensor",
                timestamp=T0 + i,
            )
    os.replace(tmp, path)
    return path


def extractor_ratio(path: str, n: int) -> dict[str, float]:
    """The field extraction alone on the file's payloads: C (json_field) vs Python (json's
    scanner, the round-1 path) on the first ``n`` payloads."""
    import numpy as np

    from ssfile.export import series
    from ssfile.export.columns import Selection, scan

    got = scan(path, payload="buffer", select=Selection(streams=frozenset({"sensor"})))
    lengths = got.columns["length"][:n]
    buf = got.payloads[0][: int(lengths.sum())]
    keys = series.parse_path("reading.temp")
    t = time.perf_counter()
    v, s = series.field_values(buf, lengths, keys)
    c_s = time.perf_counter() - t
    bounds = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    t = time.perf_counter()
    pv, ps = series._values_py(buf.tobytes(), bounds, keys, np)
    py_s = time.perf_counter() - t
    assert (s == ps).all() and (v == pv).all()
    return {"c_s": c_s, "py_s": py_s, "n": n}


def plot_session(path: str, n: int) -> dict[str, object]:
    t = time.perf_counter()
    cols = ssfile.to_numpy(path, payload=False, check_crc=False)
    ref_headers = time.perf_counter() - t
    assert len(cols) == n
    t = time.perf_counter()
    ssfile.to_numpy(path, streams="sensor", payload="bytes")
    ref_payloads = time.perf_counter() - t
    v = Viewer(path)
    try:
        q = {"stream": "sensor", "field": "reading.temp", "width": 1200}
        t = time.perf_counter()
        got = v.api("series", **q)
        first = time.perf_counter() - t
        first_state, first_points = got["state"], len(got.get("data", {}).get("t", []))
        first_sampled = got.get("messages", 0)
        polls, pages = [], []  # what the page asks meanwhile: the plot, a table page
        while got["state"] in ("pending", "preview"):
            time.sleep(0.2)
            s = time.perf_counter()
            got = v.api("series", **q)
            polls.append((time.perf_counter() - s) * 1000)
            s = time.perf_counter()
            v.api("messages", limit=100, **{"from": 128})
            pages.append((time.perf_counter() - s) * 1000)
        exact = time.perf_counter() - t
        assert got["values"] == n, got.get("error")
        session: dict[str, list[float]] = {"everything": [], "zoom 1/10": [], "zoom 1/1000": []}
        session["pan (1/10 wide)"] = []
        rng = random.Random(5)
        for _ in range(5):
            for kind in session:
                if kind == "everything":
                    extra = {}
                else:
                    span = n // (1000 if "1000" in kind else 10)
                    lo = T0 + rng.randrange(n - span)
                    extra = {"from_ms": lo, "to_ms": lo + span}
                t = time.perf_counter()
                got = v.api("series", **q, **extra)
                session[kind].append((time.perf_counter() - t) * 1000)
                assert got["state"] == "ready" and got["data"]["t"]
    finally:
        v.close()
    return {
        "first_s": first,
        "first_state": first_state,
        "first_points": first_points,
        "first_sampled": first_sampled,
        "exact_s": exact,
        "polls_ms": polls,
        "pages_ms": pages,
        "session_ms": session,
        "ref_headers_s": ref_headers,
        "ref_payloads_s": ref_payloads,
        "points": len(got["data"]["t"]),
    }


# a click on the timeline, timed inside the page: mouse events -> new first row -> next frame
CLICK_JS = """async (x) => {
  const c = document.getElementById('timeline'), r = c.getBoundingClientRect();
  const body = document.querySelector('#messages tbody');
  const first = () => { const f = body.querySelector('tr.msg'); return f && f.dataset.offset; };
  const before = first(), t0 = performance.now();
  const done = new Promise((resolve, reject) => {
    const mo = new MutationObserver(() => {
      if (first() !== before) { mo.disconnect(); requestAnimationFrame(() => resolve(performance.now() - t0)); }
    });
    mo.observe(body, {childList: true});
    setTimeout(() => reject(new Error('no new page')), 5000);
  });
  const at = {clientX: r.left + x, clientY: r.top + 60, bubbles: true};
  c.dispatchEvent(new MouseEvent('mousedown', at));
  window.dispatchEvent(new MouseEvent('mouseup', at));
  return await done;
}"""


def browser_numbers(path: str, clicks: int) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        v = Viewer(path)
        try:
            t = time.perf_counter()
            page.goto(v.url)
            page.wait_for_selector("#messages tbody tr.msg")
            nav = time.perf_counter() - t
            from_start = time.perf_counter() - v.t0
            page.wait_for_selector("#legend span.swatch", timeout=600_000)
            times = []
            width = page.eval_on_selector("#timeline", "c => c.clientWidth")
            rng = random.Random(3)
            for _ in range(clicks):
                times.append(page.evaluate(CLICK_JS, rng.randrange(50, width - 10)))
        finally:
            v.close()
            b.close()
    return {"nav_s": nav, "from_start_s": from_start, "click_ms": times}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="pages,live,plot", help="sections: pages, live, plot")
    ap.add_argument(
        "--plot-dir", default="/tmp/ssfile-bench", help="where the plot file is made once"
    )
    args = ap.parse_args()
    only = set(args.only.split(","))
    path = big_file(0.1 if args.quick else 1.05)  # the file bench/seek.py uses
    if "pages" in only:
        pages(path, args.quick)
    if "live" in only:
        live = live_ticks(path, 10 if args.quick else 30)
        costs = live["costs_ms"]
        med = statistics.median(costs)
        print(
            f"\nlive: {os.path.basename(path)} ({live['size']:,} bytes) copied, growing by "
            f"1 MB/s ({live['written']:,} messages of 1 KiB appended); overview first ready "
            f"after {live['first_s']:.1f} s\n"
        )
        print("| per tick | median | p95 | max |\n|---|---:|---:|---:|")
        print("| `/api/summary` round trip, ms | {:.1f} | {:.1f} | {:.1f} |".format(*stats(costs)))
        grown = [g / 1e6 for g in live["grown"]]
        print("| bytes counted per tick, MB | {:.2f} | {:.2f} | {:.2f} |".format(*stats(grown)))
        print(
            f"\nread in the server: {live['inline']} of {len(costs)} ticks; a rescan per tick "
            f"would cost `to_numpy(payload=False, check_crc=False)` {live['rescan_numpy_s']:.2f} s "
            f"or `verify` {live['rescan_verify_s']:.2f} s: median tick / to_numpy rescan = "
            f"{med / 1000 / live['rescan_numpy_s']:.4f}, / verify rescan = "
            f"{med / 1000 / live['rescan_verify_s']:.4f}"
        )
    if "plot" in only:
        n = 1_000_000 if args.quick else 10_000_000
        path = plot_file(n, args.plot_dir)
        print(f"\nload before the plot run: {os.getloadavg()[0]:.2f} (1 min)")
        p = plot_session(path, n)
        print(f"\nplot: {n:,} messages, `reading.temp` at 1200 px ({p['points']} points drawn)\n")
        print("| request | ms |\n|---|---:|")
        print(
            f"| first request: answered with state `{p['first_state']}` ({p['first_points']} "
            f"points from {p['first_sampled']:,} sampled messages) | {p['first_s'] * 1000:.0f} |"
        )
        print(
            f"| first request -> exact series ready (polled every 0.2 s) | {p['exact_s'] * 1000:.0f} |"
        )
        if p["polls_ms"]:
            print(
                "| meanwhile: `/api/series` poll (median / max of {}) | {:.1f} / {:.1f} |".format(
                    len(p["polls_ms"]), statistics.median(p["polls_ms"]), max(p["polls_ms"])
                )
            )
            print(
                "| meanwhile: `/api/messages?limit=100` (median / max) | {:.1f} / {:.1f} |".format(
                    statistics.median(p["pages_ms"]), max(p["pages_ms"])
                )
            )
        for kind, samples in p["session_ms"].items():
            print(
                f"| then: {kind} (median / max of 5) | {statistics.median(samples):.1f} / "
                f"{max(samples):.1f} |"
            )
        print(
            f"\nreference, same run: `to_numpy(payload=False, check_crc=False)` "
            f"{p['ref_headers_s']:.2f} s, `to_numpy(streams='sensor', payload='bytes')` "
            f"{p['ref_payloads_s']:.2f} s; first plot / to_numpy(payload='bytes') = "
            f"{p['first_s'] / p['ref_payloads_s']:.3f}, exact plot / to_numpy(payload='bytes') = "
            f"{p['exact_s'] / p['ref_payloads_s']:.2f}"
        )
        x = extractor_ratio(path, min(n, 2_000_000))
        print(
            f"\nfield extraction alone, first {x['n']:,} payloads: C `json_field` {x['c_s']:.3f} s, "
            f"Python (json's scanner) {x['py_s']:.2f} s: Python / C = {x['py_s'] / x['c_s']:.0f}x"
        )
        print(f"\nload after the plot run: {os.getloadavg()[0]:.2f} (1 min)")


def pages(path: str, quick: bool) -> None:
    size = os.path.getsize(path)
    with ssfile.open(path) as r:
        r.seek_end()
    count = int(os.path.basename(path).split("-")[1].split(".")[0])
    n = 10 if quick else 40

    cold = [first_page_http(path) for _ in range(3)]
    v = Viewer(path)
    try:
        during = seek_round_trips(v, 5, size, count)
        jobs = jobs_done(v)
        after = seek_round_trips(v, n, size, count)
    finally:
        v.close()
    br = browser_numbers(path, 5 if quick else 15)
    print(f"file: {os.path.basename(path)}, {size:,} bytes, {count:,} messages\n")
    print("| first page | seconds (best of 3 / worst) |\n|---|---|")
    print(
        f"| `ssfile view` process start -> listening | {min(c['listening_s'] for c in cold):.3f} / {max(c['listening_s'] for c in cold):.3f} |"
    )
    print(
        f"| process start -> page + assets + first `/api/messages` (HTTP) | {min(c['first_page_s'] for c in cold):.3f} / {max(c['first_page_s'] for c in cold):.3f} |"
    )
    print(
        f"| first `/api/messages?limit=100` alone | {min(c['api_ms'] for c in cold) / 1000:.4f} / {max(c['api_ms'] for c in cold) / 1000:.4f} |"
    )
    print(f"| Chromium: navigation -> first row drawn | {br['nav_s']:.3f} |")
    print(f"| Chromium: process start -> first row drawn | {br['from_start_s']:.3f} |")
    print(
        "\n| seek round trip (HTTP, limit=100) | median ms | p95 ms | max ms |\n|---|---|---|---|"
    )
    for kind, samples in after.items():
        print("| {} | {:.1f} | {:.1f} | {:.1f} |".format(kind, *stats(samples)))
    for kind in ("time", "forward"):
        print(
            "| {} (while the background jobs run) | {:.1f} | {:.1f} | {:.1f} |".format(
                kind, *stats(during[kind])
            )
        )
    print(
        "| Chromium: timeline click -> new first row drawn | {:.1f} | {:.1f} | {:.1f} |".format(
            *stats(br["click_ms"])
        )
    )
    print("\n| background job | done after (s, from process start) |\n|---|---|")
    for name, t in jobs.items():
        print(f"| {name} | {t:.1f} |")


if __name__ == "__main__":
    main()
