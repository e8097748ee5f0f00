// ssfile view: the page behind `ssfile view FILE`.  Plain JavaScript, no build step.
// Every request carries the token from the page URL; all file data is inserted with
// textContent (never as HTML).  The JSON API is documented in viewer/README.md.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const PAGE = 100;
const LIVE_MS = 1000;
const REFRESH_MS = 3000;
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
  for (const id of ["stream-filter", "seq-stream"]) {
    const select = $(id);
    const chosen = new Set([...select.selectedOptions].map((o) => o.value));
    select.replaceChildren(...sorted.map((k) => {
      const o = el("option", {}, k);
      o.value = k;
      o.selected = chosen.has(k);
      return o;
    }));
  }
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

// ---- summary and integrity -----------------------------------------------------------------

async function refreshSummary() {
  let s;
  try { s = await api("summary"); } catch (err) { showError(err); return false; }
  $("file-name").textContent = s.name;
  $("file-size").textContent = fmtBytes(s.size);
  document.title = `${s.name} · ssfile view`;
  if (s.error) showError(`the header cannot be read: ${s.error}`);
  renderSummary(s);
  renderIntegrity(s.integrity);
  return s.summary.state !== "pending" && s.integrity.state !== "pending" && !s.summary.refreshing && !s.integrity.refreshing;
}

function renderSummary(s) {
  const h = s.header || {};
  const sum = s.summary.result;
  const pairs = [["file", s.file], ["size", `${s.size} bytes`], ["created", h.created_at || "?"],
                 ["beacon interval", h.beacon_interval || "?"]];
  if (sum) {
    pairs.push(["messages", sum.messages], ["beacons", sum.beacons],
               ["EOS", sum.eos ? `yes${sum.bytes_after_eos ? ` (${sum.bytes_after_eos} bytes after it)` : ""}` : "no"]);
    if (sum.torn_tail_bytes) {
      pairs.push(["read up to", `offset ${s.size - sum.torn_tail_bytes}: a frame cut short there (${sum.torn_tail_bytes} bytes after it; see Integrity)`]);
    }
    if (sum.error) pairs.push(["stopped", sum.error]);
    $("streams").tBodies[0].replaceChildren(...sum.streams.map((st) => {
      addStream(st.stream_key);
      return el("tr", {}, el("td", {}, st.stream_key), el("td", {}, st.shard_id), el("td", {}, st.messages),
        el("td", {}, `${st.first_sequence}–${st.last_sequence}`), el("td", {}, st.first_timestamp), el("td", {}, st.last_timestamp));
    }));
  }
  setDl($("summary-fields"), pairs);
  const st = s.summary;
  $("summary-state").textContent = st.state === "pending" ? "reading the file…"
    : st.state === "error" ? `summary failed: ${st.error}` : st.refreshing ? "updating…" : "";
}

function renderIntegrity(st) {
  const badge = $("integrity");
  const text = $("integrity-text");
  if (st.state !== "ready") {
    badge.className = "badge pending";
    badge.textContent = st.state === "error" ? "integrity: unknown" : "integrity: checking…";
    text.textContent = st.state === "error" ? `verify failed: ${st.error}` : "verify is running…";
    return;
  }
  const d = st.result;
  const errors = d.problems.filter((p) => p.severity === "error").length;
  badge.className = `badge ${d.clean ? "clean" : "damaged"}`;
  badge.textContent = d.clean ? "integrity: clean" : `integrity: DAMAGED (${errors}${d.problems_total > d.problems.length ? "+" : ""} errors)`;
  const s = d.summary;
  const parts = [`${s.intact_messages} intact messages`, `${s.damaged_messages} damaged`, `${s.beacons} beacons`];
  if (s.unreadable_bytes) parts.push(`${s.unreadable_bytes} unreadable bytes in ${s.unreadable.length} range(s)`);
  text.textContent = parts.join(", ") + (d.problems.length ? " · click a problem to go there" : " · no problems found");
  $("problems").replaceChildren(...d.problems.map((p) => {
    const li = el("li", {class: p.severity, offset: p.offset}, `offset ${p.offset}: ${p.code}: ${p.message}`);
    li.addEventListener("click", () => load({from: p.offset}));
    return li;
  }));
}

// ---- the timeline --------------------------------------------------------------------------

async function refreshTimeline() {
  let t;
  try { t = await api("timeline"); } catch (err) { showError(err); return false; }
  const info = $("timeline-state");
  if (t.state === "ready") {
    state.timeline = t.result;
    info.textContent = t.result.start_ms === null ? "no messages" : "";
    renderLegend();
    drawTimeline();
  } else {
    info.textContent = t.state === "error" ? `timeline failed: ${t.error}` : "counting messages…";
  }
  return t.state !== "pending" && !t.refreshing;
}

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

let liveTimer = null;

function setLive(on) {
  state.live = on;
  $("live").checked = on;
  clearTimeout(liveTimer);
  $("live-state").textContent = on ? "following the end of the file…" : "";
  if (on) {
    const go = state.page && state.page.at_end ? Promise.resolve() : load({end: 1});
    go.then(() => { liveTimer = setTimeout(liveTick, LIVE_MS); });
  }
  if (state.page) renderTable(false);
}

async function liveTick() {
  if (!state.live) return;
  try {
    if (!state.busy && state.page) {
      const page = await api("messages", {...filterParams(), limit: MAX_LIVE_ROWS, from: state.page.next.from});
      appendLive(page);
    }
  } catch (err) {
    showError(err);
  }
  if (state.live) liveTimer = setTimeout(liveTick, LIVE_MS);
}

function appendLive(page) {
  const added = rowsOf(page);
  state.page = {...state.page, next: page.next, size: page.size, at_end: page.at_end,
                ended: page.ended, torn_tail: page.torn_tail};
  $("file-size").textContent = fmtBytes(page.size);
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

// poll whole-file jobs until done; in live mode keep refreshing them
async function poll(fn) {
  const done = await fn();
  setTimeout(() => poll(fn), done && !state.live ? REFRESH_MS * 3 : done ? REFRESH_MS : 700);
}

wire();
load({});
poll(refreshSummary);
poll(refreshTimeline);
