// ssfile view: the page behind `ssfile view FILE`.  Plain JavaScript, no build step.
// Every request carries the token from the page URL; all file data is inserted with
// textContent (never as HTML).  The JSON API is documented in viewer/README.md.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const PAGE = 100;
const LIVE_MS = 1000;
const REFRESH_MS = 3000;  // overview refresh when not live
const MAX_LIVE_ROWS = 1000;
const COLORS = ["#2f6fde", "#e8833a", "#3aa35b", "#c43c5a", "#8c5bd6", "#1aa5b8",
                "#b3a125", "#d65ba8", "#5b7b8c", "#7a4b2a", "#4bb38c", "#a33a3a"];
const OTHER_COLOR = "#9aa3ad";

const state = {
  page: null,        // the last /api/messages answer shown
  rows: [],          // table entries: {type: "msg"|"damage"|"problem", offset, data}
  selected: null,    // offset of the inspected message
  view: null,        // inspector tab
  detail: null,      // the last /api/message answer
  timeline: null,
  overview: null,    // the last tally snapshot (every panel is drawn from it)
  ticks: 0,          // overview refreshes drawn (tests wait for "one more")
  streams: new Set(),
  live: false,
  busy: false,
  drag: null,
  selection: null,   // [ms0, ms1] brushed on the timeline
};

const $ = (id) => document.getElementById(id);

// ---- API -------------------------------------------------------------------------------

async function api(route, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else if (v !== null && v !== undefined && v !== "") q.append(k, String(v));
  }
  const res = await fetch(`/api/${route}?${q}`, {headers: {"X-SSFile-Token": TOKEN}, cache: "no-store"});
  let body;
  try { body = await res.json(); } catch (e) { body = {error: res.statusText}; }
  if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
  return body;
}

function filterParams() {
  const streams = [...$("stream-filter").selectedOptions].map((o) => o.value);
  return {stream: streams, shard: $("shard-filter").value.trim()};
}

function showError(err) {
  const box = $("error");
  if (!err) { box.hidden = true; return; }
  box.textContent = String(err.message || err);
  box.hidden = false;
}

// ---- small DOM helpers ---------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k === "title") node.title = v;
    else node.dataset[k] = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n, i = -1;
  do { v /= 1024; i++; } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

function fmtMs(ms) {
  return new Date(ms).toISOString().replace("Z", "").replace("T", " ");
}

function setDl(dl, pairs) {
  dl.replaceChildren();
  for (const [k, v] of pairs) dl.append(el("dt", {}, k), el("dd", {}, v));
}

// ---- the message table ---------------------------------------------------------------------

async function load(params, {keepSelection = false} = {}) {
  if (state.busy) return;
  state.busy = true;
  $("page-state").textContent = "loading…";
  try {
    const page = await fillPage(await api("messages", {...filterParams(), limit: PAGE, ...params}),
                                "before" in params || "end" in params);
    showError(null);
    state.page = page;
    state.rows = rowsOf(page);
    renderTable(false);
    if (!keepSelection) state.selection = null;
    drawTimeline();
    $("table-box").scrollTop = 0;
  } catch (err) {
    showError(err);
    $("page-state").textContent = "";
  } finally {
    state.busy = false;
  }
}

// A request scans a bounded number of bytes: with a rare stream selected a page can come
// back short.  Ask again from where it stopped, a few times, before showing it.
const MAX_CONTINUE = 8;

async function fillPage(page, backward) {
  for (let i = 0; i < MAX_CONTINUE && page.messages.length < PAGE; i++) {
    if (backward ? page.at_start : page.at_end) break;
    const want = {...filterParams(), limit: PAGE - page.messages.length};
    if (backward) {
      const more = await api("messages", {...want, before: page.prev.before});
      page = {...page, messages: more.messages.concat(page.messages), damage: more.damage.concat(page.damage),
              problems: mergeProblems(more.problems, page.problems), prev: more.prev, at_start: more.at_start,
              range: {start: more.range.start, stop: page.range.stop}};
    } else {
      const more = await api("messages", {...want, from: page.next.from});
      page = {...page, messages: page.messages.concat(more.messages), damage: page.damage.concat(more.damage),
              problems: mergeProblems(page.problems, more.problems), next: more.next, at_end: more.at_end,
              ended: more.ended, torn_tail: more.torn_tail, size: more.size,
              range: {start: page.range.start, stop: more.range.stop}};
    }
  }
  return page;
}

function mergeProblems(a, b) { return a === null || b === null ? (a || b) : a.concat(b); }

function rowsOf(page) {
  const rows = page.messages.map((m) => ({type: "msg", offset: m.offset, data: m}));
  for (const d of page.damage) rows.push({type: "damage", offset: d.offset, data: d});
  for (const p of page.problems || []) rows.push({type: "problem", offset: p.offset, data: p});
  rows.sort((a, b) => a.offset - b.offset || (a.type === "msg") - (b.type === "msg"));
  for (const m of page.messages) addStream(m.stream_key);
  return rows;
}

function rowNode(row) {
  if (row.type === "damage") {
    const d = row.data;
    const resumed = d.resume === null ? "nothing readable after it" : `reading resumed at offset ${d.resume}`;
    return el("tr", {class: "damage", offset: row.offset},
      el("td", {}, d.offset), el("td", {title: d.reason}, `⚠ damaged bytes from offset ${d.offset}; ${resumed}: ${d.reason}`));
  }
  if (row.type === "problem") {
    const p = row.data;
    return el("tr", {class: "problem", offset: row.offset},
      el("td", {}, p.offset), el("td", {}, `⚠ verify ${p.severity}: ${p.code}: ${p.message}`));
  }
  const m = row.data;
  const tr = el("tr", {class: "msg", offset: m.offset},
    el("td", {}, m.offset), el("td", {}, m.timestamp), el("td", {class: "stream"}, m.stream_key),
    el("td", {class: "shard"}, m.shard_id), el("td", {}, m.sequence), el("td", {}, m.size),
    el("td", {class: "payload", title: m.preview}, el("span", {class: "kind"}, m.kind), " ", m.preview));
  if (m.offset === state.selected) tr.classList.add("selected");
  return tr;
}

function renderTable(fresh) {
  const body = $("messages").tBodies[0];
  const nodes = state.rows.map(rowNode);
  for (const n of nodes) if (n.cells.length === 2) n.cells[1].colSpan = 6;
  body.replaceChildren(...nodes);
  if (fresh) fresh.forEach((i) => nodes[i] && nodes[i].classList.add("fresh"));
  const p = state.page;
  const msgs = state.rows.filter((r) => r.type === "msg");
  const where = msgs.length
    ? `${msgs.length} messages, offsets ${msgs[0].offset}–${msgs[msgs.length - 1].offset} of ${fmtBytes(p.size)}`
    : "no messages here";
  const ends = [p.at_start ? "start of file" : "", p.at_end ? (p.ended ? "end of stream (EOS)" : "end of file") : ""]
    .filter(Boolean).join(", ");
  const torn = p.torn_tail !== null && p.torn_tail !== undefined ? `; incomplete frame at offset ${p.torn_tail}` : "";
  $("page-state").textContent = `${where}${ends ? " · " + ends : ""}${torn}`;
  $("prev").disabled = !!p.at_start;
  $("first").disabled = !!p.at_start;
  $("next").disabled = !!p.at_end && !state.live;
}

function addStream(key) {
  if (state.streams.has(key)) return;
  state.streams.add(key);
  const sorted = [...state.streams].sort();
  for (const id of ["stream-filter", "seq-stream", "plot-stream"]) {
    const select = $(id);
    const chosen = new Set([...select.selectedOptions].map((o) => o.value));
    select.replaceChildren(...sorted.map((k) => {
      const o = el("option", {}, k);
      o.value = k;
      o.selected = chosen.has(k);
      return o;
    }));
  }
  if (typeof suggestFields === "function" && !$("plot-fields").options.length) suggestFields();
}

// ---- the payload inspector -----------------------------------------------------------------

async function inspect(offset) {
  state.selected = offset;
  for (const tr of $("messages").tBodies[0].rows) {
    tr.classList.toggle("selected", Number(tr.dataset.offset) === offset && tr.classList.contains("msg"));
  }
  try {
    const m = await api("message", {offset});
    state.detail = m;
    state.view = m.payload.kind === "binary" ? "hex" : m.payload.kind;
    renderInspector();
  } catch (err) {
    showError(err);
  }
}

function renderInspector() {
  const m = state.detail;
  $("inspector-empty").hidden = true;
  $("inspector-body").hidden = false;
  const meta = [["offset", m.offset], ["stream", m.stream_key], ["shard", m.shard_id],
                ["sequence", m.sequence], ["time", m.timestamp],
                ["size", `${m.payload.size} bytes (${m.payload.kind})${m.payload.truncated ? ", shown in part" : ""}`]];
  for (const p of m.problems || []) meta.push(["verify", `${p.code}: ${p.message}`]);
  setDl($("inspector-meta"), meta);
  for (const b of document.querySelectorAll(".tabs button")) {
    const v = b.dataset.view;
    b.disabled = (v === "json" && m.payload.json === null) || (v === "text" && m.payload.text === null);
    b.classList.toggle("active", v === state.view);
  }
  const text = {json: m.payload.json, text: m.payload.text, hex: m.payload.hex}[state.view];
  $("payload-view").textContent = text === "" ? "(empty payload)" : text;
  $("payload-view").dataset.view = state.view;
}

// ---- the overview: summary, streams, integrity, timeline (one tally, one request) ---------

// Every panel is drawn from the same /api/summary answer, so they always agree: they
// describe the bytes [0, through) of the file.  Returns true once the tally is current.
async function refreshOverview() {
  let s;
  try { s = await api("summary"); } catch (err) { showError(err); return false; }
  renderOverview(s);
  const o = s.overview;
  return o.state !== "pending" && !o.refreshing;
}

function renderOverview(s) {
  $("file-name").textContent = s.name;
  $("file-size").textContent = fmtBytes(s.size);
  document.title = `${s.name} · ssfile view`;
  if (s.error) showError(`the header cannot be read: ${s.error}`);
  const o = s.overview, r = o.result;
  state.overview = r;
  state.ticks += 1;
  $("overview").dataset.ticks = String(state.ticks);
  renderSummary(s, o, r);
  renderIntegrity(o, r);
  renderFileState(s, o, r);
  if (r) {
    $("overview").dataset.through = String(r.through);
    $("overview").dataset.messages = String(r.messages);
    state.timeline = r.timeline;
    $("timeline-state").textContent = r.timeline.start_ms === null ? "no messages" : "";
    renderLegend();
    drawTimeline();
  } else {
    $("timeline-state").textContent = o.state === "error" ? `timeline failed: ${o.error}` : "counting messages…";
  }
}

function renderSummary(s, o, r) {
  const h = s.header || {};
  const pairs = [["file", s.file], ["size", `${s.size} bytes`], ["created", h.created_at || "?"],
                 ["beacon interval", h.beacon_interval || "?"]];
  if (r) {
    pairs.push(["messages", r.messages], ["beacons", r.beacons],
               ["EOS", r.eos ? `at offset ${r.eos.offset} (not a message)` : "no"]);
    if (r.damaged) pairs.push(["damaged", `${r.damaged} messages with a bad checksum (not counted)`]);
    if (r.eos && (r.eos.after_messages || r.eos.bytes_after)) {
      pairs.push(["after EOS", `${r.eos.after_messages} messages, ${r.eos.bytes_after} bytes no reader sees`]);
    }
    if (r.tail) pairs.push(["not read yet", `${r.tail.size} bytes from offset ${r.tail.offset} (${r.tail.reason})`]);
    pairs.push(["counted up to", `offset ${r.through}`]);
    $("streams").tBodies[0].replaceChildren(...r.streams.map((st) => {
      addStream(st.stream_key);
      return el("tr", {}, el("td", {}, st.stream_key), el("td", {}, st.shard_id), el("td", {class: "count"}, st.messages),
        el("td", {}, `${st.first_sequence}–${st.last_sequence}`), el("td", {}, st.first_timestamp), el("td", {}, st.last_timestamp));
    }));
  }
  setDl($("summary-fields"), pairs);
  $("summary-state").textContent = o.state === "pending" ? "reading the file…"
    : o.state === "error" ? `reading failed: ${o.error}`
    : o.refreshing ? `catching up with the file${o.behind > 0 ? ` (${fmtBytes(o.behind)} to read)` : ""}…` : "";
}

function renderIntegrity(o, r) {
  const badge = $("integrity");
  const text = $("integrity-text");
  if (!r) {
    badge.className = "badge pending";
    badge.textContent = o.state === "error" ? "integrity: unknown" : "integrity: checking…";
    text.textContent = o.state === "error" ? `the check failed: ${o.error}` : "checking every frame…";
    return;
  }
  const d = r.integrity;
  const pending = d.pending.length && d.clean;
  badge.className = `badge ${!d.clean ? "damaged" : pending ? "incomplete" : "clean"}`;
  badge.textContent = !d.clean ? `integrity: DAMAGED (${d.errors} errors)`
    : pending ? "integrity: clean so far · end incomplete" : "integrity: clean";
  const parts = [`${d.intact_messages} intact messages`, `${d.damaged_messages} damaged`, `${r.beacons} beacons`];
  if (d.unreadable_bytes) parts.push(`${d.unreadable_bytes} unreadable bytes in ${d.unreadable.length} range(s)`);
  text.textContent = parts.join(", ") + (d.problems.length ? " · click a problem to go there" : " · no problems found");
  $("problems").replaceChildren(...d.problems.map((p) => {
    const li = el("li", {class: p.pending ? "pending" : p.severity, offset: p.offset},
      `offset ${p.offset}: ${p.code}: ${p.message}`);
    li.addEventListener("click", () => { setLive(false); load({from: p.offset}); });
    return li;
  }));
}

// what happened to the file: EOS, replaced, truncated, an incomplete end
function renderFileState(s, o, r) {
  const lines = [];
  if (r) {
    for (const e of r.events) lines.push({cls: "warn", text: `⚠ ${fmtMs(e.at_ms)}: ${e.message}`});
    if (r.eos) lines.push({cls: "eos", text: `■ the writer ended this file: end-of-stream frame at offset ${r.eos.offset}`});
    else if (r.tail) lines.push({cls: "warn", text: `… ${r.tail.size} bytes at the end are not a whole record yet (being written, or cut short): ${r.tail.reason}`});
  }
  if (o.state === "error") lines.push({cls: "bad", text: `⚠ ${o.error}`});
  const box = $("file-state");
  box.replaceChildren(...lines.map((l) => el("div", {class: l.cls}, l.text)));
  box.hidden = !lines.length;
}

// ---- the timeline --------------------------------------------------------------------------

function colorOf(i, s) { return s.stream_key === null ? OTHER_COLOR : COLORS[i % COLORS.length]; }

function renderLegend() {
  const t = state.timeline;
  $("legend").replaceChildren(...t.streams.map((s, i) => {
    const sw = el("span", {class: "swatch"});
    sw.style.background = colorOf(i, s);
    const name = s.stream_key === null ? `(${s.others} other streams)` : s.stream_key;
    return el("span", {}, sw, `${name} · ${s.total}`);
  }));
  for (const s of t.streams) if (s.stream_key !== null) addStream(s.stream_key);
}

const PAD = {left: 44, right: 8, top: 6, bottom: 18};

function plotWidth(canvas) { return canvas.clientWidth - PAD.left - PAD.right; }

function msAt(x) {
  const t = state.timeline, c = $("timeline");
  const f = Math.min(1, Math.max(0, (x - PAD.left) / plotWidth(c)));
  return Math.floor(t.start_ms + f * (t.end_ms - t.start_ms));
}

function xAt(ms) {
  const t = state.timeline, c = $("timeline");
  return PAD.left + ((ms - t.start_ms) / (t.end_ms - t.start_ms)) * plotWidth(c);
}

function drawTimeline() {
  const c = $("timeline");
  const dpr = window.devicePixelRatio || 1;
  const w = c.clientWidth, h = c.clientHeight;
  if (c.width !== Math.round(w * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
  const g = c.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const t = state.timeline;
  if (!t || t.start_ms === null) return;
  const ph = h - PAD.top - PAD.bottom, pw = plotWidth(c);
  const totals = new Array(t.bins).fill(0);
  for (const s of t.streams) s.counts.forEach((n, i) => { totals[i] += n; });
  const max = Math.max(1, ...totals);
  const bw = pw / t.bins;
  const base = new Array(t.bins).fill(0);
  const chosen = new Set(filterParams().stream);
  t.streams.forEach((s, si) => {
    g.fillStyle = colorOf(si, s);
    g.globalAlpha = chosen.size && !chosen.has(s.stream_key) ? 0.25 : 1;  // dim filtered-out streams
    s.counts.forEach((n, i) => {
      if (!n) return;
      const y0 = (base[i] / max) * ph, y1 = ((base[i] + n) / max) * ph;
      g.fillRect(PAD.left + i * bw, PAD.top + ph - y1, Math.max(bw - 0.5, 0.8), y1 - y0);
      base[i] += n;
    });
  });
  g.globalAlpha = 1;
  drawAxes(g, t, w, h, ph, max, bw);
  drawCursor(g, ph);
}

function drawAxes(g, t, w, h, ph, max, bw) {
  g.strokeStyle = "#c4cad1"; g.fillStyle = "#6b7480"; g.font = "11px system-ui, sans-serif";
  g.beginPath(); g.moveTo(PAD.left, PAD.top + ph + 0.5); g.lineTo(w - PAD.right, PAD.top + ph + 0.5); g.stroke();
  g.textAlign = "right";
  g.fillText(String(max), PAD.left - 4, PAD.top + 9);
  g.fillText("0", PAD.left - 4, PAD.top + ph);
  g.save(); g.translate(10, PAD.top + ph / 2); g.rotate(-Math.PI / 2); g.textAlign = "center";
  g.fillText(`msgs / ${fmtSpan((t.end_ms - t.start_ms) / t.bins)}`, 0, 0); g.restore();
  g.textAlign = "left"; g.fillText(fmtMs(t.start_ms), PAD.left, h - 4);
  g.textAlign = "right"; g.fillText(fmtMs(t.end_ms - 1), w - PAD.right, h - 4);
}

function fmtSpan(ms) {
  if (ms < 1000) return `${Math.max(1, Math.round(ms))} ms`;
  if (ms < 120000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60000).toFixed(1)} min`;
}

function drawCursor(g, ph) {
  const msgs = state.rows.filter((r) => r.type === "msg");
  if (state.selection) {
    const [a, b] = state.selection;
    g.fillStyle = "rgba(47,111,222,0.15)";
    g.fillRect(xAt(a), PAD.top, Math.max(1, xAt(b) - xAt(a)), ph);
  }
  if (state.drag && state.drag.x1 !== null) {
    g.fillStyle = "rgba(47,111,222,0.25)";
    const x0 = Math.min(state.drag.x0, state.drag.x1), x1 = Math.max(state.drag.x0, state.drag.x1);
    g.fillRect(x0, PAD.top, x1 - x0, ph);
  }
  if (!msgs.length) return;
  const first = msgs[0].data.timestamp_ms, last = msgs[msgs.length - 1].data.timestamp_ms;
  g.fillStyle = "rgba(0,0,0,0.12)";
  g.fillRect(xAt(first), PAD.top, Math.max(2, xAt(last) - xAt(first)), ph);
  g.strokeStyle = "#1d2430"; g.lineWidth = 1.5;
  g.beginPath(); g.moveTo(xAt(first), PAD.top); g.lineTo(xAt(first), PAD.top + ph); g.stroke();
  g.lineWidth = 1;
}

function timelineEvents() {
  const c = $("timeline");
  const xOf = (e) => e.clientX - c.getBoundingClientRect().left;
  c.addEventListener("mousedown", (e) => {
    if (!state.timeline || state.timeline.start_ms === null) return;
    state.drag = {x0: xOf(e), x1: null};
  });
  c.addEventListener("mousemove", (e) => {
    if (!state.timeline || state.timeline.start_ms === null) return;
    const x = xOf(e);
    const ms = msAt(x), t = state.timeline;
    const bin = Math.min(t.bins - 1, Math.max(0, Math.floor(((ms - t.start_ms) / (t.end_ms - t.start_ms)) * t.bins)));
    const n = t.streams.reduce((a, s) => a + s.counts[bin], 0);
    $("timeline-hover").textContent = `${fmtMs(ms)} · ${n} messages in this bar`;
    if (state.drag) { state.drag.x1 = x; drawTimeline(); }
  });
  window.addEventListener("mouseup", (e) => {
    if (!state.drag) return;
    const {x0} = state.drag, x1 = xOf(e);
    state.drag = null;
    if (Math.abs(x1 - x0) < 4) {
      state.selection = null;
      seekTime(msAt(x0));
    } else {
      const a = msAt(Math.min(x0, x1)), b = msAt(Math.max(x0, x1));
      state.selection = [a, b];
      seekTime(a);
    }
  });
}

function seekTime(ms) {
  setLive(false);
  $("jump-time").value = fmtMs(ms).replace(" ", "T");
  load({time: ms}, {keepSelection: true});
}

// ---- live mode -----------------------------------------------------------------------------

// One tick: the overview first, then the table up to the overview's `through`, then every
// panel is drawn at once: the table's last row is the last message the panels count.
let liveTimer = null;

function setLive(on) {
  state.live = on;
  $("live").checked = on;
  clearTimeout(liveTimer);
  $("live-state").textContent = on ? "following the end of the file…" : "";
  if (on) {
    const go = state.page && state.page.at_end ? Promise.resolve() : load({end: 1});
    go.then(() => { liveTimer = setTimeout(liveTick, 0); });
  }
  if (state.page) renderTable(false);
}

async function liveTick() {
  if (!state.live) return;
  try {
    const s = await api("summary");
    const r = s.overview.result;
    let added = null;
    if (!state.busy && state.page && r) {
      if (state.overview && r.generation !== state.overview.generation) {
        renderOverview(s);
        await load({end: 1}, {keepSelection: true});  // the file was replaced or truncated: start over
      } else {
        added = await fetchUpTo(r.through);
      }
    }
    renderOverview(s);
    if (added) appendLive(added);
    if (typeof refreshPlots === "function") await refreshPlots();
  } catch (err) {
    showError(err);
  }
  if (state.live) liveTimer = setTimeout(liveTick, LIVE_MS);
}

// the messages from the table's cursor to `through` (at most MAX_LIVE_ROWS)
async function fetchUpTo(through) {
  let page = null;
  let from = state.page.next.from;
  while (from < through) {
    const more = await api("messages", {...filterParams(), limit: MAX_LIVE_ROWS, from, stop: through});
    page = page ? {...more, messages: page.messages.concat(more.messages), damage: page.damage.concat(more.damage),
                   problems: mergeProblems(page.problems, more.problems)} : more;
    if (more.next.from <= from || page.messages.length >= MAX_LIVE_ROWS || more.at_end) break;
    from = more.next.from;
  }
  return page;
}

function appendLive(page) {
  const added = rowsOf(page);
  state.page = {...state.page, next: page.next, size: page.size, at_end: page.at_end,
                ended: page.ended, torn_tail: page.torn_tail};
  $("live-state").textContent = `following · ${fmtBytes(page.size)} · ${new Date().toLocaleTimeString()}`;
  if (!added.length) { renderTable(false); return; }
  const before = state.rows.length;
  state.rows = state.rows.concat(added);
  const drop = Math.max(0, state.rows.length - MAX_LIVE_ROWS);
  if (drop) {
    state.rows = state.rows.slice(drop);
    const firstMsg = state.rows.find((r) => r.type === "msg");
    state.page.at_start = false;
    state.page.prev = {before: firstMsg ? firstMsg.offset : state.rows[0].offset};
  }
  const fresh = [];
  for (let i = before - drop; i < state.rows.length; i++) fresh.push(i);
  renderTable(fresh);
  drawTimeline();
  const box = $("table-box");
  box.scrollTop = box.scrollHeight;
}

// ---- wiring --------------------------------------------------------------------------------

function reloadHere() {
  const first = state.rows.find((r) => r.type === "msg");
  load(first ? {from: first.offset} : {});
}

function wire() {
  $("first").addEventListener("click", () => { setLive(false); load({from: 0}); });
  $("prev").addEventListener("click", () => { setLive(false); load({before: state.page.prev.before}); });
  $("next").addEventListener("click", () => load({from: state.page.next.from}));
  $("last").addEventListener("click", () => load({end: 1}));
  $("stream-filter").addEventListener("change", reloadHere);
  $("shard-filter").addEventListener("change", reloadHere);
  $("clear-filter").addEventListener("click", () => {
    for (const o of $("stream-filter").options) o.selected = false;
    $("shard-filter").value = "";
    reloadHere();
  });
  $("time-form").addEventListener("submit", (e) => {
    e.preventDefault();
    setLive(false);
    load({time: $("jump-time").value.trim()});
  });
  $("seq-form").addEventListener("submit", (e) => {
    e.preventDefault();
    setLive(false);
    load({seq: $("jump-seq").value.trim(), seq_stream: $("seq-stream").value, seq_shard: $("seq-shard").value.trim() || 0});
  });
  $("live").addEventListener("change", (e) => setLive(e.target.checked));
  $("messages").addEventListener("click", (e) => {
    const tr = e.target.closest("tr.msg");
    if (tr) inspect(Number(tr.dataset.offset));
  });
  for (const b of document.querySelectorAll(".tabs button")) {
    b.addEventListener("click", () => { state.view = b.dataset.view; renderInspector(); });
  }
  timelineEvents();
  window.addEventListener("resize", drawTimeline);
}

// the overview until it is current; then now and then (live mode refreshes it every tick)
async function poll() {
  const done = state.live ? true : await refreshOverview();
  setTimeout(poll, done ? REFRESH_MS : 700);
}

wire();
load({});
poll();
