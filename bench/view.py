"""Issue-9 benchmarks: ``ssfile view`` on a >= 1 GiB file.

    .venv/bin/python bench/view.py            # markdown on stdout
    .venv/bin/python bench/view.py --quick    # fewer samples

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
    done: dict[str, float] = {}
    while len(done) < 3 and time.perf_counter() - v.t0 < timeout:
        s = v.api("summary")
        t = v.api("timeline")
        for name, st in (("summary", s["summary"]), ("timeline", t), ("integrity", s["integrity"])):
            if name not in done and st["state"] != "pending":
                done[name] = time.perf_counter() - v.t0
        time.sleep(0.2)
    return done


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
    args = ap.parse_args()
    path = big_file(0.1 if args.quick else 1.05)  # the file bench/seek.py uses
    size = os.path.getsize(path)
    with ssfile.open(path) as r:
        r.seek_end()
    count = int(os.path.basename(path).split("-")[1].split(".")[0])
    n = 10 if args.quick else 40

    cold = [first_page_http(path) for _ in range(3)]
    v = Viewer(path)
    try:
        during = seek_round_trips(v, 5, size, count)
        jobs = jobs_done(v)
        after = seek_round_trips(v, n, size, count)
    finally:
        v.close()
    br = browser_numbers(path, 5 if args.quick else 15)

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
